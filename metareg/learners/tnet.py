"""T-Net (Lee & Choi 2018): per-layer linear transforms, meta-learned, frozen in the inner loop.

The model carries the transforms (`mlp(..., transforms=True)` adds `transform_{i}` after block i);
this learner adapts every other parameter (the weights W) and leaves the transforms at their
meta-learned values, so they shape the inner loop's geometry without being task-specific.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
from jax import lax

from metareg.learners.maml import MAML

PyTree = Any


def is_transform(name: str) -> bool:
    return name.startswith("transform_")


@dataclasses.dataclass(frozen=True)
class TNet(MAML):
    """MAML over the weights only; top-level `transform_*` parameters are frozen in the inner loop."""

    def adapt(self, meta_params: PyTree, support_x: jax.Array, support_y: jax.Array, num_steps: int | None = None) -> PyTree:
        steps = self.num_steps if num_steps is None else num_steps
        theta = meta_params["model"]
        frozen = {k: v for k, v in theta.items() if is_transform(k)}
        if not frozen:
            raise ValueError("T-Net needs a model with transforms (mlp(..., transforms=True))")
        weights = {k: v for k, v in theta.items() if not is_transform(k)}

        def step(w, _):
            grads = jax.grad(lambda w: self.support_loss({**w, **frozen}, support_x, support_y))(w)
            if self.first_order:
                grads = lax.stop_gradient(grads)
            return self.inner_update(meta_params, w, grads), None

        weights, _ = lax.scan(step, weights, None, length=steps)
        return {**weights, **frozen}
