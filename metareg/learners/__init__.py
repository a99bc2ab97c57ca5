"""Learners (inner loops) and the registry that builds them from a config."""

from metareg.learners.maml import MAML

LEARNERS = ("maml", "fomaml")


def make_learner(config, model, loss_name: str, num_steps: int | None = None):
    """Build the learner named by `config.learner.name`."""
    c = config.learner
    steps = c.inner_steps if num_steps is None else num_steps
    if c.name in ("maml", "fomaml"):
        return MAML(model, loss_name, inner_lr=c.inner_lr, num_steps=steps, first_order=c.name == "fomaml")
    raise ValueError(f"unknown learner {c.name!r}; choose from {list(LEARNERS)}")


__all__ = ["MAML", "LEARNERS", "make_learner"]
