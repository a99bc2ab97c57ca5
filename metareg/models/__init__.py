"""Models as sequences of blocks, and the registry that builds them from a config."""

from metareg.models.base import BlockModel
from metareg.models.conv import CONV_INITS, Conv4, conv4
from metareg.models.conv import check_fields as check_conv_fields
from metareg.models.mlp import MLP, mlp
from metareg.models.mlp import check_fields as check_mlp_fields
from metareg.models.pose import PoseNet, pose_net

MODELS = {"mlp": mlp, "conv4": conv4, "pose_net": pose_net}


def check_model_config(m) -> None:
    """`config.model`'s own rules for the model it names (raises ValueError naming the field); the
    same functions check the modules' fields when they are built."""
    if m.name not in MODELS:
        raise ValueError(f"unknown model.name {m.name!r}; choose from {sorted(MODELS)}")
    if m.name == "mlp":
        check_mlp_fields(
            m.mlp_norm, m.mlp_activation, m.mlp_init, m.mlp_linear_blocks, len(m.hidden) + 1
        )
    elif m.name == "conv4":
        check_conv_fields("Conv4", m.conv_impl, m.norm, m.width, m.pool, m.readout)
        if m.conv_init not in CONV_INITS:
            raise ValueError(
                f"unknown model.conv_init {m.conv_init!r}; choose from {list(CONV_INITS)}"
            )
    elif m.name == "pose_net":
        check_conv_fields("PoseNet", m.conv_impl, m.norm, m.width)


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
            inits=tuple(m.mlp_init),
            linear_blocks=tuple(m.mlp_linear_blocks),
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
            init=m.conv_init,
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
