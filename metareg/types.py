"""The Episode pytree: one task's support and query sets, or a batch of them.

Shape letters: T tasks, K support points, Q query points, D input width, O output width.
A single task has support_x [K, D], support_y [K, O], query_x [Q, D], query_y [Q, O];
a meta-batch adds a leading task axis T to every leaf. Learners only ever see single
tasks: the one `vmap` over tasks lives in `meta_step.meta_loss`.

Variable-size tasks (drug assays hold 4 to hundreds of compounds) are padded to fixed K and Q
per run, with `support_mask` [K] / `query_mask` [Q] float32 (1 = real example, 0 = padding).
Everything that reduces over examples (losses, transductive normalization, MetaMix partners,
TRLearner's task statistics, metrics) honours the masks, so padding never changes a number.
None means every example is real.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax

Array = jax.Array
PyTree = Any


@flax.struct.dataclass
class Episode:
    """Support and query data of one task (or T tasks with a leading axis).

    `query_y_clean` holds the noiseless targets where the task family knows them
    (regression), for evaluation against the true function; it is None otherwise.
    `support_mask` / `query_mask`: 1 for real examples, 0 for padding (None: all real).
    """

    support_x: Array
    support_y: Array
    query_x: Array
    query_y: Array
    query_y_clean: Array | None = None
    support_mask: Array | None = None
    query_mask: Array | None = None

    @property
    def num_tasks(self) -> int:
        """T, for a batched episode."""
        return self.support_x.shape[0]


def task(episodes: Episode, i: int) -> Episode:
    """Task i of a batched episode (a Python-side helper for tests and plots)."""
    return jax.tree_util.tree_map(lambda a: a[i], episodes)
