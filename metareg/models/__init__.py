"""Models as sequences of blocks, and the registry that builds them from a config."""

from metareg.models.base import BlockModel
from metareg.models.conv import Conv4, conv4
from metareg.models.mlp import MLP, mlp

MODELS = {"mlp": mlp, "conv4": conv4}


def make_model(config, output_width: int) -> BlockModel:
    """Build the model named by `config.model.name` (raises with the valid names otherwise)."""
    name = config.model.name
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    # T-Net's transforms are part of the model; the learner keeps them frozen in the inner loop.
    transforms = config.learner.name == "tnet"
    if name == "mlp":
        m = config.model
        return mlp(hidden=tuple(m.hidden), out=output_width, transforms=transforms, norm=m.mlp_norm, activation=m.mlp_activation)
    if name == "conv4":
        m = config.model
        return conv4(output_width, width=m.width, conv_impl=m.conv_impl, norm=m.norm, pool=m.pool, transforms=transforms, readout=m.readout)
    raise AssertionError(name)


__all__ = ["BlockModel", "Conv4", "MLP", "conv4", "mlp", "MODELS", "make_model"]
