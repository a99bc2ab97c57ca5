"""MLPs as sequences of blocks: the regression MLP 1-40-40-1 (sinusoid/harmonic) and the
drug-activity MLP fingerprint -> 500 -> 500 -> 1 with BatchNorm and leaky ReLU (MetaMix App. C.1).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from metareg.models.base import BlockModel
from metareg.models.norm import NORMS, normalize

ACTIVATIONS = {
    "relu": nn.relu,
    "leaky_relu": lambda x: nn.leaky_relu(x, negative_slope=0.01),
}  # 0.01: MetaMix's drug model

# A block's initializers, (kernel, bias), by name (`model.mlp_init`): "lecun_normal" is nn.Dense's
# (our default); "glorot_uniform" Keras Dense's (MR-MAML's sinusoid notebook, its SineModel);
# "normal_0.1" tfp's variational layers' (the posterior loc of kernel and bias ~ N(0, 0.1^2),
# tfp layers/util.py default_loc_scale_fn: MR-MAML-W's encoder in that notebook).
INITS = {
    "lecun_normal": (nn.initializers.lecun_normal(), nn.initializers.zeros),
    "glorot_uniform": (nn.initializers.glorot_uniform(), nn.initializers.zeros),
    "normal_0.1": (nn.initializers.normal(0.1), nn.initializers.normal(0.1)),
}


class DenseBlock(nn.Module):
    """Dense -> [T-Net transform] -> [norm -> activation] (the last two skipped for the head).

    Parameters: kernel [D_in, features] (LeCun normal, as nn.Dense, unless `init` names another of
    INITS) and bias [features]; norm_scale and norm_bias [features] for a hidden block with a norm.
    `linear`: a hidden block without norm and activation (MR-MAML-W's encoder output).
    """

    features: int
    is_head: bool = False
    norm: str = "none"
    activation: str = "relu"
    eps: float = 1e-5
    init: str = "lecun_normal"
    linear: bool = False

    @nn.compact
    def __call__(
        self, x: jax.Array, transform: jax.Array | None = None, mask: jax.Array | None = None
    ) -> jax.Array:
        kernel_init, bias_init = INITS[self.init]
        kernel = self.param("kernel", kernel_init, (x.shape[-1], self.features))
        bias = self.param("bias", bias_init, (self.features,))
        x = x @ kernel + bias
        if transform is not None:
            x = x @ transform
        if self.is_head or self.linear:
            return x
        if self.norm != "none":
            scale = self.param("norm_scale", nn.initializers.ones, (self.features,))
            shift = self.param("norm_bias", nn.initializers.zeros, (self.features,))
            x = normalize(x, self.norm, self.eps, mask) * scale + shift
        return ACTIVATIONS[self.activation](x)


class MLP(nn.Module):
    """Dense blocks; every block but the last (the head) is followed by [norm ->] activation.

    Block i is a `DenseBlock(widths[i])` with parameters under `blocks_{i}`. The MAML sinusoid
    network (Finn et al. 2017) is widths=(40, 40, 1) with ReLU and no norm. `norm` ("none" |
    "transductive" | "layer", see metareg.models.norm) normalizes each hidden block's output, with a
    per-feature scale and bias. With `transforms`, block i's linear output is multiplied by a square
    matrix `transform_{i}` (identity init): T-Net's per-layer transforms (Lee & Choi 2018),
    meta-learned but frozen in the inner loop by the T-Net learner. `inits`: initializer names
    (INITS), one for every block or one per block (() = LeCun normal); `linear_blocks`: hidden
    blocks without norm and activation.
    """

    widths: tuple[int, ...] = (40, 40, 1)
    transforms: bool = False
    norm: str = "none"
    activation: str = "relu"
    eps: float = 1e-5
    inits: tuple[str, ...] = ()
    linear_blocks: tuple[int, ...] = ()

    def setup(self):
        check_fields(self.norm, self.activation, self.inits, self.linear_blocks, len(self.widths))
        last = len(self.widths) - 1
        inits = block_inits(self.inits, len(self.widths))
        self.blocks = [
            DenseBlock(
                w,
                i == last,
                self.norm,
                self.activation,
                self.eps,
                inits[i],
                i in self.linear_blocks,
                name=f"blocks_{i}",
            )
            for i, w in enumerate(self.widths)
        ]
        if self.transforms:
            self.transform_mats = [
                self.param(f"transform_{i}", lambda _, n: jnp.eye(n), w)
                for i, w in enumerate(self.widths)
            ]

    def __call__(
        self, x: jax.Array, start: int = 0, end: int | None = None, mask: jax.Array | None = None
    ) -> jax.Array:
        end = len(self.widths) if end is None else end
        for i in range(start, end):
            x = self.blocks[i](x, self.transform_mats[i] if self.transforms else None, mask)
        return x


def block_inits(inits: tuple[str, ...], num_blocks: int) -> tuple[str, ...]:
    """One initializer name per block: () = LeCun normal everywhere, one name = every block."""
    inits = tuple(inits) or ("lecun_normal",)
    return inits * num_blocks if len(inits) == 1 else inits


def check_fields(
    norm: str,
    activation: str,
    inits: tuple[str, ...] = (),
    linear_blocks: tuple[int, ...] = (),
    num_blocks: int | None = None,
) -> None:
    """The MLP's field rules, in one place: the module checks them when built and the CLI's config
    check calls this for `config.model` (the messages name its fields). num_blocks: hidden blocks
    + the head (None: the block counts are not checked)."""
    bad = [name for name in inits if name not in INITS]
    if bad:
        raise ValueError(
            f"unknown MLP init {bad[0]!r} (model.mlp_init); choose from {sorted(INITS)}"
        )
    if num_blocks is not None and len(inits) not in (0, 1, num_blocks):
        raise ValueError(
            f"model.mlp_init names {len(inits)} initializers for a model of {num_blocks} blocks "
            f"(hidden + head): give none (LeCun normal), one for every block, or {num_blocks}"
        )
    if num_blocks is not None and any(not 0 <= b < num_blocks - 1 for b in linear_blocks):
        raise ValueError(
            f"model.mlp_linear_blocks {tuple(linear_blocks)} must be hidden block indices within "
            f"[0, {num_blocks - 2}] (the head, block {num_blocks - 1}, is always linear)"
        )
    if norm not in NORMS:
        raise ValueError(f"unknown MLP norm {norm!r} (model.mlp_norm); choose from {sorted(NORMS)}")
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown MLP activation {activation!r} (model.mlp_activation); choose from "
            f"{sorted(ACTIVATIONS)}"
        )


def mlp(
    hidden: tuple[int, ...] = (40, 40),
    out: int = 1,
    transforms: bool = False,
    norm: str = "none",
    activation: str = "relu",
    inits: tuple[str, ...] = (),
    linear_blocks: tuple[int, ...] = (),
) -> BlockModel:
    """A BlockModel MLP: given hidden and output widths, T-Net transforms, norm and activation,
    initializers (INITS names) and hidden blocks without activation."""
    widths = tuple(hidden) + (out,)
    return BlockModel(
        module=MLP(
            widths=widths,
            transforms=transforms,
            norm=norm,
            activation=activation,
            inits=tuple(inits),
            linear_blocks=tuple(linear_blocks),
        ),
        num_blocks=len(widths),
    )
