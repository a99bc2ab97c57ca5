"""MR-MAML, weight version (MR-MAML-W; Yin et al. 2020, "Meta-Learning without Memorization").

An information bottleneck on the meta-parameters: the kernels of `blocks` (default: the feature
extractor) become a mean-field Gaussian q(theta) = N(mu, sigma^2), sigma = softplus(rho) + float32
eps; every task of an outer step adapts from one reparameterized draw theta = mu + sigma * eps, and
the outer loss gains beta * KL(q || N(0, 1)), summed over the stochastic weights. mu is
meta_params["model"] itself; rho lives in meta_params["regularizers"]["mr_maml"]. Meta-test adapts
each task from its own draw (`test_weights="sample"`) or from mu ("mean"). Point by point against
the reference code: docs/design.md, "MR-MAML-W".
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from metareg.regularizers.base import Regularizer
from metareg.rng import named_key
from metareg.types import Episode

PyTree = Any

TEST_WEIGHTS = ("sample", "mean")
FLOAT32_EPS = float(np.finfo(np.float32).eps)


def gaussian_kl(mu: jax.Array, sigma: jax.Array, prior_std: float = 1.0) -> jax.Array:
    """sum KL(N(mu, sigma^2) || N(0, prior_std^2)) over all entries (analytic).

    log(sigma / prior_std), not log of the variance ratio: sigma = softplus(-50) ~ 2e-22 squares
    to below float32's range.
    """
    ratio = sigma / prior_std
    return jnp.sum(0.5 * (jnp.square(ratio) + jnp.square(mu / prior_std) - 1.0) - jnp.log(ratio))


@dataclasses.dataclass(frozen=True)
class MRMAML(Regularizer):
    """Stochastic kernels for part of theta; outer loss += beta * KL(q || N(0, prior_std^2)).

    Fields (all config fields of `config.mr_maml`):
      weight: beta (1e-5, chosen on validation tasks of the non-mutually-exclusive sinusoid;
        the reference sinusoid notebook's 5e-5, its pose code's 1e-3; per family in
        docs/results/mr_maml_beta.json).
      scale_init / scale_init_std: rho ~ N(scale_init, scale_init_std^2) at init (-5 / 0.1: sigma
        starts at 0.0067, where the KL and the data both move it; the reference's -50 pins sigma
        at float32 eps, in its notebook too, so its MR-MAML-W acts only through the KL's L2 term
        on the means: docs/sources/mr_maml_sinusoid_notebook.md).
      min_scale: sigma = softplus(rho) + min_scale (tfp adds float32 eps; it also keeps log sigma
        finite).
      prior_std: std of the zero-mean Gaussian prior (1, tfp's default prior).
      blocks: block indices whose kernels are stochastic; None = every block but the head.
      test_weights: "sample" (one draw per test task, as the reference's tfp layers do) or "mean".
    """

    weight: float = 1e-5
    scale_init: float = -5.0
    scale_init_std: float = 0.1
    min_scale: float = FLOAT32_EPS
    prior_std: float = 1.0
    blocks: tuple[int, ...] | None = None
    test_weights: str = "sample"
    name: str = "mr_maml"
    samples_meta_params: ClassVar[bool] = True

    def __post_init__(self):
        """The section's own rules (the CLI's config check builds this object, so both say the
        same); block indices against the model's depth are checked by the config and at trace
        time."""
        if self.weight < 0:
            raise ValueError(
                "mr_maml.beta is the weight of a KL divergence and must be >= 0, got "
                f"{self.weight}; 0 turns the penalty off"
            )
        if self.prior_std <= 0:
            raise ValueError(
                "mr_maml.prior_std must be > 0 (std of the N(0, prior_std^2) prior), got "
                f"{self.prior_std}; the reference uses 1"
            )
        if self.min_scale < 0 or self.scale_init_std < 0:
            raise ValueError(
                f"mr_maml.min_scale ({self.min_scale}) and mr_maml.scale_init_std "
                f"({self.scale_init_std}) must be >= 0; the reference uses float32 eps and 0.1"
            )
        if self.min_scale == 0 and self.scale_init < -80:
            raise ValueError(
                f"mr_maml.scale_init = {self.scale_init} with mr_maml.min_scale = 0 gives "
                "sigma = softplus(rho) that underflows to 0 in float32 (log sigma = -inf in the "
                "KL); raise scale_init to >= -80 or set min_scale > 0"
            )
        if self.test_weights not in TEST_WEIGHTS:
            raise ValueError(
                f"unknown mr_maml.test_weights {self.test_weights!r}; choose from "
                f"{sorted(TEST_WEIGHTS)}"
            )
        if self.blocks is not None and (
            not self.blocks or min(self.blocks) < 0 or len(set(self.blocks)) != len(self.blocks)
        ):
            raise ValueError(
                f"mr_maml.blocks {tuple(self.blocks)} must be distinct non-negative block "
                "indices, or None (every block but the head)"
            )

    @property
    def sample_at_test(self) -> bool:
        """Whether meta-test adapts from a draw of the weights (else from the mean)."""
        return self.test_weights == "sample"

    def stochastic_paths(self, learner, model_params: PyTree) -> list[tuple[str, ...]]:
        """Flattened paths of the stochastic kernels in the model's parameters."""
        num_blocks = learner.model.num_blocks
        blocks = tuple(range(num_blocks - 1)) if self.blocks is None else tuple(self.blocks)
        bad = [b for b in blocks if not 0 <= b < num_blocks]
        if bad:
            raise ValueError(
                f"mr_maml blocks {bad} are not blocks of a model of {num_blocks} blocks"
            )
        names = {f"blocks_{b}" for b in blocks}
        paths = [
            p
            for p in traverse_util.flatten_dict(model_params)
            if p[0] in names and p[-1] == "kernel"
        ]
        if not paths:
            raise ValueError(
                f"mr_maml found no kernel in blocks {blocks} of the model (a model of one block "
                "has no feature extractor: set mr_maml.blocks, e.g. (0,))"
            )
        return sorted(paths)

    def init(self, key: jax.Array, learner, model_params: PyTree, example: Episode) -> PyTree:
        """{"rho": untransformed scales, same nesting as the model's stochastic kernels}."""
        del example
        flat = traverse_util.flatten_dict(model_params)
        rho = {}
        for path in self.stochastic_paths(learner, model_params):
            noise = jax.random.normal(
                named_key(key, "/".join(path)), flat[path].shape, flat[path].dtype
            )
            rho[path] = self.scale_init + self.scale_init_std * noise
        return {"rho": traverse_util.unflatten_dict(rho)}

    def scales(self, params: PyTree) -> PyTree:
        """sigma = softplus(rho) + min_scale, same tree as rho."""
        return jax.tree_util.tree_map(lambda r: jax.nn.softplus(r) + self.min_scale, params["rho"])

    def sample_meta_params(self, meta_params: PyTree, key: jax.Array) -> PyTree:
        """meta_params with every stochastic kernel replaced by mu + sigma * eps (reparameterized:
        differentiable in mu and rho). Deterministic in `key`; the rest of the tree is unchanged."""
        sigma = traverse_util.flatten_dict(self.scales(meta_params["regularizers"][self.name]))
        flat = dict(traverse_util.flatten_dict(meta_params["model"]))
        for path, s in sigma.items():
            eps = jax.random.normal(named_key(key, "/".join(path)), s.shape, s.dtype)
            flat[path] = flat[path] + s * eps
        return {**meta_params, "model": traverse_util.unflatten_dict(flat)}

    def penalty(
        self,
        meta_params: PyTree,
        learner,
        episodes: Episode,
        task_params: PyTree,
        key: jax.Array | None = None,
    ) -> tuple[jax.Array, dict]:
        """KL(q || prior) summed over the stochastic kernels, from the *unsampled* meta_params."""
        del learner, episodes, task_params, key
        sigma = traverse_util.flatten_dict(self.scales(meta_params["regularizers"][self.name]))
        mu = traverse_util.flatten_dict(meta_params["model"])
        kl = sum(gaussian_kl(mu[path], s, self.prior_std) for path, s in sigma.items())
        return kl, {}
