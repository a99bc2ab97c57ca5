"""Drug-activity metrics: per-assay R^2 on the real query compounds, and its summary over assays.

The papers' three columns (MetaMix Table 2, TRLearner Table 3, after pQSAR; Martin et al. 2019): the
mean and the median over meta-test assays of R^2 = squared Pearson correlation between predicted and
measured query activities, and the number of assays with R^2 > 0.3 ("deemed an indicator of
reliability in pharmacology").

Everything honours the padding masks (`query_mask` [Q], 1 = real, 0 = padding): padded rows never
enter a sum.

Chance level. For predictions unrelated to the targets (bivariate normal, correlation 0) the sample
R^2 of q points is Beta(1/2, (q-2)/2): mean 1/(q-1), P(R^2 > t) = I_{1-t}((q-2)/2, 1/2). With the
small query sets of these assays (q = 3 for half of them) that is far from 0 (mean 0.5,
P(R^2 > 0.3) = 0.63 at q = 3), so `summarize_r_squared` reports the chance expectation of every
column next to the observed one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc

from metareg.evaluate import mean_ci95
from metareg.losses import mse
from metareg.metrics import R2_RELIABLE as R2_THRESHOLD
from metareg.metrics import r_squared
from metareg.types import Array


def masked_mse(pred: Array, y: Array, mask: Array | None = None) -> Array:
    """Mean squared error over the real points of one task: float32 scalar (0 if there are none)."""
    return mse(
        jnp.asarray(pred).reshape(pred.shape[0], -1), jnp.asarray(y).reshape(y.shape[0], -1), mask
    )


def r_squared_batch(pred: Array, y: Array, mask: Array | None = None) -> Array:
    """float32 [T]: r_squared of each task; pred, y [T, Q] or [T, Q, 1], mask [T, Q] or None."""
    if mask is None:
        return jax.vmap(r_squared)(pred, y)
    return jax.vmap(r_squared)(pred, y, mask)


def masked_mse_batch(pred: Array, y: Array, mask: Array | None = None) -> Array:
    """float32 [T]: masked_mse of each task."""
    if mask is None:
        return jax.vmap(masked_mse)(pred, y)
    return jax.vmap(masked_mse)(pred, y, mask)


def chance_r_squared(num_query, threshold: float = R2_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """(mean, P(R^2 > threshold)) of R^2 for predictions unrelated to the targets, per query size q.

    Under independence (bivariate normal) R^2 of q points ~ Beta(1/2, (q-2)/2); q <= 2 gives
    R^2 = 1. num_query: int or int array; returns float64 arrays of its shape.
    """
    q = np.asarray(num_query, np.float64)
    big = q > 2
    qs = np.where(big, q, 3.0)
    mean = np.where(big, 1.0 / (qs - 1.0), 1.0)
    # P(B > t) for B ~ Beta(a, b) is I_{1-t}(b, a).
    tail = np.asarray(
        betainc(jnp.asarray((qs - 2.0) / 2.0, jnp.float32), 0.5, 1.0 - threshold), np.float64
    )
    return mean, np.where(big, tail, 1.0)


def summarize_r_squared(r2, num_query=None, threshold: float = R2_THRESHOLD) -> dict:
    """The papers' columns over test assays, with a 95% CI of the mean and, given the query
    sizes, chance levels.

    r2: [T] per-assay R^2; num_query (optional): [T] real query points per assay (e.g.
    `query_mask.sum(-1)`).
    Returns {"num_tasks", "mean", "ci95" (half-width, normal approximation), "median",
    "count_above", "fraction_above", "threshold"} and, with num_query, {"chance_mean",
    "chance_count_above"}: what predictions unrelated to the targets would score in expectation on
    the same query sizes.
    """
    r2 = np.asarray(r2, np.float64).reshape(-1)
    if r2.size == 0:
        raise ValueError("summarize_r_squared: no tasks")
    mean, ci = mean_ci95(r2)
    count = int((r2 > threshold).sum())
    out = {
        "num_tasks": int(r2.size),
        "mean": mean,
        "ci95": ci,
        "median": float(np.median(r2)),
        "count_above": count,
        "fraction_above": count / r2.size,
        "threshold": float(threshold),
    }
    if num_query is not None:
        q = np.asarray(num_query).reshape(-1)
        if q.shape != r2.shape:
            raise ValueError(f"num_query has {q.size} entries for {r2.size} tasks")
        chance_mean, chance_tail = chance_r_squared(q, threshold)
        out["chance_mean"] = float(chance_mean.mean())
        out["chance_count_above"] = float(chance_tail.sum())
    return out
