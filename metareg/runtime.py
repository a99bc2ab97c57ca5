"""The host runtime: what machine a run is on, and huge pages for XLA:CPU's step memory.

`machine_info` goes into every results.json: XLA compiles for the host CPU, so runs are
bit-identical only on the same CPU features and JAX build; the record says which.

XLA:CPU allocates one step's temporaries as a single buffer that glibc maps afresh each step,
page-faulting it in 4 KiB at a time; glibc's tunable `glibc.malloc.hugetlb=1` backs it with huge
pages instead. glibc reads tunables only at start, so `python -m metareg.main` re-executes itself
once with it (`METAREG_CPU_MALLOC=default` opts out); in a notebook, start Jupyter with
GLIBC_TUNABLES=glibc.malloc.hugetlb=1. Measurements and the rejected alternative: docs/scaling.md,
"Host memory".
"""

from __future__ import annotations

import hashlib
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


def tuned_malloc_env(env: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """`env` (default os.environ) with the huge-page tunable added to GLIBC_TUNABLES.

    None when there is nothing to add: already there, opted out (METAREG_CPU_MALLOC=default), or
    not a glibc system."""
    env = dict(os.environ if env is None else env)
    setting = env.get(OPT_OUT_ENV, "tuned")
    if setting not in ("tuned", "default"):
        raise ValueError(
            f"{OPT_OUT_ENV}={setting!r}: use 'tuned' (the default) or 'default' (leave glibc's "
            "malloc as it is)"
        )
    if setting == "default" or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
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
