"""MAML and first-order MAML: the inner loop as a pure function of one task.

`adapt` runs `num_steps` SGD steps on the support loss under `lax.scan` (compile time does not
grow with the step count) and is differentiated through by the outer loss (second order).
First order (FOMAML, Finn et al. 2017 Sec. 5.2) puts the inner gradients under stop_gradient,
so d(phi)/d(theta) = I and the meta-gradient is the query gradient at phi.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
from jax import lax

from metareg.losses import get_loss
from metareg.models.base import BlockModel

PyTree = Any


@dataclasses.dataclass(frozen=True)
class MAML:
    """Model-agnostic meta-learning over all weights of `model`.

    Meta-parameters are {"model": theta, "learner": {}}; `adapt` returns the task's model
    parameters phi. Hashable, so it is a static argument of the jitted step.
    """

    model: BlockModel
    loss_name: str = "mse"
    inner_lr: float = 0.01
    num_steps: int = 1
    first_order: bool = False

    def init_learner_params(self, key: jax.Array, model_params: PyTree) -> PyTree:
        """Learner-owned meta-parameters (none for MAML)."""
        del key, model_params
        return {}

    def support_loss(self, model_params: PyTree, x: jax.Array, y: jax.Array) -> jax.Array:
        loss, _ = get_loss(self.loss_name)
        return loss(self.model.apply(model_params, x), y)

    def inner_update(self, meta_params: PyTree, params: PyTree, grads: PyTree) -> PyTree:
        """One inner SGD step phi <- phi - alpha * g (MetaSGD overrides the step size)."""
        del meta_params
        return jax.tree_util.tree_map(lambda p, g: p - self.inner_lr * g, params, grads)

    def adapt(self, meta_params: PyTree, support_x: jax.Array, support_y: jax.Array, num_steps: int | None = None) -> PyTree:
        """Task-specific parameters phi after `num_steps` inner steps (default: the training count)."""
        steps = self.num_steps if num_steps is None else num_steps

        def step(params, _):
            grads = jax.grad(self.support_loss)(params, support_x, support_y)
            if self.first_order:
                grads = lax.stop_gradient(grads)
            return self.inner_update(meta_params, params, grads), None

        params, _ = lax.scan(step, meta_params["model"], None, length=steps)
        return params

    def predict(self, task_params: PyTree, x: jax.Array) -> jax.Array:
        """The adapted model's output on x."""
        return self.model.apply(task_params, x)
