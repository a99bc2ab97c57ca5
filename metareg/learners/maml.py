"""MAML and first-order MAML: the inner loop as a pure function of one task.

`adapt` runs `num_steps` SGD steps on the support loss under `lax.scan` (compile time does not
grow with the step count) and is differentiated through by the outer loss (second order).
First order (FOMAML, Finn et al. 2017 Sec. 5.2) puts the inner gradients under stop_gradient,
so d(phi)/d(theta) = I and the meta-gradient is the query gradient at phi.

Which parameters the inner loop adapts: blocks `frozen_blocks`.. of the model (default all);
the leading `frozen_blocks` blocks (an encoder meta-learned but frozen in the inner loop, as the
pose models of MR-MAML/MetaMix; ANIL's whole body) stay at theta, so their output on the support
set is computed once and the inner steps run on the rest of the network only. Subclasses freeze
more by name (T-Net's transforms).

Masks (padded variable-size tasks, metareg.types): `mask` [K] of the examples passed; losses and
transductive normalization use the real examples only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
from jax import lax

from metareg.losses import get_loss
from metareg.models.base import BlockModel

PyTree = Any


def block_index(name: str) -> int | None:
    """i for a top-level parameter collection "blocks_{i}", None for anything else."""
    prefix = "blocks_"
    return (
        int(name[len(prefix) :])
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
        else None
    )


@dataclasses.dataclass(frozen=True)
class MAML:
    """Model-agnostic meta-learning over the weights of `model` (blocks `frozen_blocks`.. on).

    Meta-parameters are {"model": theta, "learner": {}}; `adapt` returns the task's model
    parameters phi. Hashable, so it is a static argument of the jitted step.
    """

    model: BlockModel
    loss_name: str = "mse"
    inner_lr: float = 0.01
    num_steps: int = 1
    first_order: bool = False
    frozen_blocks: int = 0

    def init_learner_params(self, key: jax.Array, model_params: PyTree) -> PyTree:
        """Learner-owned meta-parameters (none for MAML)."""
        del key, model_params
        return {}

    def support_loss(
        self, model_params: PyTree, x: jax.Array, y: jax.Array, mask: jax.Array | None = None
    ) -> jax.Array:
        loss, _ = get_loss(self.loss_name)
        return loss(self.model.apply(model_params, x, mask=mask), y, mask)

    def inner_update(self, meta_params: PyTree, params: PyTree, grads: PyTree) -> PyTree:
        """One inner SGD step phi <- phi - alpha * g (MetaSGD overrides the step size)."""
        del meta_params
        return jax.tree_util.tree_map(lambda p, g: p - self.inner_lr * g, params, grads)

    def first_adapted_block(self) -> int:
        """Blocks before this one keep theta in the inner loop."""
        return self.frozen_blocks

    def is_adapted(self, name: str, first: int) -> bool:
        """Whether the top-level parameter collection `name` is adapted when blocks first.. are."""
        i = block_index(name)
        return first == 0 if i is None else i >= first

    def adapt(
        self,
        meta_params: PyTree,
        support_x: jax.Array,
        support_y: jax.Array,
        num_steps: int | None = None,
        mask: jax.Array | None = None,
    ) -> PyTree:
        """Task parameters phi after `num_steps` inner steps (default: the training count)."""
        steps = self.num_steps if num_steps is None else num_steps
        theta = meta_params["model"]
        first = self.first_adapted_block()
        adapted = {k: v for k, v in theta.items() if self.is_adapted(k, first)}
        frozen = {k: v for k, v in theta.items() if k not in adapted}
        # The frozen prefix's output does not change during adaptation: computed once.
        h = support_x if first == 0 else self.model.apply(theta, support_x, 0, first, mask)
        loss, _ = get_loss(self.loss_name)

        def inner_loss(w):
            return loss(self.model.apply({**frozen, **w}, h, first, None, mask), support_y, mask)

        def step(w, _):
            grads = jax.grad(inner_loss)(w)
            if self.first_order:
                grads = lax.stop_gradient(grads)
            return self.inner_update(meta_params, w, grads), None

        adapted, _ = lax.scan(step, adapted, None, length=steps)
        return {**frozen, **adapted}

    def split_predict(self, theta: PyTree):
        """(shared, rest) with predict(phi, x, m) == rest(phi, shared(x, m), m) for every phi
        adapted from theta, or None. The frozen blocks are theta in every adapted model, so
        predictions of many tasks' models on one query set (TRLearner) run them once; None when
        every block is adapted."""
        first = self.first_adapted_block()
        if first == 0:
            return None
        return (lambda x, m: self.model.apply(theta, x, 0, first, m)), (
            lambda phi, h, m: self.model.apply(phi, h, first, None, m)
        )

    def predict(
        self, task_params: PyTree, x: jax.Array, mask: jax.Array | None = None
    ) -> jax.Array:
        """The adapted model's output on x (mask: x's real examples, for transductive norms)."""
        return self.model.apply(task_params, x, mask=mask)
