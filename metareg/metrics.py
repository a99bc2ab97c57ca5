"""Per-task evaluation metrics of query predictions, masks honoured (pure functions of one task).

Regression ("mse" tasks): `mse_noisy` against the targets as given, `mse_clean` against the
noiseless function where the family knows it (query_y_clean), and `r2`, the squared Pearson
correlation between predictions and targets over the task's real query points (the drug-activity
papers' metric, after pQSAR). Classification ("cross_entropy" tasks): `accuracy` and `nll`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from metareg.losses import cross_entropy, masked_mean, mse
from metareg.types import Episode

R2_RELIABLE = 0.3  # pharmacology's reliability threshold: the papers count assays with R^2 > 0.3


def r_squared(pred: jax.Array, y: jax.Array, mask: jax.Array | None = None, eps: float = 1e-12) -> jax.Array:
    """Squared Pearson correlation of pred [N, 1] (or [N]) and y over the real points.

    Degenerate cases: constant predictions or constant targets (zero variance) give 0, as a
    predictor that cannot rank the compounds explains none of their variance.
    """
    p, t = pred.reshape(-1), y.reshape(-1)
    w = jnp.ones_like(p) if mask is None else mask.astype(p.dtype)
    n = jnp.maximum(jnp.sum(w), 1.0)
    dp, dt = p - jnp.sum(w * p) / n, t - jnp.sum(w * t) / n
    cov, vp, vt = jnp.sum(w * dp * dt), jnp.sum(w * dp * dp), jnp.sum(w * dt * dt)
    ok = (vp > eps) & (vt > eps)
    return jnp.where(ok, jnp.square(cov) / jnp.where(ok, vp * vt, 1.0), 0.0)


def task_metrics(loss_name: str, pred: jax.Array, episode: Episode) -> dict[str, jax.Array]:
    """Scalar metrics of one task's query predictions (see the module docstring)."""
    mask = episode.query_mask
    if loss_name == "cross_entropy":
        correct = (jnp.argmax(pred, axis=-1) == episode.query_y).astype(jnp.float32)
        return {"accuracy": masked_mean(correct, mask), "nll": cross_entropy(pred, episode.query_y, mask)}
    out = {"mse_noisy": mse(pred, episode.query_y, mask), "r2": r_squared(pred, episode.query_y, mask)}
    if episode.query_y_clean is not None:
        out["mse_clean"] = mse(pred, episode.query_y_clean, mask)
    return out


METRICS = {"mse": ("mse_clean", "mse_noisy", "r2"), "cross_entropy": ("accuracy", "nll")}
HIGHER_IS_BETTER = ("accuracy", "r2")
