"""metareg: gradient-based meta-learning in JAX/Flax with plug-in meta-regularizers.

The public API, as plain functions and frozen dataclasses for notebooks:

    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    learner = metareg.MAML(metareg.mlp(), inner_lr=0.01)
    objective = metareg.MetaObjective(learner, (metareg.TRLearner(weight=0.6),))
    state = metareg.init_train_state(key, objective, optax.adam(1e-3), family.example_episode())
    state, metrics = metareg.meta_train_step(
        state, family, key, objective, optimizer, meta_batch_size=25
    )
    metareg.evaluate(state.meta_params, learner, family.sample_test(key, 600))
    # or metareg.sample_test_episodes(family, key, 600): image families then gather one chunk at
    # a time

    # a CLI run:
    config, family, objective, meta_params = metareg.restore_run("runs/sinusoid_trlearner")
    # ... or go on training it (run.state, run.train_key):
    run = metareg.restore_training("runs/sinusoid_trlearner")
    # a state (or parameters) trained here, saved and loaded in the CLI's Orbax format:
    metareg.save("my_run", state, config=config)
    state = metareg.load("my_run").tree
"""

from metareg import learners, losses, models, regularizers, samplers, tasks
from metareg.assemble import validate_config
from metareg.config import ConfigError, default_config
from metareg.evaluate import IndexedEpisodes, evaluate, mean_ci95, sample_test_episodes
from metareg.learners import MAML
from metareg.meta_step import (
    MetaObjective,
    TrainState,
    init_train_state,
    meta_loss,
    meta_train_step,
)
from metareg.models import BlockModel, mlp
from metareg.protocols import Learner, TaskFamily
from metareg.regularizers import (
    MRMAML,
    DropoutBins,
    MetaCRL,
    MetaMix,
    Regularizer,
    TRLearner,
    mixup_loss,
)
from metareg.samplers import AdaptiveSampler
from metareg.tasks import RegressionFamily, check_family, regression_family
from metareg.types import Episode

__all__ = [
    "AdaptiveSampler",
    "ConfigError",
    "DropoutBins",
    "Regularizer",
    "check_family",
    "Episode",
    "IndexedEpisodes",
    "Learner",
    "MAML",
    "MetaCRL",
    "MetaMix",
    "MetaObjective",
    "MRMAML",
    "BlockModel",
    "RegressionFamily",
    "TaskFamily",
    "TRLearner",
    "TrainState",
    "default_config",
    "evaluate",
    "init_train_state",
    "learners",
    "losses",
    "mean_ci95",
    "meta_loss",
    "meta_train_step",
    "mixup_loss",
    "mlp",
    "models",
    "regression_family",
    "regularizers",
    "restore_run",
    "restore_training",
    "save",
    "load",
    "sample_test_episodes",
    "samplers",
    "tasks",
    "validate_config",
]


def __getattr__(name: str):
    # restore_run / restore_training live with the workdir, save / load with the checkpoints
    # (Orbax): imported on first use.
    if name in ("restore_run", "restore_training"):
        from metareg import workdir

        return getattr(workdir, name)
    if name in ("save", "load"):
        from metareg import checkpoints

        return getattr(checkpoints, name)
    raise AttributeError(f"module 'metareg' has no attribute {name!r}")
