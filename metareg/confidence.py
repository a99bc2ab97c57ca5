"""The two 95% confidence intervals metareg reports, and where each one is meant.

- **Over test tasks** (`task_ci95`): one run's metric is a mean over hundreds of independent test
  tasks (600 by default), so the normal quantile z = 1.96 is exact enough. `evaluate()` writes it
  as each metric's "ci95" in results.json. It says how precisely *one trained model* is measured.
- **Over seeds** (`seed_ci95`): a table cell, a paired difference between two cells and every
  claim's verdict use the seed as the unit (each seed's number is its mean over test tasks), with
  Student's t at df = seeds - 1 (exact quantile, no table). It says how much *training* varies.

Tables never put the two in one column: a cell with one seed has no CI over seeds and says so.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as _scipy_stats

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def task_ci95(values) -> tuple[float, float]:
    """(mean, half-width of the normal-approximation 95% CI) over test tasks; NaN CI below 2."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return float(v.mean()), float("nan")
    return float(v.mean()), float(Z95 * v.std(ddof=1) / math.sqrt(v.size))


def t975(df: int) -> float:
    """Student's t 97.5% quantile at `df` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError(f"a t quantile needs df >= 1, got {df}")
    return float(_scipy_stats.t.ppf(0.975, df))


def seed_ci95(values) -> float:
    """Half-width of the t-based 95% CI of the mean over seeds (df = n - 1); NaN below 2 values."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return float("nan")
    return float(t975(v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
