"""Curvature of the inner loss: why test-time adaptation with more steps than training can diverge.

Gradient descent with step size alpha on a loss whose Hessian has largest eigenvalue L grows the
error along that direction by |1 - alpha L| per step: with alpha L > 2 the steps overshoot and
diverge. A learner meta-trained with one inner step never sees that: one step from theta can even
profit from a large alpha L. `inner_sharpness` measures L at theta on a task's support set (power
iteration on Hessian-vector products over the adapted parameters), so `alpha * L` per test task says
which tasks will diverge at 10 steps.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from metareg.losses import get_loss

PyTree = Any


def inner_sharpness(
    learner,
    meta_params: PyTree,
    support_x: jax.Array,
    support_y: jax.Array,
    iters: int = 50,
    key: jax.Array | None = None,
) -> jax.Array:
    """Largest Hessian eigenvalue (by magnitude) of the support loss over the parameters the inner
    loop adapts, at theta (the learner's frozen prefix and frozen names kept fixed, as in
    `adapt`)."""
    theta = meta_params["model"]
    first = learner.first_adapted_block()
    adapted = {k: v for k, v in theta.items() if learner.is_adapted(k, first)}
    frozen = {k: v for k, v in theta.items() if k not in adapted}
    h = support_x if first == 0 else learner.model.apply(theta, support_x, 0, first)
    loss, _ = get_loss(learner.loss_name)

    def inner_loss(w):
        return loss(learner.model.apply({**frozen, **w}, h, first, None), support_y)

    def hvp(v):
        return jax.jvp(jax.grad(inner_loss), (adapted,), (v,))[1]

    leaves, tree = jax.tree_util.tree_flatten(adapted)
    keys = jax.random.split(jax.random.key(0) if key is None else key, len(leaves))
    v = jax.tree_util.tree_unflatten(
        tree, [jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, leaves, strict=True)]
    )

    def norm(t):
        return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(t)))

    def step(v, _):
        hv = hvp(v)
        return jax.tree_util.tree_map(lambda x: x / (norm(hv) + 1e-30), hv), None

    v, _ = jax.lax.scan(step, jax.tree_util.tree_map(lambda x: x / norm(v), v), None, length=iters)
    hv = hvp(v)
    return sum(
        jnp.sum(a * b)
        for a, b in zip(jax.tree_util.tree_leaves(v), jax.tree_util.tree_leaves(hv), strict=True)
    )
