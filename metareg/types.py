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


def check_episode(
    episode: Episode, loss_name: str, output_width: int | None, batched: bool = False
) -> None:
    """ValueError naming the fix when an episode's arrays do not fit the family's declared loss
    and output width: targets [K, O] for "mse" (a flat [K] would broadcast against [K, O]
    predictions into a silently wrong loss), integer labels [K] for "cross_entropy", masks the
    length of their sets. `batched`: the arrays carry a leading task axis T. output_width None:
    any width (only the rank and dtype are checked)."""
    lead = 1 if batched else 0
    where = "[T, K, ...]" if batched else "[K, ...]"
    for part in ("support", "query"):
        x, y = getattr(episode, f"{part}_x"), getattr(episode, f"{part}_y")
        shape = tuple(y.shape)
        if loss_name == "mse":
            width = shape[-1] if output_width is None and len(shape) == lead + 2 else output_width
            want = (*x.shape[: lead + 1], width)
            if shape != want:
                fix = (
                    " add the output axis: y[..., None]"
                    if shape == want[:-1]
                    else f" give every target {width} value(s)"
                )
                shown = ", ".join(str(d) for d in (*want[:-1], "O" if width is None else width))
                raise ValueError(
                    f"{part}_y has shape {shape}; a regression family with output_width "
                    f"{width or 'O'} needs {part} targets [{shown}] ({where[:-4]}output_width]):"
                    f"{fix}"
                )
        elif loss_name == "cross_entropy":
            want = tuple(x.shape[: lead + 1])
            if shape != want or not jax.numpy.issubdtype(y.dtype, jax.numpy.integer):
                raise ValueError(
                    f"{part}_y has shape {shape} and dtype {y.dtype}; a classification family "
                    f"needs integer class labels of shape {list(want)} (one per example, in "
                    f"[0, {output_width or 'N'})): use y.astype(jnp.int32), not one-hot vectors"
                )
        mask = getattr(episode, f"{part}_mask")
        if mask is not None and tuple(mask.shape) != tuple(x.shape[: lead + 1]):
            raise ValueError(
                f"{part}_mask has shape {tuple(mask.shape)}; it marks each {part} example real "
                f"(1) or padding (0), so it must be {list(x.shape[: lead + 1])}"
            )
    if episode.query_y_clean is not None and episode.query_y_clean.shape != episode.query_y.shape:
        raise ValueError(
            f"query_y_clean has shape {tuple(episode.query_y_clean.shape)}; it holds the "
            f"noiseless query targets, so it must be the shape of query_y "
            f"{tuple(episode.query_y.shape)}"
        )
