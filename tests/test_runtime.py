"""metareg.runtime: the huge-page malloc tunable reaches the processes we start, and it works.

The page-fault measurements run in fresh interpreters: glibc reads its tunables at process start.
"""

import os
import platform
import subprocess
import sys

import pytest

from metareg.runtime import (
    HUGETLB_TUNABLE,
    accelerator_expected,
    backend_choices,
    tuned_malloc_env,
)
from tests.conftest import FULL_PIPELINE, ROOT

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# A jitted function whose temporaries XLA:CPU must materialize (~64 MB each, far above glibc's mmap
# threshold): the minor page faults of one warm call, and the GLIBC_TUNABLES the process ran with.
# It calls reexec_with_tuned_malloc first, as `python -m metareg.main` does.
PROBE = """
import os, resource
from metareg.runtime import reexec_with_tuned_malloc
reexec_with_tuned_malloc()
import jax, jax.numpy as jnp
@jax.jit
def f(x):
    y = jnp.cumsum(jnp.sin(x))
    return jnp.sum(jnp.cumsum(y[::-1]) * x)
x = jnp.ones((16 * 2**20,), jnp.float32)
f(x).block_until_ready(); f(x).block_until_ready()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    f(x).block_until_ready()
print(
    os.environ.get("GLIBC_TUNABLES", "") or "-",
    (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 3,
)
"""


def _probe(setting: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    # XLA's full pipeline (not the suite's cheap one, tests/conftest.py): the probe is run-bound,
    # 7-10 s instead of 37 s, with the same temporaries and page faults
    env.update(
        {
            "METAREG_CPU_MALLOC": setting,
            "JAX_PLATFORMS": "cpu",
            **FULL_PIPELINE,
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    tunables, faults = out.stdout.split()
    return tunables, int(faults)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc tunables")
def test_reexec_adds_the_tunable_and_removes_the_per_call_page_faults():
    tunables, tuned = _probe("tuned")
    assert tunables == HUGETLB_TUNABLE
    tunables, default = _probe("default")
    assert tunables == "-"
    # 4 KiB pages: each call faults its fresh 64 MB temporaries in (16k faults each);
    # 2 MiB pages: 512x fewer.
    assert default > 10_000, default
    assert tuned < default / 10, (tuned, default)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc tunables")
def test_tuned_env_appends_to_the_users_tunables_and_respects_theirs():
    users = "glibc.malloc.arena_max=2"
    cpu = {"JAX_PLATFORMS": "cpu"}  # on a GPU machine the tunable is skipped (next test)
    assert (
        tuned_malloc_env({**cpu, "GLIBC_TUNABLES": users})["GLIBC_TUNABLES"]
        == f"{users}:{HUGETLB_TUNABLE}"
    )
    assert (
        tuned_malloc_env({**cpu, "GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}) is None
    )  # the user's choice stands
    assert tuned_malloc_env({**cpu, "METAREG_CPU_MALLOC": "default"}) is None
    assert tuned_malloc_env(cpu)["GLIBC_TUNABLES"] == HUGETLB_TUNABLE


def test_an_accelerator_run_keeps_glibcs_malloc():
    """The huge-page tunable is for XLA:CPU's step buffers; a GPU or TPU run keeps them on the
    device, so `metareg.main` does not re-execute itself there (decided before JAX is imported)."""
    for platforms, expected in (("cuda", True), ("gpu,cpu", True), ("tpu", True), ("cpu", False)):
        assert accelerator_expected({"JAX_PLATFORMS": platforms}) is expected, platforms
    assert tuned_malloc_env({"JAX_PLATFORMS": "cuda"}) is None


def test_backend_choices_name_what_auto_resolved_to():
    import jax

    on_cpu = jax.default_backend() == "cpu"
    conv = backend_choices("conv4", "auto", 0)
    assert conv["backend"] == jax.default_backend()
    assert conv["conv_impl"] == ("im2col (auto)" if on_cpu else "lax (auto)")
    assert backend_choices("conv4", "lax", -1)["conv_impl"] == "lax (lax)"
    mlp = backend_choices("mlp", "auto", 4)
    assert mlp["conv_impl"] == "no convolution" and mlp["task_axis"] == "groups of 4"
    assert backend_choices("mlp", "auto", -1)["task_axis"] == "unrolled loop"
    assert backend_choices("mlp", "auto", 0)["task_axis"] == "vmap"
    assert mlp["host_malloc"] in ("hugetlb", "default")


def test_bad_setting_is_rejected_with_the_choices():
    with pytest.raises(
        ValueError, match="METAREG_CPU_MALLOC='fast': use 'tuned' \\(the default\\) or 'default'"
    ):
        tuned_malloc_env({"METAREG_CPU_MALLOC": "fast"})
