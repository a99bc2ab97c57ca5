"""The pose-regression network of MR-MAML / MetaMix: a conv encoder frozen in the inner loop and a
conv decoder.

After google-research/meta_learning_without_memorization (pose_code, `forward_conv`), as blocks:

  block 0, encoder: conv 3x3 stride 2 (32) -> conv 3x3 stride 2 (48) -> 2x2 max-pool -> conv 3x3
      stride 2 (64) -> flatten -> Dense(196) -> ReLU -> reshape to a 14x14x1 map. The reference has
      no nonlinearity between its encoder convs; we follow it. 128x128 images give 64 -> 32 -> 16
      -> 8 (8*8*64 = 4096 features, as the reference); smaller renders shrink only the flatten
      width.
  blocks 1..4, decoder: conv 3x3 stride 1 (width) -> normalization -> ReLU, on 14x14
      (metareg.models.conv ConvBlock with pool="none"); block 4 ends with the spatial-mean
      readout [B, width].
  block 5, head: Dense(1).

The encoder is meta-learned but kept at theta in the inner loop: experiments set
learner.frozen_blocks = 1 (MetaMix App. C.2: "we fix the encoder and only update the parameters in
the decoder"). MetaMix's candidate layers for pose are the input and every hidden layer:
(0, 1, 2, 3, 4) here (input, encoder output, after decoder blocks 1-3).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from metareg.models.base import BlockModel
from metareg.models.conv import ConvBlock, check_fields, conv2d, max_pool_2x2

ENCODER_WIDTHS = (32, 48, 64)
LATENT_SIDE = 14  # the encoder's output is a 14x14x1 map (196 units)


class PoseEncoder(nn.Module):
    """[B, S, S, 1] images -> [B, 14, 14, 1] (S a multiple of 16)."""

    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, width in enumerate(ENCODER_WIDTHS):
            kernel = self.param(
                f"kernel_{i}", nn.initializers.glorot_uniform(), (3, 3, x.shape[-1], width)
            )
            bias = self.param(f"bias_{i}", nn.initializers.zeros, (width,))
            x = conv2d(x, kernel, 2, self.conv_impl) + bias
            if i == 1:
                x = max_pool_2x2(x)
        dense = nn.Dense(
            LATENT_SIDE * LATENT_SIDE, kernel_init=nn.initializers.glorot_uniform(), name="dense"
        )
        x = nn.relu(dense(x.reshape(x.shape[0], -1)))
        return x.reshape(x.shape[0], LATENT_SIDE, LATENT_SIDE, 1)


class PoseNet(nn.Module):
    """Encoder (block 0), `depth` decoder ConvBlocks (blocks 1..depth), head (block depth + 1)."""

    width: int = 64
    depth: int = 4
    conv_impl: str = "auto"
    norm: str = "transductive"
    transforms: bool = False

    def setup(self):
        check_fields("PoseNet", self.conv_impl, self.norm, self.width)
        self.blocks = (
            [PoseEncoder(self.conv_impl, name="blocks_0")]
            + [
                ConvBlock(self.width, self.conv_impl, self.norm, "none", name=f"blocks_{i}")
                for i in range(1, self.depth + 1)
            ]
            + [nn.Dense(1, name=f"blocks_{self.depth + 1}")]
        )
        if (
            self.transforms
        ):  # T-Net: after each decoder conv and the head (the encoder is frozen anyway)
            widths = {i: self.width for i in range(1, self.depth + 1)} | {self.depth + 1: 1}
            self.transform_mats = {
                i: self.param(f"transform_{i}", lambda _, n: jnp.eye(n), w)
                for i, w in widths.items()
            }

    def __call__(
        self, x: jax.Array, start: int = 0, end: int | None = None, mask: jax.Array | None = None
    ) -> jax.Array:
        end = self.depth + 2 if end is None else end
        for i in range(start, end):
            transform = self.transform_mats[i] if self.transforms and i > 0 else None
            if i == 0:
                x = self.blocks[0](x)
            elif i <= self.depth:
                x = self.blocks[i](x, transform, mask)
                if i == self.depth:
                    x = jnp.mean(x, axis=(1, 2))  # readout [B, width]
            else:
                x = self.blocks[i](x)
                if transform is not None:
                    x = x @ transform
        return x


def pose_net(
    width: int = 64,
    depth: int = 4,
    conv_impl: str = "auto",
    norm: str = "transductive",
    transforms: bool = False,
) -> BlockModel:
    """A BlockModel PoseNet (1 encoder block + `depth` decoder blocks + head: depth + 2 blocks)."""
    return BlockModel(
        PoseNet(width=width, depth=depth, conv_impl=conv_impl, norm=norm, transforms=transforms),
        num_blocks=depth + 2,
    )
