"""Models as sequences of blocks, and the registry that builds them from a config."""

from metareg.models.base import BlockModel
from metareg.models.conv import Conv4, conv4
from metareg.models.mlp import MLP, mlp
from metareg.models.pose import PoseNet, pose_net

MODELS = {"mlp": mlp, "conv4": conv4, "pose_net": pose_net}


def make_model(config, output_width: int) -> BlockModel:
    """Build the model named by `config.model.name` (raises with the valid names otherwise)."""
    name = config.model.name
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    # T-Net's transforms are part of the model; the learner keeps them frozen in the inner loop.
    transforms = config.learner.name == "tnet"
    if name == "mlp":
        m = config.model
        return mlp(
            hidden=tuple(m.hidden),
            out=output_width,
            transforms=transforms,
            norm=m.mlp_norm,
            activation=m.mlp_activation,
        )
    if name == "conv4":
        m = config.model
        return conv4(
            output_width,
            width=m.width,
            conv_impl=m.conv_impl,
            norm=m.norm,
            pool=m.pool,
            transforms=transforms,
            readout=m.readout,
        )
    if name == "pose_net":
        m = config.model
        return pose_net(width=m.width, conv_impl=m.conv_impl, norm=m.norm, transforms=transforms)
    raise AssertionError(name)


__all__ = [
    "BlockModel",
    "Conv4",
    "MLP",
    "PoseNet",
    "conv4",
    "mlp",
    "pose_net",
    "MODELS",
    "make_model",
]
