"""Stateless normalization shared by the models: transductive BatchNorm, layer norm, none.

"transductive": zero mean, unit variance per feature over the batch (and space, for images) with
the statistics of the batch being passed, at train and at test time, and no running averages
(what the reference code of every baseline does; methods.md). With a `mask` [B] the statistics
are taken over the real examples only, so padding a task never changes its real examples'
outputs. "layer": per example over all its non-batch axes (not transductive). "none": identity.
Biased variance, as BatchNorm in training mode.

With `scale` and `shift`, `normalize` computes normalize(x) * scale + shift as one fused
multiply-add x * a + b with small a and b, so no full-size x - mean is materialized (fewer
temporaries, a faster MAML step). The variance stays the two-pass mean((x - mean)^2): the one-pass
mean(x^2) - mean^2 loses float32 precision to cancellation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

NORMS = ("transductive", "layer", "none")


def _statistics(x: jax.Array, norm: str, mask: jax.Array | None) -> tuple[jax.Array, jax.Array]:
    """(mean, variance) of x under `norm` ("transductive" or "layer"), keepdims shapes."""
    if norm == "layer":
        axes = tuple(range(1, x.ndim))
        mean = jnp.mean(x, axis=axes, keepdims=True)
        return mean, jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
    axes = tuple(range(x.ndim - 1))  # batch and space
    if mask is None:
        mean = jnp.mean(x, axis=axes, keepdims=True)
        return mean, jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
    w = mask.astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
    count = jnp.maximum(jnp.sum(w) * (x[0, ..., 0].size), 1.0)  # real examples x spatial positions
    mean = jnp.sum(w * x, axis=axes, keepdims=True) / count
    return mean, jnp.sum(w * jnp.square(x - mean), axis=axes, keepdims=True) / count


def normalize(
    x: jax.Array,
    norm: str,
    eps: float,
    mask: jax.Array | None = None,
    scale: jax.Array | None = None,
    shift: jax.Array | None = None,
) -> jax.Array:
    """x [B, ..., C] normalized by `norm` (see the module docstring); mask [B] or None.

    scale, shift [C] or None: when either is given, returns normalize(x) * scale + shift, computed
    as x * a + b.
    """
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose from {list(NORMS)}")
    affine = scale is not None or shift is not None
    if norm == "none":
        return (
            x * (1 if scale is None else scale) + (0 if shift is None else shift) if affine else x
        )
    mean, var = _statistics(x, norm, mask)
    inv = lax.rsqrt(var + eps)
    if not affine:
        return (x - mean) * inv
    a = inv if scale is None else inv * scale
    b = -mean * a if shift is None else shift - mean * a
    return x * a + b
