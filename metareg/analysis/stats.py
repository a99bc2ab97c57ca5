"""The one rule by which every table, figure and report judges a claim, and the statistics it uses.

A claim is "X improves B" (a regularizer over its backbone, or one regularizer over another). It
is judged by `judge`, and by nothing else:

- **The seed is the unit.** A seed's number is the run's mean over its test tasks (and, where a
  table pools groups, assays or shot settings, the mean over those within the seed: `pool`). Every
  CI is a t-CI over seeds, df = seeds - 1 (`metareg.confidence.seed_ci95`).
- **The verdict** comes from the paired difference X - B over the seeds both ran (the same test
  tasks): "supported" when its CI excludes 0 in the claim's direction, "contradicted" when it
  excludes 0 against it, "inconclusive" when it contains 0, "too few seeds" below 2 shared seeds.
- **Divergence is an outcome, not a number.** A seed diverged when any of its test tasks is
  non-finite, or when its mean error exceeds DIVERGENCE_MULTIPLE x the family's function variance
  (`diverged`). A cell with a diverged seed gives no mean and no difference: the claim reads
  "diverged" and says which side diverged in how many seeds. When B diverges and X does not, X
  "prevents divergence", a finding of its own.
- **The paper's effect.** Where the paper gives both numbers, its difference X - B is "ruled out"
  when it lies outside our CI of the difference, else "consistent".
- **The baseline's comparability.** Our B (mean +- t-CI over its seeds) beside the paper's B: it
  "matches" when the paper's number lies inside our CI, else the table says by how much it differs.

The regime (memorization and overfitting gaps, `tables.regime`) is reported beside a verdict as an
explanation; it never replaces one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping

import numpy as np

from metareg.confidence import seed_ci95

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
TOO_FEW_SEEDS, DIVERGED = "too few seeds", "diverged"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, TOO_FEW_SEEDS, DIVERGED)
RULED_OUT, CONSISTENT = "ruled out", "consistent"

# A seed whose mean test error exceeds this multiple of its family's function variance diverged:
# twice what predicting the family's mean value everywhere scores is no trained model's error (a
# seed's mean is then carried by a few tasks whose adaptation blew up; their medians stay small).
DIVERGENCE_MULTIPLE = 2.0
# Var f: the variance of the noise-free targets over the test distribution (tasks and inputs),
# i.e. the MSE of predicting their mean everywhere. Sinusoids: A ~ U[0.1, 5] gives E[A^2]/2 = 4.25
# less the small squared mean; harmonic: (E a1^2 + E a2^2)/2 = 1; pose: the azimuth label x10 is
# uniform on [0, 10), 100/12. tests/test_stats.py checks each against the family's own sampler.
FUNCTION_VARIANCE = {
    "sinusoid": 4.25,
    "sinusoid_w1": 4.14,
    "sinusoid_nme": 4.14,
    "harmonic": 1.0,
    "harmonic_local": 1.0,
    "harmonic_local_centered": 1.0,
    "pose": 100.0 / 12.0,
}
# the metrics whose magnitude can say "diverged" (errors); accuracy and R^2 are bounded
ERROR_METRICS = ("mse_clean", "mse_noisy", "mse")


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its t-CI95 half-width (NaN below 2 seeds) and the seed count."""

    mean: float
    ci: float
    n: int

    @property
    def has_ci(self) -> bool:
        return self.n >= 2 and math.isfinite(self.ci)

    def contains(self, value: float) -> bool:
        return self.has_ci and self.mean - self.ci <= value <= self.mean + self.ci

    def text(self, digits: int = 3, scale: float = 1.0, signed: bool = False) -> str:
        sign = "+" if signed else ""
        head = f"{self.mean * scale:{sign}.{digits}f}"
        if not self.has_ci:
            return f"{head} (1 seed, no CI)" if self.n == 1 else head
        return f"{head} ± {self.ci * scale:.{digits}f} (n={self.n})"

    def as_dict(self) -> dict:
        """JSON-ready: no CI (one seed) is None."""
        return {"mean": self.mean, "ci95": self.ci if self.has_ci else None, "n": self.n}


def estimate(values: Iterable[float]) -> Estimate | None:
    """Mean and t-CI over the given per-seed values; None for none."""
    v = [float(x) for x in values]
    return Estimate(float(np.mean(v)), seed_ci95(v), len(v)) if v else None


def mean_ci(values) -> tuple[float, float, int]:
    """(mean, t-CI95 half-width, n) over seeds; (NaN, NaN, 0) for no values."""
    e = estimate(values)
    return (e.mean, e.ci, e.n) if e else (float("nan"), float("nan"), 0)


def t_ci95(values) -> float:
    """Half-width of the t-based 95% CI of the mean over seeds (NaN with fewer than 2)."""
    return seed_ci95(values)


def diverged(entry: Mapping, metric: str, family: str | None) -> bool:
    """Whether one seed's metric entry of results.json (mean, num_nonfinite, ...) diverged: any
    non-finite test task, a non-finite mean, or, for an error metric of a family with a known
    function variance, a mean above DIVERGENCE_MULTIPLE x that variance."""
    mean = float(entry["mean"])
    if entry.get("num_nonfinite", 0) or not math.isfinite(mean):
        return True
    name = metric.split("@")[0]
    scale = FUNCTION_VARIANCE.get(family) if family else None
    return name in ERROR_METRICS and scale is not None and mean > DIVERGENCE_MULTIPLE * scale


