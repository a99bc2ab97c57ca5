"""Learners (inner loops) and the registry that builds them from a config."""

from metareg.learners.anil import ANIL
from metareg.learners.maml import MAML
from metareg.learners.metasgd import MetaSGD
from metareg.learners.protonet import ProtoNet
from metareg.learners.tnet import TNet

# name -> (class, first order)
_LEARNERS = {
    "maml": (MAML, False),
    "fomaml": (MAML, True),
    "anil": (ANIL, False),
    "metasgd": (MetaSGD, False),
    "tnet": (TNet, False),
    "protonet": (ProtoNet, False),
}
LEARNERS = tuple(_LEARNERS)
GRADIENT_FREE = ("protonet",)  # learners without an inner loop: inner_lr / inner_steps unused


def check_learner_config(config, loss_name: str) -> None:
    """The learner section's own rules, and what it needs of the task's loss and the
    regularizers (ValueError naming the field and the fix)."""
    name = config.learner.name
    if name not in _LEARNERS:
        raise ValueError(f"unknown learner.name (learner) {name!r}; choose from {sorted(LEARNERS)}")
    if name in GRADIENT_FREE:
        if loss_name != "cross_entropy":
            raise ValueError(
                f"learner.name = {name!r} is a classifier (class prototypes) and task "
                f"{config.task.name!r} is regression; use a gradient-based learner (maml, fomaml, "
                "anil, metasgd, tnet)"
            )
        if "metamix" in config.regularizers:
            raise ValueError(
                "metamix re-runs a model's later blocks on mixed hidden states and learner "
                f"{name!r} has no adapted head to re-run; use metamix with maml, fomaml, anil, "
                "metasgd or tnet"
            )
    if config.learner.frozen_blocks < 0:
        raise ValueError(f"learner.frozen_blocks must be >= 0, got {config.learner.frozen_blocks}")


def make_learner(
    config, model, loss_name: str, num_steps: int | None = None, num_classes: int | None = None
):
    """Build the learner named by `config.learner.name` (num_classes: N ways, for ProtoNet)."""
    c = config.learner
    if c.name not in _LEARNERS:
        raise ValueError(f"unknown learner {c.name!r}; choose from {sorted(LEARNERS)}")
    cls, first_order = _LEARNERS[c.name]
    steps = c.inner_steps if num_steps is None else num_steps
    if cls is ProtoNet:
        return ProtoNet(model, loss_name, num_classes=num_classes, frozen_blocks=c.frozen_blocks)
    return cls(
        model,
        loss_name,
        inner_lr=c.inner_lr,
        num_steps=steps,
        first_order=first_order,
        frozen_blocks=c.frozen_blocks,
    )


__all__ = [
    "ANIL",
    "MAML",
    "MetaSGD",
    "ProtoNet",
    "TNet",
    "LEARNERS",
    "GRADIENT_FREE",
    "make_learner",
]
