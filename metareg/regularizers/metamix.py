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
    h_s = model.apply(task_params, episode.support_x, 0, layer, episode.support_mask)[perm]
    h_q = model.apply(task_params, episode.query_x, 0, layer, episode.query_mask)
    out = model.apply(task_params, lam * h_s + (1.0 - lam) * h_q, layer, None, episode.query_mask)
    return mixed_target_loss(learner.loss_name, out, episode, lam, perm)


def mixed_target_loss(loss_name: str, out: jax.Array, episode: Episode, lam: jax.Array, perm: jax.Array) -> jax.Array:
    """Loss of the mixed points' outputs against the mixed targets (mixed point j is real iff query j is)."""
    loss, _ = get_loss(loss_name)
    y_s, mask = episode.support_y[perm], episode.query_mask
    if loss_name == "mse":
        return loss(out, lam * y_s + (1.0 - lam) * episode.query_y, mask)
    return lam * loss(out, y_s, mask) + (1.0 - lam) * loss(out, episode.query_y, mask)


@dataclasses.dataclass(frozen=True)
class MetaMix:
    """Replaces the query loss by the mixup loss; alpha 0.5 for regression (reference code)."""

    alpha: float = 0.5
    layers: tuple[int, ...] = (0, 1, 2)
    name: str = "metamix"

    def sample(self, key: jax.Array, num_support: int, num_query: int, support_mask: jax.Array | None = None):
        """(lam, index into self.layers, perm) for one task.

        With a support mask, partners are real support points only: a random order of the real
        points, cycled when there are fewer of them than query points.
        """
        k_lam, k_layer, k_perm = jax.random.split(key, 3)
        lam = jax.random.beta(k_lam, self.alpha, self.alpha)
        layer_index = jax.random.randint(k_layer, (), 0, len(self.layers))
        if support_mask is not None:
            real = support_mask > 0
            order = jnp.argsort(jnp.where(real, jax.random.uniform(k_perm, (num_support,)), 2.0))  # real points first
            num_real = jnp.maximum(jnp.sum(real), 1)
            perm = order[jnp.arange(num_query) % num_real]
        elif num_support >= num_query:
            perm = jax.random.permutation(k_perm, num_support)[:num_query]
        else:
            perm = jax.random.randint(k_perm, (num_query,), 0, num_support)
        return lam, layer_index, perm

    def query_loss(self, learner, task_params: PyTree, episode: Episode, key: jax.Array) -> jax.Array:
        """The mixed loss of one task at a random candidate layer.

        Branch-free, in one pass (under vmap a `lax.switch` would run every branch): the query
        points go through the blocks, and at the boundary l == chosen layer their hidden state
        is replaced by the mix with the support partners'. Equal to `mixup_loss` at that layer.
        """
        lam, layer_index, perm = self.sample(key, episode.support_x.shape[0], episode.query_x.shape[0], episode.support_mask)
        chosen = jnp.asarray(self.layers)[layer_index]
        model = learner.model
        h_s, h = episode.support_x, episode.query_x
        for block in range(model.num_blocks):
            if block in self.layers:
                h = jnp.where(chosen == block, lam * h_s[perm] + (1.0 - lam) * h, h)
            if block < max(self.layers):  # the support pass is needed only up to the last candidate
                h_s = model.apply(task_params, h_s, block, block + 1, episode.support_mask)
            h = model.apply(task_params, h, block, block + 1, episode.query_mask)
        return mixed_target_loss(learner.loss_name, h, episode, lam, perm)
