"""The statistics every table shares: a t-based 95% CI of a mean over seeds, paired differences over
the seeds two cells share, and the verdict on a claim from such a paired difference.

Verdicts, one vocabulary for every table (report.py, tables.py, figures.py's studies):

- "supported": the paired difference's CI excludes 0 in the claim's direction;
- "contradicted": it excludes 0 against it;
- "inconclusive": it contains 0;
- "too few seeds": fewer than 2 shared seeds (no CI);
- "untested regime": the claim cannot be judged in this setting (tables.regime: the backbone neither
  memorizes nor overfits, so a regularizer has nothing to fix); decided by the table, not here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

# Student-t 97.5% quantiles by degrees of freedom; between entries the next lower df is used
# (a wider CI).
T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    11: 2.201,
    12: 2.179,
    13: 2.160,
    14: 2.145,
    15: 2.131,
    16: 2.120,
    17: 2.110,
    18: 2.101,
    19: 2.093,
    20: 2.086,
    25: 2.060,
    30: 2.042,
    40: 2.021,
    60: 2.000,
    120: 1.980,
}

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
TOO_FEW_SEEDS, UNTESTED_REGIME = "too few seeds", "untested regime"


def t_ci95(values) -> float:
    """Half-width of the t-based 95% CI of the mean of `values` (NaN with fewer than 2)."""
    v = np.asarray(values, float)
    if v.size < 2:
        return float("nan")
    t = T975[max(df for df in T975 if df <= v.size - 1)] if v.size - 1 <= 120 else 1.96
    return float(t * v.std(ddof=1) / math.sqrt(v.size))


def mean_ci(values) -> tuple[float, float, int]:
    """(mean, t-CI95 half-width, n); (NaN, NaN, 0) for no values."""
    v = list(values)
    return (float(np.mean(v)), t_ci95(v), len(v)) if v else (float("nan"), float("nan"), 0)


def paired_differences(a: Mapping, b: Mapping, value: Callable = lambda x: x) -> list[float]:
    """value(a[s]) - value(b[s]) for every seed s in both, in seed order: a and b are
    {seed: number}, or {seed: run} with `value` reading the number from a run (it is called on the
    shared seeds only)."""
    return [value(a[s]) - value(b[s]) for s in sorted(set(a) & set(b))]


def verdict(delta: tuple[float, float, int] | None, higher_is_better: bool = False) -> str:
    """The claim "X improves its baseline" from delta = (mean, CI half-width, n) of the paired
    X - baseline."""
    if delta is None or delta[2] < 2 or not np.isfinite(delta[1]):
        return TOO_FEW_SEEDS
    mean, ci, _ = delta
    good = mean - ci > 0 if higher_is_better else mean + ci < 0
    bad = mean + ci < 0 if higher_is_better else mean - ci > 0
    return SUPPORTED if good else CONTRADICTED if bad else INCONCLUSIVE
