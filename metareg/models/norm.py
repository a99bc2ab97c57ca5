"""Stateless normalization shared by the models: transductive BatchNorm, layer norm, none.

"transductive": zero mean, unit variance per feature over the batch (and space, for images) with
the statistics of the batch being passed, at train and at test time, and no running averages
(what the reference code of every baseline does; methods.md). With a `mask` [B] the statistics
are taken over the real examples only, so padding a task never changes its real examples'
outputs. "layer": per example over all its non-batch axes (not transductive). "none": identity.
Biased variance, as BatchNorm in training mode.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

NORMS = ("transductive", "layer", "none")


def normalize(x: jax.Array, norm: str, eps: float, mask: jax.Array | None = None) -> jax.Array:
    """x [B, ..., C] normalized by `norm` (see the module docstring); mask [B] or None."""
    if norm == "none":
        return x
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose from {list(NORMS)}")
    if norm == "layer":
        axes = tuple(range(1, x.ndim))
        mean = jnp.mean(x, axis=axes, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
        return (x - mean) * lax.rsqrt(var + eps)
    axes = tuple(range(x.ndim - 1))  # batch and space
    if mask is None:
        mean = jnp.mean(x, axis=axes, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
    else:
        w = mask.astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
        count = jnp.maximum(jnp.sum(w) * (x[0, ..., 0].size), 1.0)  # real examples x spatial positions
        mean = jnp.sum(w * x, axis=axes, keepdims=True) / count
        var = jnp.sum(w * jnp.square(x - mean), axis=axes, keepdims=True) / count
    return (x - mean) * lax.rsqrt(var + eps)
