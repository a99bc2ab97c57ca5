"""Task losses, and their "ensemble" forms used by TRLearner's consistency term.

Each loss maps predictions [N, O] and targets [N, O] (regression) or integer labels [N]
(classification, with logits [N, C]) to a scalar mean over the N points.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def mse(pred: jax.Array, y: jax.Array) -> jax.Array:
    """Mean squared error over points and outputs."""
    return jnp.mean(jnp.square(pred - y))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy with integer labels."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def weighted_ensemble_mse(preds: jax.Array, weights: jax.Array, y: jax.Array) -> jax.Array:
    """MSE of the weighted average prediction sum_p w_p preds[p] against y.

    preds: [P, N, O] predictions of P models; weights: [P] (already normalized).
    """
    avg = jnp.tensordot(weights, preds, axes=1)
    return mse(avg, y)


def weighted_ensemble_nll(logits: jax.Array, weights: jax.Array, labels: jax.Array) -> jax.Array:
    """NLL of the weighted average of the P models' predicted probabilities.

    Averaging probabilities (not logits) keeps the ensemble a proper mixture, as methods.md fixes
    for classification. logits: [P, N, C]; weights: [P]; labels: [N].
    """
    probs = jnp.tensordot(weights, jax.nn.softmax(logits, axis=-1), axes=1)
    picked = jnp.take_along_axis(probs, labels[:, None], axis=-1)[:, 0]
    return -jnp.mean(jnp.log(jnp.maximum(picked, 1e-12)))


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
