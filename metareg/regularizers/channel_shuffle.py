"""Channel Shuffle, MetaMix's companion ("MetaMix + CS"), as the reference code applies it.

From huaxiuyao/MetaMix omniglot/ (docs/sources/metamix_reference_code.md, section 6): per task, one
layer l from {1, 2, 3}, one random cycle over the N classes (class i takes from class c(i) != i) and
one of six fixed channel groups (of 64 channels: [0:12], [12:22], [22:32], [32:44], [44:54],
[54:64]); the k-th sample of class i gets that group's channels, over the whole feature map, from
the k-th sample of class c(i) and keeps its label. It acts on the support's hidden state at l in
every inner step, and on the support and the query hidden states at l before MetaMix mixes them
there. It is off for the first 2,000 outer steps, then on in half of the outer steps (one coin per
step for all tasks), and never at test.

Episodes must be class-major with equal counts per class (label j at rows j*n .. j*n + n - 1), as
the Omniglot episodes are.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from metareg.models.base import BlockModel

PyTree = Any

# The reference's channel-group boundaries for 64 channels ("concept_idx"); other widths scale them.
REFERENCE_GROUPS = (0, 12, 22, 32, 44, 54, 64)


def channel_groups(width: int) -> tuple[int, ...]:
    """Boundaries of the six channel groups of a `width`-channel feature map."""
    return tuple(round(b * width / 64) for b in REFERENCE_GROUPS)


class ShuffleDraw(NamedTuple):
    """One task's draw: layer, each class's partner class, channel group, and whether it is on."""

    layer: jax.Array  # int32 []: shuffle the input of this block
    partner: jax.Array  # int32 [N]: class i takes channels from class partner[i] (one N-cycle)
    group: jax.Array  # int32 []: which of the six channel groups
    on: jax.Array  # bool []


def draw(key: jax.Array, ways: int, layers: tuple[int, ...], on: jax.Array) -> ShuffleDraw:
    """The reference's per-task draw: layer uniform over `layers`, random cycle, channel group."""
    k_layer, k_cycle, k_group = jax.random.split(key, 3)
    layer = jnp.asarray(layers)[jax.random.randint(k_layer, (), 0, len(layers))]
    order = jax.random.permutation(k_cycle, ways)
    # the cycle order[0] <- order[1] <- ... : class order[i + 1] takes from class order[i]
    partner = jnp.zeros(ways, jnp.int32).at[jnp.roll(order, -1)].set(order)
    group = jax.random.randint(k_group, (), 0, len(REFERENCE_GROUPS) - 1)
    return ShuffleDraw(layer, partner, group, jnp.asarray(on))


def shuffle_channels(h: jax.Array, d: ShuffleDraw) -> jax.Array:
    """h [B, ..., C] of a class-major set (B = N * n): sample k of class i takes the channels of
    group `d.group` from sample k of class partner[i]; the identity when the draw is off."""
    bounds = jnp.asarray(channel_groups(h.shape[-1]))
    ways = d.partner.shape[0]
    per_class = h.shape[0] // ways
    rows = jnp.arange(h.shape[0])
    source = d.partner[rows // per_class] * per_class + rows % per_class
    channel = jnp.arange(h.shape[-1])
    take = (channel >= bounds[d.group]) & (channel < bounds[d.group + 1]) & d.on
    return jnp.where(take, h[source], h)


@dataclasses.dataclass(frozen=True, eq=False)
class ShuffledModel:
    """A BlockModel whose forward pass shuffles channels at the input of block `d.layer`: the model
    an inner loop runs on a task's support set under Channel Shuffle. Built inside the traced step
    (it holds the task's draw), never a static argument."""

    base: BlockModel
    d: ShuffleDraw
    layers: tuple[int, ...]

    @property
    def num_blocks(self) -> int:
        return self.base.num_blocks

    @property
    def head_name(self) -> str:
        return self.base.head_name

    def apply(
        self, params: PyTree, x: jax.Array, start: int = 0, end: int | None = None, mask=None
    ) -> jax.Array:
        end = self.num_blocks if end is None else end
        h = x
        for block in range(start, end):
            if block in self.layers:
                h = jnp.where(self.d.layer == block, shuffle_channels(h, self.d), h)
            h = self.base.apply(params, h, block, block + 1, mask)
        return h

    def features(self, params: PyTree, x: jax.Array, mask=None) -> jax.Array:
        return self.apply(params, x, 0, self.num_blocks - 1, mask)
