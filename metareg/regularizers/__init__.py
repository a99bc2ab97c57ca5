"""Meta-regularizers, and the registry that builds them from a config.

Three hook points (methods.md, "Comparison regularizers"), any subset on at once:
  `transform_episodes(episodes, key)`  acts on the data before adaptation (e.g. Meta-Aug);
  `query_loss(learner, phi, episode, key)`  replaces the query loss of one task (MetaMix);
  `penalty(meta_params, learner, episodes, phi)`  adds `weight * penalty` to the outer loss (TRLearner).
"""

from metareg.regularizers.meta_aug import MetaAug
from metareg.regularizers.metamix import MetaMix, mixup_loss
from metareg.regularizers.trlearner import TRLearner, cosine_matrix, multihead_relation, relation_weights

REGULARIZERS = ("meta_aug", "metamix", "trlearner")


def make_regularizers(config) -> tuple:
    """The regularizers named in `config.regularizers`, configured from their own sections."""
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
            regs.append(MetaAug(offset=config.meta_aug.offset))
        elif name == "metamix":
            regs.append(MetaMix(alpha=config.metamix.alpha, layers=tuple(config.metamix.layers)))
        else:
            raise ValueError(f"unknown regularizer {name!r}; choose from {list(REGULARIZERS)}")
    return tuple(regs)


__all__ = [
    "MetaAug",
    "MetaMix",
    "TRLearner",
    "mixup_loss",
    "cosine_matrix",
    "multihead_relation",
    "relation_weights",
    "REGULARIZERS",
    "make_regularizers",
]
