"""ANIL (Raghu et al. 2020): the inner loop adapts the head only; the body is shared, not adapted.

MAML with every block but the head frozen in the inner loop: the body's features of the support
set do not change during adaptation, so they are computed once and the inner steps run on the
head alone (cheaper than masking MAML's gradient).
"""

from __future__ import annotations

import dataclasses

from metareg.learners.maml import MAML


@dataclasses.dataclass(frozen=True)
class ANIL(MAML):
    """MAML whose inner loop updates only `params[model.head_name]`."""

    def first_adapted_block(self) -> int:
        return max(self.frozen_blocks, self.model.num_blocks - 1)
