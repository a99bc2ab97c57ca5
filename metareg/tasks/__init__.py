"""Task families: `sample_train(key, T)` and `sample_test(key, T)` return a batched Episode.

Every family is a pytree (arrays as leaves, sizes static) with `example_episode()` (one task, for
shapes), `loss_name` ("mse" or "cross_entropy") and `output_width` (the model's output size).
"""

import inspect

import jax
import numpy as np

from metareg.protocols import TaskFamily, members
from metareg.rng import named_key
from metareg.tasks.chembl import ChemblFamily, chembl_family, make_chembl_family
from metareg.tasks.mr_maml_sinusoid import MRMAMLSinusoidFamily, sinusoid_mr_maml_family
from metareg.tasks.omniglot import SETTINGS as OMNIGLOT_SETTINGS
from metareg.tasks.omniglot import OmniglotFamily, make_omniglot_family, omniglot_family
from metareg.tasks.pose import PoseFamily, make_pose_family, pose_family
from metareg.tasks.regression import FAMILY_SPECS, RegressionFamily, regression_family
from metareg.types import check_episode

# task name -> the loss its learners train with (and hence its metrics, metareg.metrics.METRICS)
TASK_LOSSES = {
    **{name: "mse" for name in FAMILY_SPECS},
    "sinusoid_mr_maml": "mse",  # MR-MAML's sinusoid notebook (metareg.tasks.mr_maml_sinusoid)
    "omniglot": "cross_entropy",
    "chembl": "mse",
    "pose": "mse",
}
TASK_FAMILIES = tuple(sorted(TASK_LOSSES))


# the task-family protocol (metareg.protocols.TaskFamily), as the names check_family looks for
FAMILY_METHODS, FAMILY_ATTRIBUTES = (tuple(names) for names in members(TaskFamily))


def check_family(family) -> None:
    """TypeError naming what keeps `family` from being a task family: a missing method or attribute,
    or a non-pytree (the outer step is jitted with the family as an argument, so its leaves must be
    arrays; a plain class fails inside jax.jit with a bare "not a valid JAX type" error instead)."""
    name = type(family).__name__
    missing = [m for m in FAMILY_METHODS if not callable(getattr(family, m, None))]
    missing += [a for a in FAMILY_ATTRIBUTES if not hasattr(family, a)]
    if missing:
        raise TypeError(
            f"{name} is not a task family: it lacks {missing} "
            f"(a family has the methods {list(FAMILY_METHODS)} "
            f"and the attributes {list(FAMILY_ATTRIBUTES)}; notebooks/02_custom_task_family.ipynb)"
        )
    bad = [
        type(x).__name__
        for x in jax.tree_util.tree_leaves(family)
        if not isinstance(x, (jax.Array, np.ndarray, np.generic, int, float, bool))
    ]
    if bad:
        raise TypeError(
            f"{name} is not a pytree of arrays (leaves of type {sorted(set(bad))}): "
            "the outer step is jitted with the family as an argument. "
            "Write it as a @flax.struct.dataclass whose arrays are fields and "
            "whose sizes and names are flax.struct.field(pytree_node=False)"
        )
    # the arrays' shapes against the declared loss and output width (no compute: eval_shape)
    try:
        check_episode(family.example_episode(), family.loss_name, family.output_width)
        batch = jax.eval_shape(lambda f, k: f.sample_train(k, 2), family, jax.random.key(0))
        check_episode(batch, family.loss_name, family.output_width, batched=True)
    except ValueError as e:
        raise TypeError(f"{name}'s episodes do not fit its loss_name / output_width: {e}") from None


# task name -> the function that builds it; each names its arguments like the config's `task`
# fields (and data_dir, prepared_dir, key), so make_task_family passes the fields it asks for
_BUILDERS = {
    **{name: regression_family for name in FAMILY_SPECS},
    "sinusoid_mr_maml": sinusoid_mr_maml_family,
    "omniglot": omniglot_family,
    "chembl": chembl_family,
    "pose": pose_family,
}


def builder_arguments(builder) -> tuple[str, ...]:
    """The arguments of a family builder that make_task_family fills from a config."""
    return tuple(inspect.signature(builder).parameters)


def make_task_family(config, key):
    """Build the family named by `config.task.name`; its pool (or slot partition) derives from
    `key`."""
    t = config.task
    if t.name not in _BUILDERS:
        raise ValueError(f"unknown task family {t.name!r}; choose from {list(TASK_FAMILIES)}")
    builder = _BUILDERS[t.name]
    available = {
        **t.to_dict(),
        "data_dir": config.data.dir,
        "prepared_dir": config.data.prepared_dir,
        "key": named_key(key, "task_family"),
    }
    return builder(**{k: available[k] for k in builder_arguments(builder) if k in available})


__all__ = [
    "ChemblFamily",
    "check_family",
    "PoseFamily",
    "chembl_family",
    "make_chembl_family",
    "make_pose_family",
    "MRMAMLSinusoidFamily",
    "sinusoid_mr_maml_family",
    "pose_family",
    "FAMILY_SPECS",
    "OMNIGLOT_SETTINGS",
    "OmniglotFamily",
    "RegressionFamily",
    "TASK_FAMILIES",
    "TASK_LOSSES",
    "make_omniglot_family",
    "make_task_family",
    "omniglot_family",
    "regression_family",
]
