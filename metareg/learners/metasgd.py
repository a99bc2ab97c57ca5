"""MetaSGD (Li et al. 2017): one meta-learned step size per parameter, stored as its log.

phi = theta - exp(log_lr) * grad; log_lr lives in meta_params["learner"]["log_lr"] (same tree as
the model's parameters), initialized to log(inner_lr), and is learned by the outer loss.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp

from metareg.learners.maml import MAML

PyTree = Any


@dataclasses.dataclass(frozen=True)
class MetaSGD(MAML):
    """MAML with per-parameter learned inner step sizes (log space keeps them positive)."""

    def init_learner_params(self, key: jax.Array, model_params: PyTree) -> PyTree:
        del key
        return {
            "log_lr": jax.tree_util.tree_map(
                lambda p: jnp.full_like(p, math.log(self.inner_lr)), model_params
            )
        }

    def inner_update(self, meta_params: PyTree, params: PyTree, grads: PyTree) -> PyTree:
        log_lr = meta_params["learner"]["log_lr"]
        log_lr = {k: log_lr[k] for k in params}  # ANIL-style subsets adapt only some blocks
        return jax.tree_util.tree_map(lambda p, g, lr: p - jnp.exp(lr) * g, params, grads, log_lr)
