"""Learner wrappers: a learner whose forward pass a regularizer changes, at meta-training and at
meta-test alike (Dropout-Bins' versions of the meta-knowledge, MetaCRL's factor layer).

A wrapper holds the learner it wraps (`base`) and answers everything it does not change from it
(`model`, `loss_name`, `support_loss`, `first_adapted_block`, ...), so TRLearner, the adaptive
sampler and `evaluate` use it as they use any learner. Its `adapt` runs the base learner with a
per-task model (`with_model` swaps the BlockModel at the bottom of a chain of wrappers) and returns
task parameters of its own layout, which its `predict` reads. `MetaObjective` wraps its learner
once with each regularizer's `wrap_learner` (idempotent: `find_wrapper`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

PyTree = Any


@dataclasses.dataclass(frozen=True)
class LearnerWrapper:
    """A learner around `base`; subclasses override adapt / predict / split_predict."""

    base: Any

    def __getattr__(self, name: str):
        # only called when normal lookup fails: delegate to the wrapped learner (never for dunder
        # names or `base` itself, which copy/pickle probe before the fields exist)
        if name == "base" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.base, name)

    @property
    def model(self):
        """The plain BlockModel at the bottom of the chain (what the meta-parameters are of)."""
        return self.base.model

    @property
    def loss_name(self) -> str:
        return self.base.loss_name

    def init_learner_params(self, key: jax.Array, model_params: PyTree) -> PyTree:
        return self.base.init_learner_params(key, model_params)

    def support_loss(self, model_params: PyTree, x, y, mask=None) -> jax.Array:
        """The base learner's support loss at plain meta-parameters (TRLearner's head_gradient)."""
        return self.base.support_loss(model_params, x, y, mask)

    def adapt(self, meta_params, support_x, support_y, num_steps=None, mask=None) -> PyTree:
        return self.base.adapt(meta_params, support_x, support_y, num_steps, mask)

    def predict(self, task_params: PyTree, x: jax.Array, mask=None) -> jax.Array:
        return self.base.predict(task_params, x, mask)

    def split_predict(self, theta: PyTree):
        return None


def with_model(learner, model):
    """`learner` with the BlockModel at the bottom of its chain of wrappers replaced by `model`."""
    if isinstance(learner, LearnerWrapper):
        return dataclasses.replace(learner, base=with_model(learner.base, model))
    return dataclasses.replace(learner, model=model)


def find_wrapper(learner, cls):
    """The first wrapper of type `cls` in `learner`'s chain, or None."""
    while isinstance(learner, LearnerWrapper):
        if isinstance(learner, cls):
            return learner
        learner = learner.base
    return None


def replace_wrapper(learner, cls, **changes):
    """`learner` with the first wrapper of type `cls` in its chain replaced by
    `dataclasses.replace(wrapper, **changes)` (unchanged when there is none)."""
    if isinstance(learner, cls):
        return dataclasses.replace(learner, **changes)
    if isinstance(learner, LearnerWrapper):
        return dataclasses.replace(learner, base=replace_wrapper(learner.base, cls, **changes))
    return learner


def head_boundary(model) -> int:
    """Index of the head block: the feature extractor g is blocks [0, head_boundary)."""
    return model.num_blocks - 1


def shared_prefix_end(learner) -> int:
    """Where the part of a prediction shared by every adapted model ends (the base learner's
    `split_predict`): the first adapted block of a MAML-family learner, the whole feature
    extractor for ProtoNet."""
    first = getattr(learner, "first_adapted_block", None)
    return head_boundary(learner.model) if first is None else first()
