"""Shared base of the regression experiments: the library defaults plus the `:quick` switch.

Each experiment file calls `base.get_config(arg)` and applies its delta; `arg == "quick"`
shrinks the run to a CPU smoke test of seconds (same code path, tiny budget).
"""

from metareg.config import default_config


def get_config(arg=None):
    config = default_config()
    if arg not in (None, "", "quick"):
        raise ValueError(f"unknown config variant {arg!r}; use NAME.py or NAME.py:quick")
    if arg == "quick":  # CPU-sized smoke run: seconds, not minutes
        config.num_steps = 200
        config.log_every = 50
        config.checkpoint_every = 100
        config.eval.num_tasks = 100
    return config


def regression(config, task: str, regularizers: tuple, name: str):
    """Set the task family, regularizers and experiment name."""
    config.task.name = task
    config.regularizers = regularizers
    config.experiment = name
    return config
