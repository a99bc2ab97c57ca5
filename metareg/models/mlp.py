"""The regression MLP (sinusoid/harmonic): 1-40-40-1 with ReLU, as a sequence of blocks."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from metareg.models.base import BlockModel


class MLP(nn.Module):
    """Dense blocks with ReLU after every block but the last.

    Block i is `Dense(widths[i])` (+ ReLU unless it is the head). The MAML sinusoid network
    (Finn et al. 2017) is widths=(40, 40, 1). With `transforms`, block i's linear output is
    multiplied by a square matrix `transform_{i}` (identity init): T-Net's per-layer transforms
    (Lee & Choi 2018), meta-learned but frozen in the inner loop by the T-Net learner.
    """

    widths: tuple[int, ...] = (40, 40, 1)
    transforms: bool = False

    def setup(self):
        self.blocks = [nn.Dense(w, name=f"blocks_{i}") for i, w in enumerate(self.widths)]
        if self.transforms:
            self.transform_mats = [
                self.param(f"transform_{i}", lambda _, n: jnp.eye(n), w) for i, w in enumerate(self.widths)
            ]

    def __call__(self, x: jax.Array, start: int = 0, end: int | None = None) -> jax.Array:
        end = len(self.widths) if end is None else end
        for i in range(start, end):
            x = self.blocks[i](x)
            if self.transforms:
                x = x @ self.transform_mats[i]
            if i < len(self.widths) - 1:
                x = nn.relu(x)
        return x


def mlp(hidden: tuple[int, ...] = (40, 40), out: int = 1, transforms: bool = False) -> BlockModel:
    """A BlockModel MLP with the given hidden widths and output width (and T-Net transforms)."""
    widths = tuple(hidden) + (out,)
    return BlockModel(module=MLP(widths=widths, transforms=transforms), num_blocks=len(widths))
