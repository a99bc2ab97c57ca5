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


def check_task_config(config) -> None:
    """The task section's own rules, and the family's demands on the others (the model it feeds,
    the metrics of its loss, the distinct pool tasks a meta-batch draws), without loading data.
    ValueError naming the field and the fix; run by `metareg.assemble.validate_config`."""
    from metareg.data.chembl import FINGERPRINTS, NUM_GROUPS
    from metareg.data.omniglot import NUM_DRAWERS, OMNIGLOT_SPLITS
    from metareg.data.pascal3d import NUM_VIEWS
    from metareg.metrics import METRICS
    from metareg.tasks.omniglot import check_request as check_omniglot_request

    t = config.task
    _choice(t.name, TASK_FAMILIES, "task.name (task family)")
    if t.name == "omniglot":
        _choice(t.split, OMNIGLOT_SPLITS, "task.split (Omniglot split)")
        check_omniglot_request(
            t.ways, t.num_shots, t.num_queries, t.setting, t.test_setting, NUM_DRAWERS
        )
    if t.name == "chembl":
        _choice(t.fingerprint, FINGERPRINTS, "task.fingerprint")
        _choice(t.group, tuple(range(NUM_GROUPS)), "task.group (evaluation group)")
        if not 0 < t.support_fraction < 1:
            raise ValueError(
                f"task.support_fraction must be in (0, 1), got {t.support_fraction}; the papers "
                "use 0.75"
            )
        if t.min_query < 2:
            raise ValueError(
                "task.min_query must be >= 2 (the R^2 of fewer query points is undefined), got "
                f"{t.min_query}"
            )
    if t.name == "pose":
        if t.num_shots + (t.num_queries or t.num_shots) > NUM_VIEWS:
            raise ValueError(
                f"task.num_shots + task.num_queries = {t.num_shots} + {t.num_queries} exceeds the "
                f"{NUM_VIEWS} rendered views of an object (support and query views are distinct); "
                "lower them"
            )
        if t.image_size < 16:
            raise ValueError(
                "task.image_size must be >= 16 (the pose encoder down-samples by 16), got "
                f"{t.image_size}"
            )
    # which models each kind of task can feed: images [B, H, W, 1] need a conv net, vectors an MLP
    models_for = {"omniglot": ("conv4",), "pose": ("pose_net",)}.get(t.name, ("mlp",))
    if config.model.name not in models_for:
        raise ValueError(
            f"task.name = {t.name!r} needs model.name in {list(models_for)} (got "
            f"{config.model.name!r}): images [B, H, W, 1] go to a conv net, vectors [B, D] to the "
            "MLP"
        )
    loss = TASK_LOSSES[t.name]
    _choice(config.eval.metric, METRICS[loss], f"eval.metric (for the {loss} task {t.name!r})")
    # a meta-batch (and the adaptive sampler's candidates) draws distinct pool tasks
    if t.name in FAMILY_SPECS and t.pool_size:
        if config.meta_batch_size > t.pool_size:
            raise ValueError(
                f"meta_batch_size = {config.meta_batch_size} exceeds task.pool_size = "
                f"{t.pool_size}: a meta-batch draws distinct pool tasks; lower meta_batch_size or "
                "raise task.pool_size (0 = no pool)"
            )
        s = config.sampler
        candidates = s.num_candidates or 2 * config.meta_batch_size
        if s.name == "adaptive" and candidates > t.pool_size:
            raise ValueError(
                f"the adaptive sampler draws {candidates} distinct pool tasks per step "
                f"(sampler.num_candidates"
                f"{'' if s.num_candidates else ' = 0: twice meta_batch_size'}), more than "
                f"task.pool_size = {t.pool_size}; lower sampler.num_candidates (at least "
                "meta_batch_size) or raise task.pool_size"
            )


def _choice(value, choices, field):
    if value not in choices:
        raise ValueError(f"unknown {field} {value!r}; choose from {sorted(choices)}")


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
    "check_task_config",
    "TASK_LOSSES",
    "make_omniglot_family",
    "make_task_family",
    "omniglot_family",
    "regression_family",
]
