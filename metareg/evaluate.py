"""Meta-test: adapt on each test task's support set, score its query set, mean and 95% CI.

Metrics per task come from `metareg.metrics.task_metrics`: regression reports the MSE against
the noiseless function at the query points (`mse_clean`, the primary metric of methods.md),
against the targets as given (`mse_noisy`) and the squared Pearson correlation (`r2`, with the
count of tasks above 0.3); classification reports `accuracy` and `nll`; for every requested
number of test-time inner steps. Padded examples (masks) never count.

By default every test task adapts from meta_params as stored (for MR-MAML-W: the posterior mean).
`samplers` (regularizers with `sample_meta_params`, e.g. MR-MAML with test_weights="sample") make
each test task adapt from its own draw instead, keyed by the task's index, so the numbers do not
depend on the chunking. With no samplers the computation is exactly the one without the option.

The test tasks come as one Episode batch, or as `IndexedEpisodes` (what `sample_test_episodes` makes
for the families that sample by index, Omniglot and pose): their indices are drawn at once and their
images gathered one chunk at a time, so evaluation holds `batch_size` tasks' images, not all of them
(1000 pose tasks at 128 px and 15 shots are 2 GB), with the same numbers (the same indices, the same
gather).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from metareg.confidence import task_ci95
from metareg.metrics import HIGHER_IS_BETTER, R2_RELIABLE, task_metrics
from metareg.rng import named_key
from metareg.tasks.base import IndexedTasks
from metareg.types import Episode, check_episode

PyTree = Any

# the CI over test tasks (metareg.confidence says which CI is meant where); the public name
mean_ci95 = task_ci95


@functools.partial(jax.jit, static_argnames=("learner", "num_steps", "samplers"))
def per_task_errors(
    meta_params: PyTree,
    episodes: Episode,
    learner,
    num_steps: int,
    samplers: tuple = (),
    task_keys: jax.Array | None = None,
) -> dict[str, jax.Array]:
    """Per-task query errors [T] after `num_steps` inner steps on each support set.

    samplers: regularizers whose `sample_meta_params` draws each task's meta-parameters, from
    task_keys [T] (one key per task); () = every task adapts from meta_params as given.
    """

    def one(ep: Episode, key):
        params = meta_params
        for r in samplers:
            params = r.sample_meta_params(params, named_key(key, f"{r.name}/weights"))
        phi = learner.adapt(
            params, ep.support_x, ep.support_y, num_steps=num_steps, mask=ep.support_mask
        )
        return task_metrics(learner.loss_name, learner.predict(phi, ep.query_x, ep.query_mask), ep)

    if not samplers:
        return jax.vmap(lambda ep: one(ep, None))(episodes)
    return jax.vmap(one)(episodes, task_keys)


@dataclasses.dataclass(frozen=True)
class IndexedEpisodes:
    """T test episodes, materialized chunk by chunk.

    `take(task_ids int32 [b])` -> their Episode batch."""

    num_tasks: int
    take: Callable[[jax.Array], Episode]

    @classmethod
    def from_batch(cls, episodes: Episode) -> IndexedEpisodes:
        return cls(
            episodes.num_tasks, lambda ids: jax.tree_util.tree_map(lambda a: a[ids], episodes)
        )


def sample_test_episodes(family, key: jax.Array, num_tasks: int) -> Episode | IndexedEpisodes:
    """The family's `num_tasks` meta-test episodes from `key`, as
    `family.sample_test(key, num_tasks)` draws them; lazily (IndexedEpisodes) when the family
    samples indices first (a `metareg.tasks.base.IndexedTasks`)."""
    if not isinstance(family, IndexedTasks):
        return family.sample_test(key, num_tasks)
    indices = family.sample_indices(key, num_tasks, train=False)
    return IndexedEpisodes(num_tasks, functools.partial(_take_test_episodes, family, indices))


@jax.jit
def _take_test_episodes(family, indices, task_ids: jax.Array) -> Episode:
    # The family (a pytree: its image arrays are arguments, not constants baked into the
    # program) gathers the chunk.
    return family.episodes(*jax.tree_util.tree_map(lambda a: a[task_ids], indices), train=False)


def evaluate(
    meta_params: PyTree,
    learner,
    episodes: Episode | IndexedEpisodes,
    inner_steps: tuple[int, ...] = (1, 10),
    batch_size: int = 100,
    samplers: tuple = (),
    key: jax.Array | None = None,
) -> dict[str, dict[str, float]]:
    """Metrics over the T test episodes for each inner-step count.

    Returns {"mse_clean@10": {"mean", "ci95", "num_tasks"}, ...}. Tasks are processed in chunks of
    `batch_size` (the last chunk padded by repeating tasks, then dropped) so one compile serves all;
    each chunk is materialized once, for every inner-step count.
    samplers / key: test task i adapts from a draw of the meta-parameters keyed by fold_in(key, i)
    (the same draw for every inner-step count); see the module docstring. Without them a stochastic
    regularizer's meta-parameters enter at their mean. The CLI (metareg.train) passes MR-MAML-W's
    sampler when `mr_maml.test_weights="sample"` (its default), so to match a CLI run's numbers pass
    `samplers=tuple(r for r in objective.regularizers if r.sample_at_test)` and a key.
    """
    if isinstance(episodes, Episode):
        # flat targets [T, K] would broadcast against [T, K, 1] predictions: refuse at the door
        check_episode(episodes, learner.loss_name, None, batched=True)
        episodes = IndexedEpisodes.from_batch(episodes)
    t = episodes.num_tasks
    b = min(batch_size, t)
    pad = (-t) % b
    task_ids = jnp.arange(t + pad, dtype=jnp.int32) % t  # the padding repeats the first tasks
    samplers = tuple(samplers)
    keys = None
    if samplers:
        if key is None:
            raise ValueError("evaluate: samplers need a key for the test-time draws")
        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(task_ids)
    chunks = {steps: [] for steps in inner_steps}
    for start in range(0, t + pad, b):
        chunk = episodes.take(task_ids[start : start + b])
        chunk_keys = None if keys is None else keys[start : start + b]
        for steps in inner_steps:
            chunks[steps].append(
                jax.device_get(
                    per_task_errors(meta_params, chunk, learner, steps, samplers, chunk_keys)
                )
            )
    results = {}
    for steps in inner_steps:
        for name in chunks[steps][0]:
            values = np.concatenate([c[name] for c in chunks[steps]])[:t]
            diverged = ~np.isfinite(values)
            values = np.where(diverged, np.inf, values)  # a diverged adaptation has infinite error
            if name in HIGHER_IS_BETTER:  # a diverged adaptation gets the worst score, 0
                values = np.where(diverged, 0.0, values)
            mean, ci = mean_ci95(values)
            results[f"{name}@{steps}"] = entry = {
                "mean": mean,
                "ci95": ci,
                "median": float(np.median(values)),
                "num_tasks": int(t),
                # adaptation can diverge on some tasks (e.g. many test steps): count them,
                # keep the mean honest
                "num_nonfinite": int(np.sum(diverged)),
            }
            if name == "r2":
                entry["num_above_0.3"] = int(np.sum(values > R2_RELIABLE))
                entry["fraction_above_0.3"] = float(np.mean(values > R2_RELIABLE))
    return results
