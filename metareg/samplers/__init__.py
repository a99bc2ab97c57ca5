"""Task samplers: how an outer step chooses its meta-batch.

The default (`MetaObjective.sampler = None`) is uniform:
`family.sample_train(key, meta_batch_size)`. `AdaptiveSampler` is the adaptive task sampler
TRLearner's Algorithm 1 uses (Wang et al. 2024): it draws more candidates than the meta-batch holds
and keeps those its task scores favour (metareg.samplers.adaptive).
"""

from metareg.samplers.adaptive import (
    SCORES,
    AdaptiveSampler,
    logdet_gram,
    probability_entropy,
    sampling_logits,
    sampling_probabilities,
    select_examples,
    select_tasks,
    select_tasks_from_log_probs,
    task_difficulty,
    task_diversity,
    task_entropy,
)

SAMPLERS = ("uniform", "adaptive")


def make_sampler(config) -> AdaptiveSampler | None:
    """The sampler named by `config.sampler.name`: None for "uniform" (the family's own draw), else
    an AdaptiveSampler with num_candidates resolved (0 = 2 x meta_batch_size)."""
    c = config.sampler
    if c.name == "uniform":
        return None
    if c.name == "adaptive":
        return AdaptiveSampler(
            num_candidates=c.num_candidates or 2 * config.meta_batch_size,
            weights=tuple(c.weights),
            temperature=c.temperature,
            sigma=c.sigma,
            eps=c.eps,
        )
    raise ValueError(f"unknown sampler {c.name!r}; choose from {list(SAMPLERS)}")


__all__ = [
    "SAMPLERS",
    "SCORES",
    "AdaptiveSampler",
    "logdet_gram",
    "make_sampler",
    "probability_entropy",
    "sampling_logits",
    "sampling_probabilities",
    "select_examples",
    "select_tasks",
    "select_tasks_from_log_probs",
    "task_difficulty",
    "task_diversity",
    "task_entropy",
]
