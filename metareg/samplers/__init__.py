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


def check_sampler_config(config) -> None:
    """The sampler section's own rules (ValueError naming the field and the fix)."""
    s = config.sampler
    if s.name not in SAMPLERS:
        raise ValueError(
            f"unknown sampler.name (task sampler) {s.name!r}; choose from {sorted(SAMPLERS)}"
        )
    if s.name == "uniform":
        return
    if s.num_candidates < 0 or (s.num_candidates and s.num_candidates < config.meta_batch_size):
        raise ValueError(
            f"sampler.num_candidates = {s.num_candidates}: the adaptive sampler keeps "
            f"meta_batch_size = {config.meta_batch_size} of its candidates, so it needs at least "
            "that many; raise it, or use 0 (twice the meta-batch)"
        )
    if len(tuple(s.weights)) != len(SCORES):
        raise ValueError(
            f"sampler.weights must hold {len(SCORES)} numbers, the weights of {SCORES}, got "
            f"{tuple(s.weights)}"
        )
    for field in ("temperature", "sigma", "eps"):
        if not s[field] > 0:
            raise ValueError(f"sampler.{field} must be > 0, got {s[field]}")


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
    "check_sampler_config",
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