def pool(columns: Iterable[Mapping[int, float]]) -> dict[int, float]:
    """{seed: mean over columns} for the seeds present in *every* column: groups, assays or shot
    settings pooled within each seed, so that the seed stays the unit (a seed missing a column is
    left out rather than compared on a different mix of columns)."""
    columns = list(columns)
    if not columns:
        return {}
    seeds = sorted(set.intersection(*(set(c) for c in columns)))
    return {s: float(np.mean([c[s] for c in columns])) for s in seeds}


@dataclasses.dataclass(frozen=True)
class Judgement:
    """The judgement of one claim "X improves B" (all numbers in the metric's own units)."""

    verdict: str
    higher_is_better: bool
    delta: Estimate | None  # paired X - B over shared, non-diverged seeds
    method: Estimate | None  # X over its seeds (None when any diverged)
    base: Estimate | None  # B over its seeds (None when any diverged)
    method_diverged: tuple[int, int]  # (diverged seeds, seeds) of X
    base_diverged: tuple[int, int]
    paper_method: float | None = None
    paper_base: float | None = None

    @property
    def paper_delta(self) -> float | None:
        if self.paper_method is None or self.paper_base is None:
            return None
        return self.paper_method - self.paper_base

    @property
    def paper_effect(self) -> str | None:
        """ "ruled out" / "consistent" for the paper's difference against our CI; None where the
        paper gives no pair of numbers or we have no CI."""
        if self.paper_delta is None or self.delta is None or not self.delta.has_ci:
            return None
        return CONSISTENT if self.delta.contains(self.paper_delta) else RULED_OUT

    @property
    def baseline_match(self) -> bool | None:
        """Whether the paper's B lies inside our B's CI; None without both."""
        if self.paper_base is None or self.base is None or not self.base.has_ci:
            return None
        return self.base.contains(self.paper_base)

    @property
    def baseline_difference(self) -> float | None:
        """Our B minus the paper's B."""
        if self.paper_base is None or self.base is None:
            return None
        return self.base.mean - self.paper_base

    @property
    def prevents_divergence(self) -> bool:
        """B diverged in some of its seeds and X, run, in none of its own."""
        return (
            self.base_diverged[0] > 0
            and self.method_diverged[0] == 0
            and self.method_diverged[1] > 0
        )

    def verdict_text(self) -> str:
        if self.verdict != DIVERGED:
            return self.verdict
        sides = [
            f"{name} in {k}/{n} seeds"
            for name, (k, n) in (("X", self.method_diverged), ("baseline", self.base_diverged))
            if k
        ]
        if self.prevents_divergence:
            sides.append("X in none: prevents divergence")
        return f"{DIVERGED} ({'; '.join(sides)})"

    def baseline_text(self, digits: int = 3, scale: float = 1.0) -> str:
        if self.paper_base is None:
            return "no paper number"
        if self.base is None:
            return "diverged" if self.base_diverged[0] else "not run"
        if self.baseline_match:
            return f"matches ({self.paper_base * scale:.{digits}f} in our CI)"
        diff = self.baseline_difference * scale
        return f"differs by {diff:+.{digits}f} (paper {self.paper_base * scale:.{digits}f})"

    def as_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "delta": self.delta.as_dict() if self.delta else None,
            "method": self.method.as_dict() if self.method else None,
            "base": self.base.as_dict() if self.base else None,
            "diverged_seeds": {
                "method": list(self.method_diverged),
                "base": list(self.base_diverged),
            },
            "prevents_divergence": self.prevents_divergence,
            "paper_method": self.paper_method,
            "paper_base": self.paper_base,
            "paper_delta": self.paper_delta,
            "paper_effect": self.paper_effect,
            "baseline_match": self.baseline_match,
            "baseline_difference": self.baseline_difference,
        }


def _direction(delta: Estimate, higher_is_better: bool) -> str:
    lo, hi = delta.mean - delta.ci, delta.mean + delta.ci
    good, bad = (lo > 0, hi < 0) if higher_is_better else (hi < 0, lo > 0)
    return SUPPORTED if good else CONTRADICTED if bad else INCONCLUSIVE


def judge(
    method: Mapping[int, float],
    base: Mapping[int, float],
    *,
    higher_is_better: bool,
    method_diverged: Iterable[int] = (),
    base_diverged: Iterable[int] = (),
    paper: tuple[float | None, float | None] | None = None,
) -> Judgement:
    """The verdict on "X improves B" from per-seed numbers {seed: value} of X (`method`) and B
    (`base`), the seeds that diverged on each side, and the paper's (X, B) numbers if it gives
    them. The only path to a verdict in metareg."""
    md, bd = set(method_diverged) & set(method), set(base_diverged) & set(base)
    md_count, bd_count = (len(md), len(method)), (len(bd), len(base))
    paper_method, paper_base = paper if paper is not None else (None, None)
    if md or bd:
        return Judgement(
            DIVERGED,
            higher_is_better,
            None,
            None if md else estimate(method.values()),
            None if bd else estimate(base.values()),
            md_count,
            bd_count,
            paper_method,
            paper_base,
        )
    shared = sorted(set(method) & set(base))
    delta = estimate(method[s] - base[s] for s in shared)
    if delta is None or not delta.has_ci:
        verdict = TOO_FEW_SEEDS
    else:
        verdict = _direction(delta, higher_is_better)
    return Judgement(
        verdict,
        higher_is_better,
        delta,
        estimate(method.values()),
        estimate(base.values()),
        md_count,
        bd_count,
        paper_method,
        paper_base,
    )


def paired_differences(a: Mapping, b: Mapping, value=lambda x: x) -> list[float]:
    """value(a[s]) - value(b[s]) for every seed s in both, in seed order (for figures that plot
    per-seed differences; verdicts come from `judge`)."""
    return [value(a[s]) - value(b[s]) for s in sorted(set(a) & set(b))]
