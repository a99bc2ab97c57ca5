"""Prototypical networks (Snell et al. 2017): class prototypes, no gradient steps.

"Adapting" to a task computes its prototypes, the mean embedding g(x) of each class's support
examples (g = every block of the model but the head, which ProtoNet never uses); the logits of a
query point are minus its squared Euclidean distances to the prototypes. The task-specific
parameters are {"embedding": theta, "prototypes": [N, F]}, so TRLearner's cross-task predictions
(task p's prototypes on task i's queries) and the evaluation code treat ProtoNet like any learner.
MetaMix, which re-runs a model's later blocks on mixed hidden states, has no head to re-run here
and is rejected by the config.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from metareg.losses import get_loss
from metareg.models.base import BlockModel

PyTree = Any


def prototypes(
    embeddings: jax.Array, labels: jax.Array, num_classes: int, mask: jax.Array | None = None
) -> jax.Array:
    """Mean embedding per class [N, F] of embeddings [K, F] with integer labels [K].

    Masked examples are excluded; a class with no (real) support example gets the zero vector.
    """
    onehot = jax.nn.one_hot(labels, num_classes, dtype=embeddings.dtype)  # [K, N]
    if mask is not None:
        onehot = onehot * mask.astype(embeddings.dtype)[:, None]
    return (onehot.T @ embeddings) / jnp.maximum(jnp.sum(onehot, axis=0), 1.0)[:, None]


def squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
    """|a_i - b_j|^2 [M, N] for a [M, F], b [N, F] (expanded form: one matmul)."""
    return jnp.sum(a * a, -1)[:, None] - 2.0 * a @ b.T + jnp.sum(b * b, -1)[None, :]


@dataclasses.dataclass(frozen=True)
class ProtoNet:
    """Prototypical network over `model`'s feature extractor; `num_classes` = N ways.

    There is no inner loop: `adapt(..., num_steps=s)` accepts s (the learner interface) and ignores
    it, so "test inner steps" change nothing.
    """

    model: BlockModel
    loss_name: str = "cross_entropy"
    num_classes: int = 5
    frozen_blocks: int = 0

    def __post_init__(self):
        if self.loss_name != "cross_entropy":
            raise ValueError(
                f"ProtoNet is a classifier: it needs loss 'cross_entropy', got {self.loss_name!r}"
            )

    def init_learner_params(self, key: jax.Array, model_params: PyTree) -> PyTree:
        del key, model_params
        return {}

    def adapt(
        self,
        meta_params: PyTree,
        support_x: jax.Array,
        support_y: jax.Array,
        num_steps: int | None = None,
        mask=None,
    ) -> PyTree:
        del num_steps
        theta = meta_params["model"]
        protos = prototypes(
            self.model.features(theta, support_x, mask), support_y, self.num_classes, mask
        )
        return {"embedding": theta, "prototypes": protos}

    def predict(
        self, task_params: PyTree, x: jax.Array, mask: jax.Array | None = None
    ) -> jax.Array:
        """Logits [B, N] = -|g(x) - prototype_n|^2."""
        return -squared_distances(
            self.model.features(task_params["embedding"], x, mask), task_params["prototypes"]
        )

    def split_predict(self, theta: PyTree):
        """(shared, rest) as MAML.split_predict: every task's embedding is theta, so many tasks'
        prototypes score one query set from one pass of g (TRLearner's T x T cross-task predictions
        cost T passes, not T^2)."""
        return (lambda x, m: self.model.features(theta, x, m)), (
            lambda phi, h, m: -squared_distances(h, phi["prototypes"])
        )

    def support_loss(
        self, model_params: PyTree, x: jax.Array, y: jax.Array, mask: jax.Array | None = None
    ) -> jax.Array:
        """Cross-entropy of the support set against its own prototypes (for TRLearner's
        head_gradient, which needs a support loss)."""
        loss, _ = get_loss(self.loss_name)
        phi = self.adapt({"model": model_params}, x, y, mask=mask)
        return loss(self.predict(phi, x, mask), y, mask)
