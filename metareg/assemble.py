"""Assemble a run from a config: its task family, learner, regularizers, sampler and optimizer.

`validate_config(config)` is the complete check of a config: the schema's rules
(`metareg.config.check_schema`) and each section's own, written once where the section lives
(`tasks.check_task_config`, `models.check_model_config`, `learners.check_learner_config`,
`samplers.check_sampler_config`, and each regularizer's constructor, so the regularizers are built
here, once). `build(config)` runs it and then builds the rest: the one place a config becomes
objects for the CLI, the trainer, `restore_run` and the analysis (no training loop, no I/O).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from metareg.config import ConfigError, check_schema
from metareg.learners import check_learner_config, make_learner
from metareg.meta_step import MetaObjective, auto_task_chunk
from metareg.models import check_model_config, make_model
from metareg.regularizers import check_composition, make_regularizers
from metareg.rng import named_key, root_key
from metareg.samplers import check_sampler_config, make_sampler
from metareg.tasks import TASK_LOSSES, check_task_config, make_task_family


def fresh_keras_adam(
    learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7
) -> optax.GradientTransformation:
    """The first step of a new Keras Adam, every step (no state): MR-MAML's sinusoid notebook builds
    `keras.optimizers.Adam(learning_rate=1e-3)` anew in each MR-MAML-W outer step. Keras (TF 2.0)
    adds eps to sqrt(v) after folding the bias correction into the step size ("epsilon hat"), so
    from m = v = 0 the update is lr * g / (|g| + eps / sqrt(1 - b2)): about lr * sign(g) wherever
    |g| >> 3.2e-6, and lr * g / 3.2e-6 below (docs/sources/mr_maml_sinusoid_notebook.md)."""
    lr_t = learning_rate * (1.0 - b2) ** 0.5 / (1.0 - b1)

    def update(updates, params=None):
        del params
        return jax.tree_util.tree_map(
            lambda g: -lr_t * ((1.0 - b1) * g) / (jnp.sqrt((1.0 - b2) * jnp.square(g)) + eps),
            updates,
        )

    return optax.stateless(update)


def make_optimizer(config) -> optax.GradientTransformation:
    """The outer optimizer, after global-norm clipping of the meta-gradient when clip_norm > 0."""
    o = config.optimizer
    if o.name == "adam":
        opt = optax.adam(o.learning_rate)
    elif o.name == "sgd":
        opt = optax.sgd(o.learning_rate)
    elif o.name == "adam_fresh":
        opt = fresh_keras_adam(o.learning_rate)
    else:
        raise ValueError(f"unknown optimizer {o.name!r}; choose from ['adam', 'adam_fresh', 'sgd']")
    return optax.chain(optax.clip_by_global_norm(o.clip_norm), opt) if o.clip_norm > 0 else opt


class Checked(NamedTuple):
    """What checking a config built (the cheap objects, built once): the regularizers and the
    task sampler (None: uniform)."""

    regularizers: tuple
    sampler: Any


def validate_config(config) -> Checked:
    """Raise ConfigError naming the field and the fix for any config that cannot run; return the
    regularizers and sampler it built on the way. No data is loaded."""
    check_schema(config)
    try:
        check_task_config(config)
        check_model_config(config.model)
        check_learner_config(config, TASK_LOSSES[config.task.name])
        check_sampler_config(config)
        t = config.task
        regularizers = make_regularizers(config, num_classes=t.ways if t.name == "omniglot" else 1)
        for r in regularizers:
            r.check_meta_batch(config.meta_batch_size)
        check_composition(regularizers)
        sampler = make_sampler(config)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return Checked(regularizers, sampler)


def build(config, checked: Checked | None = None):
    """(family, objective, optimizer, root key) of a config, checked first (`validate_config`,
    unless `checked` is what it returned for this config)."""
    checked = validate_config(config) if checked is None else checked
    root = root_key(config.seed)
    try:
        family = make_task_family(config, named_key(root, "tasks"))
    except ValueError as e:
        # a request the data cannot meet (more ways than classes, ...): a config error
        raise ConfigError(str(e)) from e
    model = make_model(config, family.output_width)
    learner = make_learner(config, model, family.loss_name, num_classes=family.output_width)
    # the regularizers were built for the class count the config gives (validate_config)
    assert family.output_width == (config.task.ways if config.task.name == "omniglot" else 1)
    objective = MetaObjective(learner, checked.regularizers, sampler=checked.sampler)
    task_chunk = config.task_chunk
    if task_chunk is None:
        task_chunk = auto_task_chunk(
            objective, family.example_episode(), jax.default_backend(), config.mesh.task_devices
        )
    return (
        family,
        dataclasses.replace(objective, task_chunk=task_chunk),
        make_optimizer(config),
        root,
    )
