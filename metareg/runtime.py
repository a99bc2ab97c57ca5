"""The host runtime: what machine a run is on, and huge pages for XLA:CPU's step memory.

`machine_info` goes into every results.json: XLA compiles for the host CPU, so runs are
bit-identical only on the same CPU features and JAX build; the record says which.

XLA:CPU allocates one step's temporaries as a single buffer that glibc maps afresh each step,
page-faulting it in 4 KiB at a time; glibc's tunable `glibc.malloc.hugetlb=1` backs it with huge
pages instead. glibc reads tunables only at start, so `python -m metareg.main` re-executes itself
once with it (`METAREG_CPU_MALLOC=default` opts out); in a notebook, start Jupyter with
GLIBC_TUNABLES=glibc.malloc.hugetlb=1. Measurements and the rejected alternative: docs/scaling.md,
"Host memory". On a GPU the step's buffers live on the device, so the re-exec is skipped there
(`accelerator_expected`, decided before JAX is imported); `backend_choices` says, for the run's log
and results.json, which per-backend choice each "auto" setting resolved to.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path

HUGETLB_TUNABLE = "glibc.malloc.hugetlb=1"
OPT_OUT_ENV = "METAREG_CPU_MALLOC"


def machine_info() -> dict[str, str]:
    """The CPU model, OS, Python and JAX builds and the accelerator kind of this process."""
    import jax  # here, not at module level: the malloc re-exec runs before JAX is imported
    import jaxlib

    cpu, flags = platform.processor() or platform.machine(), ""
    try:  # Linux; the flags (AVX-512 etc.) are what XLA's CPU code generation depends on
        info = dict(
            line.split(":", 1)
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if ":" in line
        )
        info = {k.strip(): v.strip() for k, v in info.items()}
        cpu, flags = info.get("model name", cpu), info.get("flags", "")
    except OSError:
        pass
    digest = hashlib.sha256(" ".join(sorted(flags.split())).encode()).hexdigest()
    return {
        "cpu": cpu,
        "cpu_flags_sha256": digest[:16],
        "cpu_count": str(os.cpu_count()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "device_kind": jax.devices()[0].device_kind,
    }


ACCELERATOR_PLATFORMS = ("cuda", "gpu", "rocm", "tpu")


def accelerator_expected(env: Mapping[str, str] | None = None) -> bool:
    """Whether JAX will pick an accelerator, decided without importing it (the malloc re-exec must
    happen first): JAX_PLATFORMS's first entry when set, otherwise a CUDA plugin installed
    (`make install GPU=1`) and an NVIDIA driver present."""
    env = os.environ if env is None else env
    platforms = env.get("JAX_PLATFORMS", "").strip()
    if platforms:
        return platforms.split(",")[0].strip().lower() in ACCELERATOR_PLATFORMS
    plugin = any(
        importlib.util.find_spec(name) is not None
        for name in ("jax_cuda12_plugin", "jax_cuda13_plugin")
    )
    return plugin and Path("/dev/nvidiactl").exists()


def tuned_malloc_env(env: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """`env` (default os.environ) with the huge-page tunable added to GLIBC_TUNABLES.

    None when there is nothing to add: already there, opted out (METAREG_CPU_MALLOC=default), not
    a glibc system, or an accelerator run (`accelerator_expected`: the buffers it is for are on
    the device)."""
    env = dict(os.environ if env is None else env)
    setting = env.get(OPT_OUT_ENV, "tuned")
    if setting not in ("tuned", "default"):
        raise ValueError(
            f"{OPT_OUT_ENV}={setting!r}: use 'tuned' (the default) or 'default' (leave glibc's "
            "malloc as it is)"
        )
    if setting == "default" or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    if accelerator_expected(env):
        return None
    tunables = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb=" in tunables:  # set by the user (any value) or by an earlier re-exec
        return None
    env["GLIBC_TUNABLES"] = f"{tunables}:{HUGETLB_TUNABLE}" if tunables else HUGETLB_TUNABLE
    return env


def reexec_with_tuned_malloc() -> None:
    """Re-execute this process's command line with the tunable in its environment (does not return),
    or return at once when `tuned_malloc_env` has nothing to add. Call it before any real work."""
    env = tuned_malloc_env()
    if env is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, sys.orig_argv, env)


def host_malloc() -> str:
    """ "hugetlb" when this process runs with the huge-page tunable, else "default"."""
    return "hugetlb" if HUGETLB_TUNABLE in os.environ.get("GLIBC_TUNABLES", "") else "default"


def backend_choices(model_name: str, conv_impl: str, task_chunk: int) -> dict[str, str]:
    """What this run's per-backend settings resolved to: the backend and device, the convolution
    (`model.conv_impl="auto"`: im2col on CPU, XLA's convolution elsewhere), the task axis
    (`task_chunk`: 0 vmap, -1 an unrolled loop, n > 0 groups of n) and the host malloc."""
    import jax

    from metareg.models.conv import resolve_conv_impl

    conv = conv_impl if model_name != "mlp" else None
    return {
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        "conv_impl": (
            f"{resolve_conv_impl(conv)} ({conv})" if conv is not None else "no convolution"
        ),
        "task_axis": {0: "vmap", -1: "unrolled loop"}.get(task_chunk, f"groups of {task_chunk}"),
        "host_malloc": host_malloc(),
    }
