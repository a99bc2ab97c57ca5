"""The regularizer interface: the hooks `meta_step.meta_loss` calls, each a no-op by default.

A regularizer subclasses `Regularizer` (usually as a frozen dataclass: it is a static, hashable part
of the jitted step) and overrides the hooks it needs; `MetaObjective` refuses anything else, so the
step calls methods instead of probing for them. Order within one outer step:

  wrap_learner(learner)
      once, when the MetaObjective is built: the learner every task adapts and predicts with, at
      meta-training and at meta-test (Dropout-Bins' versions, MetaCRL's factor layer; a
      metareg.learners.wrapper.LearnerWrapper); set `wraps_learner`; must be idempotent
  init(key, learner, model_params, example)
      own meta-parameters, stored in meta_params["regularizers"][name] (None: it has none)
  check_meta_batch(num_tasks)
      raise at trace time when the meta-batch cannot work
  transform_episodes(episodes, key)
      act on the data before adaptation (Meta-Aug)
  sample_meta_params(meta_params, key)
      draw stochastic meta-parameters once per step (MR-MAML-W); set `samples_meta_params`; its
      own penalty then gets the mean ones
  inner_learner
      the learner one task adapts with, given a per-task key (MetaMix's Channel Shuffle, the
      dropout draw of Dropout-Bins); every regularizer's is called, in order
  query_loss
      replace one task's query loss (MetaMix); set `replaces_query_loss` (at most one may)
  penalty(meta_params, learner, episodes, task_params, key) -> (value, aux) or None
      add weight * value to the outer loss (TRLearner, MR-MAML's KL)
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax

from metareg.types import Episode

PyTree = Any


class Regularizer:
    """Base of every meta-regularizer; see the module docstring for the hooks and their order."""

    # subclasses declare `name` as a field; it keys their meta-parameters
    name: ClassVar[str] = "regularizer"
    # the penalty's factor in the outer loss (regularizers with a penalty)
    weight: ClassVar[float] = 0.0
    replaces_query_loss: ClassVar[bool] = False
    # changes the learner's forward pass through `wrap_learner`
    wraps_learner: ClassVar[bool] = False
    samples_meta_params: ClassVar[bool] = False
    # also drawn from at meta-test (`evaluate(..., samplers=...)`)
    sample_at_test: ClassVar[bool] = False

    def wrap_learner(self, learner):
        """The learner of the whole objective, training and meta-test (unchanged by default)."""
        return learner

    def init(
        self, key: jax.Array, learner, model_params: PyTree, example: Episode
    ) -> PyTree | None:
        del key, learner, model_params, example
        return None

    def check_meta_batch(self, num_tasks: int) -> None:
        del num_tasks

    def transform_episodes(self, episodes: Episode, key: jax.Array) -> Episode:
        del key
        return episodes

    def sample_meta_params(self, meta_params: PyTree, key: jax.Array) -> PyTree:
        del key
        return meta_params

    def shuffle_on(self, key: jax.Array, step: jax.Array | None) -> jax.Array | None:
        """Per-step switch of a query-loss regularizer's extra draw (MetaMix's Channel Shuffle);
        None when it has none."""
        del key, step
        return None

    def inner_learner(
        self, learner, episode: Episode, key: jax.Array, shuffle_on: jax.Array | None
    ):
        """The learner one task adapts with (unchanged by default). `key` is the task's own: the
        query mixer gets the task key itself, the others named_key(task key, name)."""
        del episode, key, shuffle_on
        return learner

    def query_loss(
        self, learner, task_params: PyTree, episode: Episode, key: jax.Array, shuffle_on=None
    ) -> jax.Array:
        raise NotImplementedError(
            f"{type(self).__name__} sets replaces_query_loss but does not define query_loss"
        )

    def penalty(
        self,
        meta_params: PyTree,
        learner,
        episodes: Episode,
        task_params: PyTree,
        key: jax.Array | None = None,
    ) -> tuple[jax.Array, dict] | None:
        del meta_params, learner, episodes, task_params, key
        return None


def check_composition(regularizers) -> None:
    """ValueError for regularizers that cannot run together: a query-loss replacement (MetaMix)
    re-runs the model's blocks on the adapted parameters, which a learner wrapper's task
    parameters are not. The CLI's config check and MetaObjective both call this."""
    mixers = [r.name for r in regularizers if r.replaces_query_loss]
    wrappers = [r.name for r in regularizers if r.wraps_learner]
    if mixers and wrappers:
        raise ValueError(
            f"{mixers[0]} re-runs the model's blocks on the adapted parameters and cannot run "
            f"through the forward pass {wrappers[0]} changes (its task parameters are not the "
            f"model's); use {' and '.join(wrappers)} without {mixers[0]}"
        )
