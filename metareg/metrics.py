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
CONSTANT_TOL = 1e-5  # relative spread below which predictions (or targets) count as constant


def r_squared(pred: jax.Array, y: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Squared Pearson correlation of pred and y over the real points of one task: float32 scalar.

    pred, y: [Q] or [Q, 1]; mask: [Q] (None: all real). Degenerate cases give 0: fewer than 2 real
    points, or constant predictions or targets (spread below CONSTANT_TOL relative to their
    magnitude, so that float32 rounding of a constant, e.g. a mean, does not read as a correlation):
    a predictor that cannot rank the points explains none of their variance. Two real points give 1
    (any two non-constant pairs are perfectly correlated): the drug task family keeps q >= 3.
    """
    p, t = jnp.asarray(pred, jnp.float32).reshape(-1), jnp.asarray(y, jnp.float32).reshape(-1)
    m = jnp.ones_like(p) if mask is None else jnp.asarray(mask, jnp.float32)
    n = m.sum()
    safe_n = jnp.maximum(n, 1.0)
    pc = (p - (m * p).sum() / safe_n) * m  # centred on the masked means; padding -> 0
    tc = (t - (m * t).sum() / safe_n) * m
    spp, stt, spt = (pc * pc).sum(), (tc * tc).sum(), (pc * tc).sum()
    flat_p = spp <= (CONSTANT_TOL**2) * ((m * p * p).sum() + 1e-30)
    flat_t = stt <= (CONSTANT_TOL**2) * ((m * t * t).sum() + 1e-30)
    degenerate = (n < 2) | flat_p | flat_t
    r2 = spt * spt / jnp.where(degenerate, 1.0, spp * stt)
    return jnp.where(degenerate, 0.0, jnp.clip(r2, 0.0, 1.0))


def task_metrics(loss_name: str, pred: jax.Array, episode: Episode) -> dict[str, jax.Array]:
    """Scalar metrics of one task's query predictions (see the module docstring)."""
    mask = episode.query_mask
    if loss_name == "cross_entropy":
        correct = (jnp.argmax(pred, axis=-1) == episode.query_y).astype(jnp.float32)
        return {
            "accuracy": masked_mean(correct, mask),
            "nll": cross_entropy(pred, episode.query_y, mask),
        }
    out = {
        "mse_noisy": mse(pred, episode.query_y, mask),
        "r2": r_squared(pred, episode.query_y, mask),
    }
    if episode.query_y_clean is not None:
        out["mse_clean"] = mse(pred, episode.query_y_clean, mask)
    return out


METRICS = {"mse": ("mse_clean", "mse_noisy", "r2"), "cross_entropy": ("accuracy", "nll")}
HIGHER_IS_BETTER = ("accuracy", "r2")
