"""Meta-regularizers, and the registry that builds them from a config.

Every regularizer subclasses `Regularizer` (metareg/regularizers/base.py: the hooks
`meta_step.meta_loss` calls, in order, each a no-op by default): Meta-Aug transforms the episodes,
MR-MAML-W samples the meta-parameters and adds a KL penalty, MetaMix replaces the query loss,
TRLearner adds its consistency penalty (methods.md, "Comparison regularizers"); any subset composes.
"""

from metareg.regularizers.base import Regularizer
from metareg.regularizers.meta_aug import MetaAug
from metareg.regularizers.metamix import MetaMix, mixup_loss
from metareg.regularizers.mr_maml import MRMAML, gaussian_kl
from metareg.regularizers.trlearner import (
    TRLearner,
    cosine_matrix,
    multihead_relation,
    relation_weights,
)
from metareg.samplers.adaptive import AdaptiveSampler

REGULARIZERS = ("meta_aug", "metamix", "mr_maml", "trlearner")


def config_fields(section) -> dict:
    """A config section as keyword arguments: regularizer fields are named like config fields."""
    return {k: tuple(v) if isinstance(v, list | tuple) else v for k, v in section.to_dict().items()}


def make_regularizers(config, num_classes: int | None = None) -> tuple:
    """The regularizers named in `config.regularizers`, each built from its own config section
    (num_classes: N of an N-way classification family, for Meta-Aug's label permutations and Channel
    Shuffle's class cycle)."""
    regs = []
    for name in config.regularizers:
        if name == "trlearner":
            fields = config_fields(config.trlearner)
            # follow the task sampler: the full Algorithm 1 by one switch
            if fields["meta_data"] == "sampler":
                fields["meta_data"] = "adaptive" if config.sampler.name == "adaptive" else "support"
            scores = {
                k: v
                for k, v in config_fields(config.sampler).items()
                if k in ("weights", "temperature", "sigma", "eps")
            }
            regs.append(TRLearner(**fields, meta_data_sampler=AdaptiveSampler(**scores)))
        elif name == "meta_aug":
            regs.append(MetaAug(**config_fields(config.meta_aug), num_classes=num_classes))
        elif name == "metamix":
            fields = config_fields(config.metamix)
            regs.append(
                MetaMix(**fields, num_classes=num_classes if fields["channel_shuffle"] else 0)
            )
        elif name == "mr_maml":
            fields = config_fields(config.mr_maml)
            # beta: the KL weight's name in both papers
            regs.append(MRMAML(weight=fields.pop("beta"), **fields))
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
