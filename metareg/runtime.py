"""Process-level tuning of the host runtime: transparent huge pages for XLA:CPU's step memory.

Why: XLA:CPU allocates all temporaries of one execution as a single buffer (posix_memalign of
`memory_analysis().temp_size_in_bytes`: 1.2-1.5 GiB for the Omniglot 20-way Conv4 step) and frees it when
the step ends. glibc serves a request that large with a fresh mmap, so every step page-faults the whole
buffer in again, 4 KiB at a time: ~310k minor faults per step there (a one-off getrusage probe; the
test makes the same count on a smaller function). With glibc's tunable `glibc.malloc.hugetlb=1` malloc asks
the kernel for transparent huge pages on those mappings (madvise(MADV_HUGEPAGE)): ~1k faults per step.
benchmarks/bench_conv.py on this project's 2 cores (docs/scaling.md): the loop-over-tasks step 1.22 -> 1.01 s,
the vmap step 1.61 -> 1.27 s (two runs, with and without).

Rejected: keeping the buffer in malloc's heap (mallopt M_ARENA_MAX=1, M_MMAP_MAX=0, no trimming) removes the
faults too, but the heap fragments when executables of different sizes alternate: the benchmark process
grew to 19 GB and was killed. Huge pages keep glibc's behaviour (memory goes back to the system on free).

glibc reads tunables only at process start, so `python -m metareg.main` re-executes itself once with the
tunable added to GLIBC_TUNABLES (about 1 s of imports) unless it is already there; `metareg.sweep` starts
its runs with it, and benchmarks/bench_conv.py re-executes itself with it (`--malloc tuned`). In a notebook, start Jupyter with
GLIBC_TUNABLES=glibc.malloc.hugetlb=1 in its environment. METAREG_CPU_MALLOC=default opts out. Nothing
is done on a non-glibc system; a glibc older than 2.35 ignores the tunable (no harm, no gain).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping

HUGETLB_TUNABLE = "glibc.malloc.hugetlb=1"
OPT_OUT_ENV = "METAREG_CPU_MALLOC"


def tuned_malloc_env(env: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """`env` (default os.environ) with the huge-page tunable added to GLIBC_TUNABLES, or None when there is
    nothing to add: already there, opted out (METAREG_CPU_MALLOC=default), or not a glibc system."""
    env = dict(os.environ if env is None else env)
    setting = env.get(OPT_OUT_ENV, "tuned")
    if setting not in ("tuned", "default"):
        raise ValueError(
            f"{OPT_OUT_ENV}={setting!r}: use 'tuned' (the default) or 'default' (leave glibc's malloc as it is)"
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
