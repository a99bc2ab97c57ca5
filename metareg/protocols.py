"""The interfaces the outer step calls: what a task family and a learner provide.

`meta_step`, `evaluate` and the regularizers call these methods and nothing else, so any object
that has them plugs in (a regularizer subclasses `metareg.regularizers.Regularizer`, whose hooks
are no-ops by default). `metareg.tasks.check_family` reads the task-family protocol from here to
name what a family lacks.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import jax

from metareg.types import Episode, PyTree


@runtime_checkable
class TaskFamily(Protocol):
    """A distribution of tasks. It is an argument of the jitted outer step, so it must be a pytree
    whose leaves are arrays (a `flax.struct.dataclass`, sizes and names as static fields)."""

    loss_name: str  # "mse" or "cross_entropy": the loss learners train with, hence the metrics
    output_width: int  # the model's output size (1 for regression, N for N-way classification)

    def sample_train(self, key: jax.Array, num_tasks: int) -> Episode:
        """A batch of meta-training tasks (leading task axis)."""
        ...

    def sample_test(self, key: jax.Array, num_tasks: int) -> Episode:
        """A batch of meta-test tasks."""
        ...

    def example_episode(self) -> Episode:
        """One task (no task axis), for shapes: the model is initialized on it."""
        ...


@runtime_checkable
class Learner(Protocol):
    """An inner loop: meta-parameters {"model": theta, "learner": ...} -> one task's parameters.
    Learners see single tasks; the vmap over tasks is the outer step's."""

    loss_name: str

    def init_learner_params(self, key: jax.Array, model_params: PyTree) -> PyTree:
        """The learner's own meta-parameters (MetaSGD's step sizes; {} for MAML)."""
        ...

    def adapt(
        self,
        meta_params: PyTree,
        support_x: jax.Array,
        support_y: jax.Array,
        num_steps: int | None = None,
        mask: jax.Array | None = None,
    ) -> PyTree:
        """The task's parameters after `num_steps` inner steps (None: the training count)."""
        ...

    def predict(
        self, task_params: PyTree, x: jax.Array, mask: jax.Array | None = None
    ) -> jax.Array:
        """The adapted model's output on x."""
        ...

    def support_loss(
        self, model_params: PyTree, x: jax.Array, y: jax.Array, mask: jax.Array | None = None
    ) -> jax.Array:
        """The inner loss of `model_params` on (x, y)."""
        ...

    def split_predict(self, theta: PyTree):
        """(shared, rest) with predict(phi, x, m) == rest(phi, shared(x, m), m) for every phi
        adapted from theta (the frozen prefix run once for many tasks' models), or None."""
        ...


def members(protocol: type) -> tuple[list[str], list[str]]:
    """(methods, attributes) a protocol requires, in definition order."""
    names = [n for n in protocol.__dict__ if not n.startswith("_")]
    attributes = list(getattr(protocol, "__annotations__", {}))
    methods = [n for n in names if callable(protocol.__dict__[n]) and n not in attributes]
    return methods, attributes
