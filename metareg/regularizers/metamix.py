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
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from metareg.losses import get_loss
from metareg.regularizers import channel_shuffle as cs
from metareg.regularizers.base import Regularizer
from metareg.rng import named_key
from metareg.types import Episode

PyTree = Any


# The paper's mixture strategies (MetaMix Tables 3, 7, 13, 16), by the sets mixed: (scored
# set, partner set). "concat" is D^s (+) D^q: the outer loss on the support and query sets
# together, no mixing.
STRATEGIES = {
    "support_query": ("query", "support"),  # Mixup(D^s, D^q): MetaMix
    "query_query": ("query", "query"),  # Mixup(D^q, D^q)
    "support_support": ("support", "support"),  # Mixup(D^s, D^s)
    "concat": None,  # D^s (+) D^q
}


def _set(episode: Episode, which: str):
    """(x, y, mask) of the episode's support or query set."""
    if which == "support":
        return episode.support_x, episode.support_y, episode.support_mask
    return episode.query_x, episode.query_y, episode.query_mask


def mixup_loss(
    learner,
    task_params: PyTree,
    episode: Episode,
    lam: jax.Array,
    layer: int,
    perm: jax.Array,
    strategy: str = "support_query",
) -> jax.Array:
    """The MetaMix loss of one task at a fixed (static) layer.

    perm: index of each scored point's partner (for MetaMix: each query point's support partner).
    h = lam * h_partner[perm] + (1 - lam) * h_scored; regression mixes the targets the same way,
    classification mixes the two cross-entropies.
    """
    scored, partner = STRATEGIES[strategy]
    (x_a, y_a, m_a), (x_b, y_b, m_b) = _set(episode, scored), _set(episode, partner)
    model = learner.model
    h_b = model.apply(task_params, x_b, 0, layer, m_b)[perm]
    h_a = model.apply(task_params, x_a, 0, layer, m_a)
    out = model.apply(task_params, lam * h_b + (1.0 - lam) * h_a, layer, None, m_a)
    return mixed_target_loss(learner.loss_name, out, y_a, y_b[perm], m_a, lam)


def mixed_target_loss(
    loss_name: str, out: jax.Array, y: jax.Array, y_partner: jax.Array, mask, lam: jax.Array
) -> jax.Array:
    """Loss of the mixed points' outputs against the mixed targets.

    Mixed point j is real iff scored point j is."""
    loss, _ = get_loss(loss_name)
    if loss_name == "mse":
        return loss(out, lam * y_partner + (1.0 - lam) * y, mask)
    return lam * loss(out, y_partner, mask) + (1.0 - lam) * loss(out, y, mask)


def concat_loss(learner, task_params: PyTree, episode: Episode) -> jax.Array:
    """D^s (+) D^q: the loss over the support and query points together (each set through the model
    on its own, as the reference runs them, so transductive norms see one set at a time)."""
    loss, _ = get_loss(learner.loss_name)
    sets = [_set(episode, "support"), _set(episode, "query")]
    out = jnp.concatenate([learner.predict(task_params, x, m) for x, _, m in sets])
    y = jnp.concatenate([y for _, y, _ in sets])
    masks = [jnp.ones(x.shape[0]) if m is None else m for x, _, m in sets]
    return loss(out, y, jnp.concatenate(masks))


