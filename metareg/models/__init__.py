"""Models as sequences of blocks, and the registry that builds them from a config."""

from metareg.models.base import BlockModel
from metareg.models.mlp import MLP, mlp

MODELS = {"mlp": mlp}


def make_model(config, output_width: int) -> BlockModel:
    """Build the model named by `config.model.name` (raises with the valid names otherwise)."""
    name = config.model.name
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    if name == "mlp":
        # T-Net's transforms are part of the model; the learner keeps them frozen in the inner loop.
        return mlp(hidden=tuple(config.model.hidden), out=output_width, transforms=config.learner.name == "tnet")
    raise AssertionError(name)


__all__ = ["BlockModel", "MLP", "mlp", "MODELS", "make_model"]
