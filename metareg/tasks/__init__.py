"""Task families: `sample_train(key, T)` and `sample_test(key, T)` return a batched Episode."""

from metareg.rng import named_key
from metareg.tasks.regression import FAMILY_SPECS, RegressionFamily, regression_family

TASK_FAMILIES = tuple(sorted(FAMILY_SPECS))


def make_task_family(config, key):
    """Build the family named by `config.task.name`; its pool derives from `key`."""
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
    raise ValueError(f"unknown task family {t.name!r}; choose from {list(TASK_FAMILIES)}")


__all__ = ["RegressionFamily", "regression_family", "make_task_family", "TASK_FAMILIES", "FAMILY_SPECS"]