@dataclasses.dataclass(frozen=True)
class MetaMix(Regularizer):
    """Replaces the query loss by the mixup loss; alpha 0.5 for regression (reference code).

    layers: candidate mix layers (0 = input, k = after block k); default the MLP's hidden layers.
    strategy: which sets are mixed (STRATEGIES); "support_query" is MetaMix, the others are the
    paper's ablations.
    """

    alpha: float = 0.5
    layers: tuple[int, ...] = (1, 2)
    strategy: str = "support_query"
    # Channel Shuffle (metareg.regularizers.channel_shuffle): on from `cs_start_step`,
    # in a `cs_prob` fraction of the outer steps, at a layer of `cs_layers` (where the
    # mix then happens too).
    channel_shuffle: bool = False
    cs_layers: tuple[int, ...] = (1, 2, 3)
    cs_start_step: int = 2000
    cs_prob: float = 0.5
    # N of the class-major episodes Channel Shuffle permutes (set by the factory)
    num_classes: int = 0
    name: str = "metamix"
    replaces_query_loss: ClassVar[bool] = True

    def __post_init__(self):
        """The section's own rules (the CLI's config check builds this object, so both say the
        same); the config checks the layers against the model's depth."""
        if self.alpha <= 0:
            raise ValueError(f"metamix.alpha must be > 0, got {self.alpha}")
        if not self.layers or min(self.layers) < 0:
            raise ValueError(
                f"metamix.layers {tuple(self.layers)} must be non-empty and >= 0 (0 = input, "
                "k = after block k)"
            )
        if not 0 <= self.cs_prob <= 1 or self.cs_start_step < 0:
            raise ValueError(
                f"metamix.cs_prob ({self.cs_prob}) must be in [0, 1] and metamix.cs_start_step "
                f"({self.cs_start_step}) >= 0"
            )
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"unknown metamix.strategy {self.strategy!r}; choose from {sorted(STRATEGIES)}"
            )
        if self.channel_shuffle and self.strategy != "support_query":
            raise ValueError(
                "metamix.channel_shuffle runs with the support_query strategy only (MetaMix + CS)"
            )
        if self.channel_shuffle and self.num_classes < 2:
            raise ValueError(
                "metamix.channel_shuffle permutes classes: it needs a classification family "
                "(num_classes >= 2)"
            )

    def shuffle_on(self, key: jax.Array, step: jax.Array | None) -> jax.Array:
        """This outer step's Channel Shuffle coin, shared by its tasks (always False without it)."""
        if not self.channel_shuffle:
            return jnp.asarray(False)
        on = jax.random.bernoulli(key, self.cs_prob)
        return on if step is None else on & (step >= self.cs_start_step)

    def _shuffle_draw(self, key: jax.Array, on: jax.Array) -> cs.ShuffleDraw:
        return cs.draw(named_key(key, "channel_shuffle"), self.num_classes, self.cs_layers, on)

    def inner_learner(self, learner, episode: Episode, key: jax.Array, shuffle_on: jax.Array):
        """The learner one task's inner loop runs: under Channel Shuffle, its model shuffles the
        support's channels at the drawn layer in every inner step (the same draw as `query_loss`'s).
        """
        if not self.channel_shuffle:
            return learner
        model = cs.ShuffledModel(learner.model, self._shuffle_draw(key, shuffle_on), self.cs_layers)
        return dataclasses.replace(learner, model=model)

    def sample(
        self,
        key: jax.Array,
        num_support: int,
        num_query: int,
        support_mask: jax.Array | None = None,
    ):
        """(lam, index into self.layers, perm) for one task: perm [num_query] picks each scored
        point's partner among the num_support partner points.

        With a support mask, partners are real support points only: a random order of the real
        points, cycled when there are fewer of them than query points.
        """
        k_lam, k_layer, k_perm = jax.random.split(key, 3)
        lam = jax.random.beta(k_lam, self.alpha, self.alpha)
        layer_index = jax.random.randint(k_layer, (), 0, len(self.layers))
        if support_mask is not None:
            real = support_mask > 0
            # real points first
            order = jnp.argsort(jnp.where(real, jax.random.uniform(k_perm, (num_support,)), 2.0))
            num_real = jnp.maximum(jnp.sum(real), 1)
            perm = order[jnp.arange(num_query) % num_real]
        elif num_support >= num_query:
            perm = jax.random.permutation(k_perm, num_support)[:num_query]
        else:
            perm = jax.random.randint(k_perm, (num_query,), 0, num_support)
        return lam, layer_index, perm

    def query_loss(
        self, learner, task_params: PyTree, episode: Episode, key: jax.Array, shuffle_on=None
    ) -> jax.Array:
        """The mixed loss of one task at a random candidate layer.

        Branch-free, in one pass (under vmap a `lax.switch` would run every branch): the scored
        points go through the blocks, and at the boundary l == chosen layer their hidden state is
        replaced by the mix with their partners'. Equal to `mixup_loss` at that layer. With Channel
        Shuffle on (`shuffle_on`), the layer is the shuffle's and both sets are shuffled there
        before the mix.
        """
        if STRATEGIES[self.strategy] is None:
            return concat_loss(learner, task_params, episode)
        scored, partner = STRATEGIES[self.strategy]
        (x_a, y_a, m_a), (x_b, y_b, m_b) = _set(episode, scored), _set(episode, partner)
        lam, layer_index, perm = self.sample(key, x_b.shape[0], x_a.shape[0], m_b)
        chosen = jnp.asarray(self.layers)[layer_index]
        boundaries = set(self.layers)
        if self.channel_shuffle:
            d = self._shuffle_draw(key, jnp.asarray(False) if shuffle_on is None else shuffle_on)
            chosen = jnp.where(d.on, d.layer, chosen)
            boundaries |= set(self.cs_layers)
        model = learner.model
        h_b, h = x_b, x_a
        for block in range(model.num_blocks):
            if block in boundaries:
                if self.channel_shuffle:
                    at = d.layer == block
                    h_b = jnp.where(at, cs.shuffle_channels(h_b, d), h_b)
                    h = jnp.where(at, cs.shuffle_channels(h, d), h)
                h = jnp.where(chosen == block, lam * h_b[perm] + (1.0 - lam) * h, h)
            if block < max(boundaries):  # the partner pass is needed only up to the last candidate
                h_b = model.apply(task_params, h_b, block, block + 1, m_b)
            h = model.apply(task_params, h, block, block + 1, m_a)
        return mixed_target_loss(learner.loss_name, h, y_a, y_b[perm], m_a, lam)
