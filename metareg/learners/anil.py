"""ANIL (Raghu et al. 2020): the inner loop adapts the head only; the body is shared, not adapted.

The body's features of the support set do not change during adaptation, so they are computed
once and the inner steps run on the head alone (cheaper than masking MAML's gradient).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
from jax import lax

from metareg.learners.maml import MAML
from metareg.losses import get_loss

PyTree = Any


@dataclasses.dataclass(frozen=True)
class ANIL(MAML):
    """MAML whose inner loop updates only `params[model.head_name]`."""

    def adapt(self, meta_params: PyTree, support_x: jax.Array, support_y: jax.Array, num_steps: int | None = None) -> PyTree:
        steps = self.num_steps if num_steps is None else num_steps
        theta = meta_params["model"]
        head = self.model.head_name
        last = self.model.num_blocks - 1
        features = self.model.features(theta, support_x)
        loss, _ = get_loss(self.loss_name)

        def head_loss(head_params):
            return loss(self.model.apply({**theta, head: head_params}, features, last, None), support_y)

        def step(head_params, _):
            grads = jax.grad(head_loss)(head_params)
            if self.first_order:
                grads = lax.stop_gradient(grads)
            return self.inner_update(meta_params, {head: head_params}, {head: grads})[head], None

        head_params, _ = lax.scan(step, theta[head], None, length=steps)
        return {**theta, head: head_params}
