"""Process-level tuning of the host runtime: transparent huge pages for XLA:CPU's step memory.

XLA:CPU allocates one step's temporaries as a single buffer that glibc maps afresh each step,
page-faulting it in 4 KiB at a time; glibc's tunable `glibc.malloc.hugetlb=1` backs it with huge
pages instead. glibc reads tunables only at start, so `python -m metareg.main` re-executes itself
once with it (`METAREG_CPU_MALLOC=default` opts out); in a notebook, start Jupyter with
GLIBC_TUNABLES=glibc.malloc.hugetlb=1. Measurements and the rejected alternative: docs/scaling.md,
"Host memory".
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping

HUGETLB_TUNABLE = "glibc.malloc.hugetlb=1"
OPT_OUT_ENV = "METAREG_CPU_MALLOC"


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
