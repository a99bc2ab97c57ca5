"""Meta-Aug (Rajendran et al. 2020): augment each task so it cannot be memorized.

Regression (google-research/meta_augmentation): one random offset per task, U(-offset, offset)
(default 1), added to the targets of both its support and query sets, before adaptation. The
model can only predict the shifted targets by reading the offset from the support set, which
forces it to adapt. Classification (integer labels): one random permutation of the N labels per
task, applied to support and query alike, so a class's label must be read from the support set
(in the non-mutually-exclusive setting this undoes the fixed class-to-label slots).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from metareg.regularizers.base import Regularizer
from metareg.types import Episode


@dataclasses.dataclass(frozen=True)
class MetaAug(Regularizer):
    """An episode transform: shifts all targets of a task by one U(-offset, offset) draw, or
    permutes its class labels (num_classes: N, required for integer labels)."""

    offset: float = 1.0
    num_classes: int | None = None
    name: str = "meta_aug"

    def transform_episodes(self, episodes: Episode, key: jax.Array) -> Episode:
        t = episodes.num_tasks
        if jnp.issubdtype(episodes.support_y.dtype, jnp.integer):
            if self.num_classes is None:
                raise ValueError(
                    "MetaAug on classification tasks needs num_classes (the N of N-way) to "
                    "permute labels"
                )
            perms = jax.vmap(lambda k: jax.random.permutation(k, self.num_classes))(
                jax.random.split(key, t)
            )  # [T, N]
            relabel = jax.vmap(lambda p, y: p[y])
            return episodes.replace(
                support_y=relabel(perms, episodes.support_y),
                query_y=relabel(perms, episodes.query_y),
            )
        shift = jax.random.uniform(key, (t, 1, 1), minval=-self.offset, maxval=self.offset)
        clean = None if episodes.query_y_clean is None else episodes.query_y_clean + shift
        return episodes.replace(
            support_y=episodes.support_y + shift,
            query_y=episodes.query_y + shift,
            query_y_clean=clean,
        )
