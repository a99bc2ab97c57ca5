"""Meta-Aug (Rajendran et al. 2020): augment each task so it cannot be memorized.

Regression (google-research/meta_augmentation): one random offset per task, U(-offset, offset)
(default 1), added to the targets of both its support and query sets, before adaptation. The
model can only predict the shifted targets by reading the offset from the support set, which
forces it to adapt. Classification (label permutation per task) comes with the classification tasks.
"""

from __future__ import annotations

import dataclasses

import jax

from metareg.types import Episode


@dataclasses.dataclass(frozen=True)
class MetaAug:
    """An episode transform: shifts all targets of a task by one U(-offset, offset) draw."""

    offset: float = 1.0
    name: str = "meta_aug"

    def transform_episodes(self, episodes: Episode, key: jax.Array) -> Episode:
        t = episodes.num_tasks
        shift = jax.random.uniform(key, (t, 1, 1), minval=-self.offset, maxval=self.offset)
        clean = None if episodes.query_y_clean is None else episodes.query_y_clean + shift
        return episodes.replace(support_y=episodes.support_y + shift, query_y=episodes.query_y + shift, query_y_clean=clean)
