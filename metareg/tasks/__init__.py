"""Task families: `sample_train(key, T)` and `sample_test(key, T)` return a batched Episode.

Every family is a pytree (arrays as leaves, sizes static) with `example_episode()` (one task, for
shapes), `loss_name` ("mse" or "cross_entropy") and `output_width` (the model's output size).
"""

import jax
import numpy as np

from metareg.protocols import TaskFamily, members
from metareg.rng import named_key
from metareg.tasks.chembl import ChemblFamily, chembl_family, make_chembl_family
from metareg.tasks.omniglot import SETTINGS as OMNIGLOT_SETTINGS
from metareg.tasks.omniglot import OmniglotFamily, make_omniglot_family, omniglot_family
from metareg.tasks.pose import PoseFamily, make_pose_family, pose_family
from metareg.tasks.regression import FAMILY_SPECS, RegressionFamily, regression_family

# task name -> the loss its learners train with (and hence its metrics, metareg.metrics.METRICS)
TASK_LOSSES = {
    **{name: "mse" for name in FAMILY_SPECS},
    "omniglot": "cross_entropy",
    "chembl": "mse",
    "pose": "mse",
}
TASK_FAMILIES = tuple(sorted(TASK_LOSSES))


# the task-family protocol (metareg.protocols.TaskFamily), as the names check_family looks for
FAMILY_METHODS, FAMILY_ATTRIBUTES = (tuple(names) for names in members(TaskFamily))


def check_family(family) -> None:
    """TypeError naming what keeps `family` from being a task family: a missing method or attribute, or a
    non-pytree (the outer step is jitted with the family as an argument, so its leaves must be arrays;
    a plain class fails inside jax.jit with a bare "not a valid JAX type" error instead)."""
    name = type(family).__name__
    missing = [m for m in FAMILY_METHODS if not callable(getattr(family, m, None))]
    missing += [a for a in FAMILY_ATTRIBUTES if not hasattr(family, a)]
    if missing:
        raise TypeError(
            f"{name} is not a task family: it lacks {missing} (a family has the methods {list(FAMILY_METHODS)} "
            f"and the attributes {list(FAMILY_ATTRIBUTES)}; notebooks/02_custom_task_family.ipynb)"
        )
    bad = [
        type(x).__name__
        for x in jax.tree_util.tree_leaves(family)
        if not isinstance(x, (jax.Array, np.ndarray, np.generic, int, float, bool))
    ]
    if bad:
        raise TypeError(
            f"{name} is not a pytree of arrays (leaves of type {sorted(set(bad))}): the outer step is jitted "
            "with the family as an argument. Write it as a @flax.struct.dataclass whose arrays are fields and "
            "whose sizes and names are flax.struct.field(pytree_node=False)"
        )


def make_task_family(config, key):
    """Build the family named by `config.task.name`; its pool (or slot partition) derives from `key`."""
    t = config.task
    if t.name in FAMILY_SPECS:
        return regression_family(
            t.name,
            named_key(key, "task_family"),
            num_shots=t.num_shots,
            num_queries=t.num_queries,
            pool_size=t.pool_size,
            points_per_task=t.points_per_task,
            noise_std=t.noise_std,
            x_range=t.x_range,
        )
    if t.name == "omniglot":
        return omniglot_family(
            data_dir=config.data.dir,
            prepared_dir=config.data.prepared_dir,
            split=t.split,
            ways=t.ways,
            shots=t.num_shots,
            queries=t.num_queries,
            setting=t.setting,
            key=named_key(key, "task_family"),
            rotations=t.rotations,
            test_setting=t.test_setting,
        )
    if t.name == "chembl":
        return chembl_family(
            data_dir=config.data.dir,
            prepared_dir=config.data.prepared_dir,
            group=t.group,
            fingerprint=t.fingerprint,
            counts=t.fingerprint_counts,
            max_support=t.num_shots,
            max_query=t.num_queries,
            support_fraction=t.support_fraction,
            min_query=t.min_query,
        )
    if t.name == "pose":
        return pose_family(
            data_dir=config.data.dir,
            prepared_dir=config.data.prepared_dir,
            num_shots=t.num_shots,
            num_queries=t.num_queries,
            label_scale=t.label_scale,
            image_size=t.image_size,
        )
    raise ValueError(f"unknown task family {t.name!r}; choose from {list(TASK_FAMILIES)}")


__all__ = [
    "ChemblFamily",
    "check_family",
    "PoseFamily",
    "chembl_family",
    "make_chembl_family",
    "make_pose_family",
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
