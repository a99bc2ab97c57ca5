"""Dropout-Bins: the two front-door deconfounders of Jiang et al. 2022 ("The Role of
Deconfounding in Meta-learning", ICML), MAML-Dropout and MAML-Bins, as a learner wrapper.

The meta-knowledge theta mediates between the training data and the prediction; front-door
adjustment averages the prediction over versions of it,
    P(y | do(x)) ~ (1/V) sum_v P(y | x, theta_v),
with the versions either sampled by Dropout or given by grouping the units into bins. Ours, for
every backbone (docs/sources/dropout_bins.md says which parts the paper text we could read fixes):

  a version v is a unit mask m_v on the outputs of the hidden blocks (the last axis: MLP units,
  conv channels); the task adapts *within* that sub-network (the mask acts in every inner step and
  on the queries), phi_v = Adapt(theta, D^s; m_v), and the prediction is the average over the
  versions: the mean for regression, the mean of the predicted probabilities for classification;
  dropout: V = num_versions masks per task, each unit kept with probability 1 - p and scaled by
        1 / (1 - p), drawn from the task's key; meta-test uses the whole network (the weight-
        scaling rule of dropout);
  bins:  the units of a layer are grouped into num_bins bins, unit u into bin u mod num_bins; the
        versions are the bins (version b keeps bin b, scaled by num_bins), at training and at
        meta-test alike (no randomness).

The inner loop and the outer loss are otherwise the backbone's; there is no additive penalty.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from metareg.learners.wrapper import (
    LearnerWrapper,
    find_wrapper,
    head_boundary,
    replace_wrapper,
    with_model,
)
from metareg.regularizers.base import Regularizer
from metareg.rng import named_key
from metareg.types import Episode

PyTree = Any

MODES = ("dropout", "bins")


@dataclasses.dataclass(frozen=True, eq=False)
class MaskedModel:
    """A BlockModel whose hidden blocks' outputs are multiplied by unit masks: one version of the
    meta-knowledge. `masks` {block: [W]} (W = the block output's last axis). Built inside the
    traced step (it holds traced masks), never a static argument."""

    base: Any
    masks: dict

    @property
    def num_blocks(self) -> int:
        return self.base.num_blocks

    @property
    def head_name(self) -> str:
        return self.base.head_name

    def apply(
        self, params: PyTree, x: jax.Array, start: int = 0, end: int | None = None, mask=None
    ):
        end = self.num_blocks if end is None else end
        h, i = x, start
        # the unmasked runs of blocks go through the base model in one call each
        for b in sorted(b for b in self.masks if start <= b < end):
            h = self.base.apply(params, h, i, b + 1, mask) * self.masks[b]
            i = b + 1
        return h if i >= end else self.base.apply(params, h, i, end, mask)

    def features(self, params: PyTree, x: jax.Array, mask=None) -> jax.Array:
        return self.apply(params, x, 0, self.num_blocks - 1, mask)


def combine_versions(loss_name: str, preds: jax.Array) -> jax.Array:
    """The front-door average of V versions' outputs [V, B, O]: the mean prediction (regression)
    or log of the mean predicted probabilities (classification; valid logits of the mixture)."""
    if loss_name == "cross_entropy":
        log_p = jax.nn.log_softmax(preds, axis=-1)
        return jax.scipy.special.logsumexp(log_p, axis=0) - jnp.log(preds.shape[0])
    return jnp.mean(preds, axis=0)


@dataclasses.dataclass(frozen=True)
class DropoutBinsLearner(LearnerWrapper):
    """The backbone adapted and evaluated per version (see the module docstring).

    Task parameters: {"versions": the base learner's task parameters with a leading version axis
    V, "masks": {block: [V, W]}}. `key`: this task's dropout draw (set per task during training by
    `DropoutBins.inner_learner`); None = the meta-test versions.
    """

    reg: Any = None
    key: jax.Array | None = None

    def version_masks(self, theta: PyTree, x: jax.Array) -> dict:
        return self.reg.version_masks(self.base.model, theta, x, self.key)

    def _version(self, masks: dict):
        return with_model(self.base, MaskedModel(self.base.model, masks))

    def adapt(self, meta_params, support_x, support_y, num_steps=None, mask=None) -> PyTree:
        masks = self.version_masks(meta_params["model"], support_x)

        def one(m):
            return self._version(m).adapt(meta_params, support_x, support_y, num_steps, mask)

        if not masks:  # nothing to mask (a model of one block): one version, the base learner's
            return {"versions": jax.tree_util.tree_map(lambda a: a[None], one({})), "masks": {}}
        return {"versions": jax.vmap(one)(masks), "masks": masks}

    def predict(self, task_params: PyTree, x: jax.Array, mask=None) -> jax.Array:
        preds = jax.vmap(lambda phi, m: self._version(m).predict(phi, x, mask))(
            task_params["versions"], task_params["masks"]
        )  # [V, B, O]
        return combine_versions(self.loss_name, preds)


@dataclasses.dataclass(frozen=True)
class DropoutBins(Regularizer):
    """Front-door deconfounding by versions of the meta-knowledge (Jiang et al. 2022).

    It changes the forward pass: `MetaObjective(learner, (DropoutBins(),)).learner` is the wrapped
    learner (`DropoutBinsLearner`) that training uses; evaluate with it, not with `learner`.

    Fields (all config fields of `config.dropout_bins`):
      mode: "dropout" (MAML-Dropout; what TRLearner's "Dropout-Bins" row is, see
        docs/sources/dropout_bins.md) or "bins" (MAML-Bins).
      p: dropout probability of a unit (ours: 0.1; the paper's value could not be read).
      num_versions: V, dropout versions per task (ours: 2, the least that is "several").
      num_bins: bins of units (ours: 2); the versions of mode "bins".
      layers: blocks whose outputs are masked; None = every hidden block with more than one unit
        on its last axis (the pose encoder's one-channel map is left alone).
    """

    mode: str = "dropout"
    p: float = 0.1
    num_versions: int = 2
    num_bins: int = 2
    layers: tuple[int, ...] | None = None
    name: str = "dropout_bins"
    wraps_learner: ClassVar[bool] = True

    def __post_init__(self):
        """The section's own rules (the CLI's config check builds this object, so both say the
        same); the config checks the layers against the model's depth."""
        if self.mode not in MODES:
            raise ValueError(
                f"unknown dropout_bins.mode {self.mode!r}; choose from {sorted(MODES)}"
            )
        if not 0 <= self.p < 1:
            raise ValueError(
                f"dropout_bins.p is the probability of dropping a unit and must be in [0, 1), "
                f"got {self.p}; 0 keeps every unit"
            )
        if self.num_versions < 1 or self.num_bins < 1:
            raise ValueError(
                f"dropout_bins.num_versions ({self.num_versions}) and dropout_bins.num_bins "
                f"({self.num_bins}) must be >= 1"
            )
        if self.layers is not None and (
            not self.layers or min(self.layers) < 0 or len(set(self.layers)) != len(self.layers)
        ):
            raise ValueError(
                f"dropout_bins.layers {tuple(self.layers)} must be distinct non-negative block "
                "indices (k = the output of block k), or None (every hidden block)"
            )

    def wrap_learner(self, learner):
        if find_wrapper(learner, DropoutBinsLearner) is not None:
            return learner
        return DropoutBinsLearner(learner, reg=self)

    def inner_learner(self, learner, episode: Episode, key: jax.Array, shuffle_on=None):
        """The task's learner: its own dropout draw (bins need none)."""
        del episode, shuffle_on
        if self.mode != "dropout":
            return learner
        return replace_wrapper(learner, DropoutBinsLearner, key=key)

    def widths(self, model, theta: PyTree, x: jax.Array) -> dict[int, int]:
        """{block: units on the last axis of its output} of the masked blocks (shapes only)."""
        num_hidden = head_boundary(model)
        blocks = range(num_hidden) if self.layers is None else self.layers
        bad = [b for b in blocks if not 0 <= b < num_hidden]
        if bad:
            raise ValueError(
                f"dropout_bins.layers {bad} are not hidden blocks of a model of "
                f"{model.num_blocks} blocks (use 0..{num_hidden - 1}; the head is never masked)"
            )
        out = {}
        for b in blocks:
            shape = jax.eval_shape(functools.partial(model.apply, start=0, end=b + 1), theta, x)
            if self.layers is not None or shape.shape[-1] > 1:
                out[b] = shape.shape[-1]
        if self.mode == "bins" and out and min(out.values()) < self.num_bins:
            raise ValueError(
                f"dropout_bins.num_bins = {self.num_bins} exceeds the {min(out.values())} units of "
                "a masked layer: a bin would be empty; lower num_bins or set dropout_bins.layers"
            )
        return out

    def version_masks(self, model, theta: PyTree, x: jax.Array, key: jax.Array | None) -> dict:
        """{block: [V, W]} unit masks of the versions. dropout: V = num_versions Bernoulli(1 - p)
        draws / (1 - p) from `key` (one per block, from its named sub-key), or V = 1 all-ones
        (the whole network) when key is None; bins: V = num_bins, version b = num_bins * [u mod
        num_bins == b]."""
        masks = {}
        for b, w in self.widths(model, theta, x).items():
            if self.mode == "bins":
                units = jnp.arange(w) % self.num_bins
                masks[b] = self.num_bins * (
                    units[None, :] == jnp.arange(self.num_bins)[:, None]
                ).astype(jnp.float32)
            elif key is None:
                masks[b] = jnp.ones((1, w), jnp.float32)
            else:
                keep = jax.random.bernoulli(
                    named_key(key, f"blocks_{b}"), 1.0 - self.p, (self.num_versions, w)
                )
                masks[b] = keep.astype(jnp.float32) / (1.0 - self.p)
        return masks
