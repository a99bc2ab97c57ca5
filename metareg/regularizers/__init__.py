"""Meta-regularizers, and the registry that builds them from a config.

Four hook points (methods.md, "Comparison regularizers"), any subset on at once, called by
`meta_step.meta_loss` in this order:
  `transform_episodes(episodes, key)`  acts on the data before adaptation (e.g. Meta-Aug);
  `sample_meta_params(meta_params, key)`  returns meta_params with stochastic parts drawn
      (reparameterized), once per outer step before the vmap over tasks, key
      `named_key(key, f"{name}/weights")` (MR-MAML-W). Every task adapts from the draw, and
      every penalty reads the draw, except the sampling regularizer's own penalty, which gets
      the unsampled meta_params (its KL needs the mean and the scales). A regularizer with
      `sample_at_test` true is also drawn from at meta-test (`evaluate(..., samplers=...)`);
  `query_loss(learner, phi, episode, key)`  replaces the query loss of one task (MetaMix);
  `penalty(meta_params, learner, episodes, phi)`  adds `weight * penalty` to the outer loss
      (TRLearner; MR-MAML's KL).
Regularizer-owned meta-parameters come from `init(key, learner, model_params, example)` and live in
`meta_params["regularizers"][name]`.
"""

from metareg.regularizers.meta_aug import MetaAug
from metareg.regularizers.metamix import MetaMix, mixup_loss
from metareg.regularizers.mr_maml import MRMAML, gaussian_kl
from metareg.regularizers.trlearner import TRLearner, cosine_matrix, multihead_relation, relation_weights

REGULARIZERS = ("meta_aug", "metamix", "mr_maml", "trlearner")


def make_regularizers(config, num_classes: int | None = None) -> tuple:
    """The regularizers named in `config.regularizers`, configured from their own sections
    (num_classes: N of an N-way classification family, for Meta-Aug's label permutations)."""
    regs = []
    for name in config.regularizers:
        if name == "trlearner":
            c = config.trlearner
            regs.append(
                TRLearner(
                    weight=c.weight,
                    num_heads=c.num_heads,
                    init_noise=c.init_noise,
                    relation=c.relation,
                    weighting=c.weighting,
                    temperature=c.temperature,
                    representation=c.representation,
                    stop_gradient=c.stop_gradient,
                    num_related=c.num_related,
                )
            )
        elif name == "meta_aug":
            regs.append(MetaAug(offset=config.meta_aug.offset, num_classes=num_classes))
        elif name == "metamix":
            c = config.metamix
            regs.append(MetaMix(alpha=c.alpha, layers=tuple(c.layers), strategy=c.strategy, channel_shuffle=c.channel_shuffle,
                                cs_layers=tuple(c.cs_layers), cs_start_step=c.cs_start_step, cs_prob=c.cs_prob,
                                num_classes=num_classes if c.channel_shuffle else 0))
        elif name == "mr_maml":
            c = config.mr_maml
            regs.append(
                MRMAML(
                    weight=c.beta,
                    scale_init=c.scale_init,
                    scale_init_std=c.scale_init_std,
                    min_scale=c.min_scale,
                    prior_std=c.prior_std,
                    blocks=None if c.blocks is None else tuple(c.blocks),
                    test_weights=c.test_weights,
                )
            )
        else:
            raise ValueError(f"unknown regularizer {name!r}; choose from {list(REGULARIZERS)}")
    return tuple(regs)


__all__ = [
    "MetaAug",
    "MetaMix",
    "MRMAML",
    "TRLearner",
    "gaussian_kl",
    "mixup_loss",
    "cosine_matrix",
    "multihead_relation",
    "relation_weights",
    "REGULARIZERS",
    "make_regularizers",
]
