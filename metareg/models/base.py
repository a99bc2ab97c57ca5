"""BlockModel: a Flax module seen as a sequence of blocks, so "run blocks a..b" is one call.

MetaMix mixes hidden representations after block l and runs the rest of the network from
there; TRLearner's task representation is the output of all blocks but the last (the head);
ANIL adapts the head only. All three need the same view of a model: an ordered list of blocks
with their parameters under `params["blocks_{i}"]`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax

PyTree = Any


@dataclasses.dataclass(frozen=True)
class BlockModel:
    """A Linen module whose `__call__(x, start, end)` runs blocks [start, end).

    Frozen and hashable, so it can be a static argument of a jitted function.
    """

    module: nn.Module
    num_blocks: int

    def init(self, key: jax.Array, example_x: jax.Array) -> PyTree:
        """Parameters of every block (a plain dict pytree, no "params" collection wrapper)."""
        return self.module.init(key, example_x)["params"]

    def apply(
        self,
        params: PyTree,
        x: jax.Array,
        start: int = 0,
        end: int | None = None,
        mask: jax.Array | None = None,
    ) -> jax.Array:
        """Run blocks [start, end) on x; start and end are static Python ints.

        mask [B] (1 = real example, 0 = padding): modules that normalize over the batch
        (transductive BatchNorm) take their statistics over the real examples only. It is passed
        only when given, so modules without batch statistics need not accept it.
        """
        kwargs = {} if mask is None else {"mask": mask}
        return self.module.apply({"params": params}, x, start=start, end=end, **kwargs)

    def features(self, params: PyTree, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """The feature extractor g: every block but the head."""
        return self.apply(params, x, 0, self.num_blocks - 1, mask)

    @property
    def head_name(self) -> str:
        """Key of the head's parameters in the params dict."""
        return f"blocks_{self.num_blocks - 1}"
