"""Task losses, and their "ensemble" forms used by TRLearner's consistency term.

Each loss maps predictions [N, O] and targets [N, O] (regression) or integer labels [N]
(classification, with logits [N, C]) to a scalar mean over the N points. `mask` [N] (1 = real
point, 0 = padding; None = all real) turns the mean into a mean over the real points, so a
padded task has exactly the loss of its real points.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def masked_mean(values: jax.Array, mask: jax.Array | None) -> jax.Array:
    """Mean of per-point values [N] over the points with mask 1 (all points when mask is None).

    A task with no real point gets 0 (epsilon-guarded denominator), never NaN.
    """
    if mask is None:
        return jnp.mean(values)
    mask = mask.astype(values.dtype)
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def example_mean(values: jax.Array, mask: jax.Array | None) -> jax.Array:
    """Mean over the examples (axis 0) of values [N, ...]; over the real ones given a mask [N]."""
    if mask is None:
        return jnp.mean(values, axis=0)
    w = mask.astype(values.dtype) / jnp.maximum(jnp.sum(mask.astype(values.dtype)), 1.0)
    return jnp.tensordot(w, values, axes=1)


def mse(pred: jax.Array, y: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Mean squared error over points and outputs."""
    per_point = jnp.mean(jnp.square(pred - y).reshape(pred.shape[0], -1), axis=-1)
    return masked_mean(per_point, mask)


def cross_entropy(logits: jax.Array, labels: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Mean softmax cross-entropy with integer labels."""
    return masked_mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels), mask)


def weighted_ensemble_mse(
    preds: jax.Array, weights: jax.Array, y: jax.Array, mask: jax.Array | None = None
) -> jax.Array:
    """MSE of the weighted average prediction sum_p w_p preds[p] against y.

    preds: [P, N, O] predictions of P models; weights: [P] (already normalized).
    """
    avg = jnp.tensordot(weights, preds, axes=1)
    return mse(avg, y, mask)


def weighted_ensemble_nll(
    logits: jax.Array, weights: jax.Array, labels: jax.Array, mask: jax.Array | None = None
) -> jax.Array:
    """NLL of the weighted average of the P models' predicted probabilities.

    Averaging probabilities (not logits) keeps the ensemble a proper mixture, as methods.md fixes
    for classification. logits: [P, N, C]; weights: [P]; labels: [N].
    """
    probs = jnp.tensordot(weights, jax.nn.softmax(logits, axis=-1), axes=1)
    picked = jnp.take_along_axis(probs, labels[:, None], axis=-1)[:, 0]
    return masked_mean(-jnp.log(jnp.maximum(picked, 1e-12)), mask)


# name -> (task loss, ensemble loss)
LOSSES = {
    "mse": (mse, weighted_ensemble_mse),
    "cross_entropy": (cross_entropy, weighted_ensemble_nll),
}


def get_loss(name: str):
    """The (task loss, ensemble loss) pair for `name`."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {sorted(LOSSES)}")
    return LOSSES[name]
