"""Meta-regularizers, and the registry that builds them from a config.

Every regularizer subclasses `Regularizer` (metareg/regularizers/base.py: the hooks `meta_step.meta_loss`
calls, in order, each a no-op by default): Meta-Aug transforms the episodes, MR-MAML-W samples the
meta-parameters and adds a KL penalty, MetaMix replaces the query loss, TRLearner adds its consistency
penalty (methods.md, "Comparison regularizers"); any subset composes.
"""

from metareg.regularizers.base import Regularizer
from metareg.regularizers.meta_aug import MetaAug
from metareg.regularizers.metamix import MetaMix, mixup_loss
from metareg.regularizers.mr_maml import MRMAML, gaussian_kl
from metareg.regularizers.trlearner import TRLearner, cosine_matrix, multihead_relation, relation_weights
from metareg.samplers.adaptive import AdaptiveSampler

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
                    meta_data=c.meta_data if c.meta_data != "sampler" else ("adaptive" if config.sampler.name == "adaptive" else "support"),
                    meta_data_fraction=c.meta_data_fraction,
                    meta_data_sampler=AdaptiveSampler(weights=tuple(config.sampler.weights), temperature=config.sampler.temperature,
                                                      sigma=config.sampler.sigma, eps=config.sampler.eps),
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
    "Regularizer",
    "TRLearner",
    "gaussian_kl",
    "mixup_loss",
    "cosine_matrix",
    "multihead_relation",
    "relation_weights",
    "REGULARIZERS",
    "make_regularizers",
]
