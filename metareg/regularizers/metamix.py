"""MetaMix: support/query manifold mixup in the outer loop (Yao et al. 2021).

Facts from the reference code (huaxiuyao/MetaMix), as methods.md records them: after the inner
loop gives phi_i, draw one lam ~ Beta(alpha, alpha) per task and one layer l uniformly from the
candidate set C (0 = input, k = after block k; never after the last block); pair every query
point with a random support point (a permutation when K >= Q, with replacement otherwise); mix
h = lam * f_phi^{<l}(X_s)[perm] + (1 - lam) * f_phi^{<l}(X_q), run blocks l.. with phi, and use
the mixed loss *instead of* the query loss. The inner loop is unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from metareg.losses import get_loss
from metareg.types import Episode

PyTree = Any


def mixup_loss(learner, task_params: PyTree, episode: Episode, lam: jax.Array, layer: int, perm: jax.Array) -> jax.Array:
    """The MetaMix loss of one task at a fixed (static) layer.

    perm: [Q] index of each query point's support partner. Regression mixes targets
    (lam * y_s[perm] + (1 - lam) * y_q); classification mixes the two cross-entropies.
    """
    model = learner.model
    h_s = model.apply(task_params, episode.support_x, 0, layer)[perm]
    h_q = model.apply(task_params, episode.query_x, 0, layer)
    out = model.apply(task_params, lam * h_s + (1.0 - lam) * h_q, layer, None)
    loss, _ = get_loss(learner.loss_name)
    y_s = episode.support_y[perm]
    if learner.loss_name == "mse":
        return loss(out, lam * y_s + (1.0 - lam) * episode.query_y)
    return lam * loss(out, y_s) + (1.0 - lam) * loss(out, episode.query_y)


@dataclasses.dataclass(frozen=True)
class MetaMix:
    """Replaces the query loss by the mixup loss; alpha 0.5 for regression (reference code)."""

    alpha: float = 0.5
    layers: tuple[int, ...] = (0, 1, 2)
    name: str = "metamix"

    def sample(self, key: jax.Array, num_support: int, num_query: int):
        """(lam, index into self.layers, perm) for one task."""
        k_lam, k_layer, k_perm = jax.random.split(key, 3)
        lam = jax.random.beta(k_lam, self.alpha, self.alpha)
        layer_index = jax.random.randint(k_layer, (), 0, len(self.layers))
        if num_support >= num_query:
            perm = jax.random.permutation(k_perm, num_support)[:num_query]
        else:
            perm = jax.random.randint(k_perm, (num_query,), 0, num_support)
        return lam, layer_index, perm

    def query_loss(self, learner, task_params: PyTree, episode: Episode, key: jax.Array) -> jax.Array:
        """The mixed loss of one task, the random layer chosen by lax.switch."""
        lam, layer_index, perm = self.sample(key, episode.support_x.shape[0], episode.query_x.shape[0])
        branches = [functools.partial(mixup_loss, learner, layer=layer, perm=perm) for layer in self.layers]
        return jax.lax.switch(layer_index, branches, task_params, episode, lam)
