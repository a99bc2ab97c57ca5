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


class DenseBlock(nn.Module):
    """Dense -> [T-Net transform] -> [norm -> activation] (the last two skipped for the head).

    Parameters: kernel [D_in, features] (LeCun normal, as nn.Dense) and bias [features]; norm_scale
    and norm_bias [features] for a hidden block with a norm.
    """

    features: int
    is_head: bool = False
    norm: str = "none"
    activation: str = "relu"
    eps: float = 1e-5

    @nn.compact
    def __call__(
        self, x: jax.Array, transform: jax.Array | None = None, mask: jax.Array | None = None
    ) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        x = x @ kernel + bias
        if transform is not None:
            x = x @ transform
        if self.is_head:
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
    meta-learned but frozen in the inner loop by the T-Net learner.
    """

    widths: tuple[int, ...] = (40, 40, 1)
    transforms: bool = False
    norm: str = "none"
    activation: str = "relu"
    eps: float = 1e-5

    def setup(self):
        check_fields(self.norm, self.activation)
        last = len(self.widths) - 1
        self.blocks = [
            DenseBlock(w, i == last, self.norm, self.activation, self.eps, name=f"blocks_{i}")
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


def check_fields(norm: str, activation: str) -> None:
    """The MLP's field rules, in one place: the module checks them when built and the CLI's config
    check calls this for `config.model` (the messages name its fields)."""
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
) -> BlockModel:
    """A BlockModel MLP: given hidden and output widths, T-Net transforms, norm and activation."""
    widths = tuple(hidden) + (out,)
    return BlockModel(
        module=MLP(widths=widths, transforms=transforms, norm=norm, activation=activation),
        num_blocks=len(widths),
    )
