"""T-Net (Lee & Choi 2018): per-layer linear transforms, meta-learned, frozen in the inner loop.

The model carries the transforms (`mlp(..., transforms=True)` adds `transform_{i}` after block i);
this learner adapts every other parameter (the weights W) and leaves the transforms at their
meta-learned values, so they shape the inner loop's geometry without being task-specific.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from metareg.learners.maml import MAML

PyTree = Any


def is_transform(name: str) -> bool:
    return name.startswith("transform_")


@dataclasses.dataclass(frozen=True)
class TNet(MAML):
    """MAML over the weights only: the `transform_*` parameters stay fixed in the inner loop."""

    def is_adapted(self, name: str, first: int) -> bool:
        return not is_transform(name) and super().is_adapted(name, first)

    def adapt(
        self,
        meta_params: PyTree,
        support_x: jax.Array,
        support_y: jax.Array,
        num_steps: int | None = None,
        mask=None,
    ) -> PyTree:
        if not any(is_transform(k) for k in meta_params["model"]):
            raise ValueError("T-Net needs a model with transforms (mlp(..., transforms=True))")
        return super().adapt(meta_params, support_x, support_y, num_steps, mask)
