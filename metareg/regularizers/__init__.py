"""Meta-regularizers, and the registry that builds them from a config.

Every regularizer subclasses `Regularizer` (metareg/regularizers/base.py: the hooks
`meta_step.meta_loss` calls, in order, each a no-op by default): Meta-Aug transforms the episodes,
MR-MAML-W samples the meta-parameters and adds a KL penalty, MetaMix replaces the query loss,
TRLearner adds its consistency penalty (methods.md, "Comparison regularizers"); Dropout-Bins and
MetaCRL change the learner's forward pass (`wrap_learner`: versions of the meta-knowledge, a factor
layer before the head), MetaCRL adds its disentangling and invariance terms. Any subset composes,
except MetaMix with a regularizer that wraps the learner (`check_composition`).
"""

from metareg.regularizers.base import Regularizer, check_composition
from metareg.regularizers.dropout_bins import DropoutBins
from metareg.regularizers.meta_aug import MetaAug
from metareg.regularizers.metacrl import MetaCRL
from metareg.regularizers.metamix import MetaMix, mixup_loss
from metareg.regularizers.mr_maml import MRMAML, gaussian_kl
from metareg.regularizers.trlearner import (
    TRLearner,
    cosine_matrix,
    multihead_relation,
    relation_weights,
)
from metareg.samplers.adaptive import AdaptiveSampler

REGULARIZERS = ("meta_aug", "metamix", "mr_maml", "trlearner", "dropout_bins", "metacrl")


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
        elif name == "dropout_bins":
            regs.append(DropoutBins(**config_fields(config.dropout_bins)))
        elif name == "metacrl":
            regs.append(MetaCRL(**config_fields(config.metacrl)))
        else:
            raise ValueError(f"unknown regularizer {name!r}; choose from {list(REGULARIZERS)}")
    return tuple(regs)


__all__ = [
    "DropoutBins",
    "MetaAug",
    "MetaCRL",
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
    "check_composition",
]
