"""The adaptive task sampler (ASr; Wang et al., "Towards Task Sampler Learning for Meta-Learning",
IJCV 2024, arXiv 2307.08924), which TRLearner's Algorithm 1 uses to draw its meta-batch.

The score functions follow the authors' code sketch (WangJingyao07/Adaptive-Sampler,
`src/metaASr.py`, quoted in docs/sources/harmonic_and_adaptive_sampler.md), since the paper's
equations could not be retrieved. The sketch says neither how the scores become sampling
probabilities nor how ASr is learned, so `sampling_probabilities` is ours and nothing is learned.

Per outer step, C candidate tasks are drawn as a uniform meta-batch would be; each gets three
scores at the current theta (vmapped, under stop_gradient): the diversity and entropy of its
support embeddings Z = g(support_x) (g: every block but the head, as TRLearner's task
representation) and its difficulty (the squared norm of its support-loss gradient). Then
p = softmax(standardized scores @ weights / temperature), and meta_batch_size distinct candidates
are drawn in proportion to p (Gumbel top-k). Z [n, d] holds one task's n support embeddings in its
rows (padded examples: zero rows, see `mask`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from metareg.losses import get_loss
from metareg.types import Episode

PyTree = Any

SCORES = ("diversity", "entropy", "difficulty")


def logdet_gram(z: jax.Array, scale: jax.Array | float) -> jax.Array:
    """log det(I + scale * Z^T Z) for Z [n, d], computed in the smaller of the two equal forms.

    Sylvester's determinant identity: det(I_d + s Z^T Z) = det(I_n + s Z Z^T), so the n x n Gram
    matrix is used when n <= d (few support points, wide features: the usual case) and the d x d one
    otherwise. The matrix is symmetric positive definite; `slogdet`'s sign is +1 and only the
    log-magnitude is returned.
    """
    n, d = z.shape
    gram = z @ z.T if n <= d else z.T @ z
    eye = jnp.eye(gram.shape[0], dtype=gram.dtype)
    return jnp.linalg.slogdet(eye + scale * gram)[1]


def task_diversity(z: jax.Array, sigma: float = 0.1, mask: jax.Array | None = None) -> jax.Array:
    """Task diversity ½ · n · log det(I + Z Zᵀ / (n σ²)) of support embeddings Z [n, d].

    Source: the ASr code sketch's `calculate_task_diversity` (sigma = 0.1 there): the coding rate
    R(Z; σ) of MCR² (Yu et al. 2020) without its d factor and with an extra factor n. The sketch
    multiplies Z_i [n, d] by its transpose and adds eye(d), which only type-checks with samples in
    columns; by Sylvester's identity both readings give the same number (`logdet_gram`).
    mask [n] (1 = real example): padded rows are zeroed (a zero row adds nothing to ZᵀZ) and n
    counts the real examples only.
    """
    if mask is not None:
        z = z * mask.astype(z.dtype)[:, None]
        n = jnp.maximum(jnp.sum(mask.astype(z.dtype)), 1.0)
    else:
        n = z.shape[0]
    return 0.5 * n * logdet_gram(z, 1.0 / (n * sigma**2))


def task_entropy(z: jax.Array, labels_onehot: jax.Array, eps: float = 0.1) -> jax.Array:
    """Task entropy Σ_j (tr C_j / (2n)) · log det(I + Z C_j Zᵀ / (tr C_j · ε²)) over the
    task's classes j.

    Source: the ASr code sketch's `calculate_task_entropy` (epsilon = 0.1 there): MCR²'s
    class-conditional coding rate R_c, C_j being the diagonal membership matrix of class j
    (C_j[i, i] = 1 when support example i has class j), tr C_j its size and n = Σ_j tr C_j. With
    samples in the rows of Z [n, d] the sketch's `Z C_j Zᵀ` (samples in columns) is Zᵀ C_j Z
    here; `logdet_gram` picks the cheaper equal form.

    labels_onehot [n, J]: row i is the one-hot class of example i; a zero row (padding) belongs to
    no class, so padded examples count nowhere. A class with no member contributes 0 (its weight
    tr C_j / (2n) is 0; the division inside the log is guarded). Regression has no classes:
    `AdaptiveSampler` passes one class holding every real example (our choice; see its docstring).
    """
    c = labels_onehot.astype(z.dtype)  # [n, J]
    sizes = jnp.sum(c, axis=0)  # tr C_j [J]
    n = jnp.maximum(jnp.sum(sizes), 1.0)

    def per_class(member: jax.Array, size: jax.Array) -> jax.Array:
        # C_j is 0/1 diagonal, so Zᵀ C_j Z = (C_j Z)ᵀ (C_j Z): zero the rows of the other
        # classes.
        return (
            size
            / (2.0 * n)
            * logdet_gram(z * member[:, None], 1.0 / (jnp.maximum(size, 1.0) * eps**2))
        )

    return jnp.sum(jax.vmap(per_class, in_axes=(1, 0))(c, sizes))


def task_difficulty(grads: PyTree) -> jax.Array:
    """Task difficulty: the squared L2 norm Σ ||g||² of the support-loss gradient (a pytree).

    The gradient is w.r.t. the model's meta-parameters at theta, before adaptation.

    Source: the ASr code sketch's `calculate_task_difficulty` (sum over weight tensors of
    torch.norm(grad)**2).
    """
    return sum(jnp.sum(jnp.square(g)) for g in jax.tree_util.tree_leaves(grads))


def sampling_probabilities(
    scores: jax.Array, weights, temperature: float = 1.0, eps: float = 1e-6
) -> jax.Array:
    """p [C] = softmax(standardize(scores) @ weights / temperature) over C candidates.

    scores [C, S], weights [S].

    (`sampling_logits` returns the softmax's argument: `AdaptiveSampler` draws from its log_softmax,
    which stays finite where a low temperature underflows p to 0.)

    Our combination: the ASr sketch feeds the three scores to an undefined `asr_sampler` and the
    paper's rule is not available. Each score is standardized over the candidates (mean 0, std 1),
    because the three live on unrelated scales (log-dets of tens to hundreds, gradient norms
    anywhere), so that a weight means the same thing for every score and every model; the std is
    guarded by eps · (1 + |mean|), so scores equal up to float rounding count as equal. A
    non-finite score is treated as average (standardized 0). Weights 0 or equal scores give the
    uniform distribution; a higher weighted score, a higher probability. The alternative we did not
    take: a learned map from scores to weights (ASr's "learning" of the sampler, whose objective is
    not given) or p ∝ weighted raw scores (scale-dependent, and needs positive scores).
    """
    return jax.nn.softmax(sampling_logits(scores, weights, temperature, eps))


def sampling_logits(
    scores: jax.Array, weights, temperature: float = 1.0, eps: float = 1e-6
) -> jax.Array:
    """standardize(scores) @ weights / temperature [C]: the logits of `sampling_probabilities`."""
    s = jnp.asarray(scores)
    finite = jnp.isfinite(s)
    count = jnp.maximum(jnp.sum(finite, axis=0), 1)
    s0 = jnp.where(finite, s, 0.0)
    mean = jnp.sum(s0, axis=0) / count
    var = jnp.sum(jnp.where(finite, jnp.square(s0 - mean), 0.0), axis=0) / count
    std = jnp.sqrt(var) + eps * (1.0 + jnp.abs(mean))
    standardized = jnp.where(finite, (s0 - mean) / std, 0.0)
    return standardized @ jnp.asarray(weights, dtype=standardized.dtype) / temperature


def select_tasks(key: jax.Array, probs: jax.Array, k: int) -> jax.Array:
    """k distinct candidate indices int32 [k], drawn without replacement in proportion to probs.

    Gumbel top-k: the k largest of log p_i + G_i (G_i iid standard Gumbel) are distributed as k
    successive draws without replacement, each in proportion to the probabilities of the candidates
    left (Plackett-Luce). The first index is drawn with probability p_i exactly; a candidate's
    chance to be among the k grows with p_i but is not k · p_i. One top_k: jit-friendly, static k.
    Candidates with p_i = 0 are taken only when fewer than k have p_i > 0.
    """
    return select_tasks_from_log_probs(key, jnp.log(probs), k)


def select_tasks_from_log_probs(key: jax.Array, log_probs: jax.Array, k: int) -> jax.Array:
    """`select_tasks` from log p, which does not underflow as p does.

    Any logits will do: Gumbel top-k is shift-invariant.
    """
    gumbel = jax.random.gumbel(key, log_probs.shape, log_probs.dtype)
    _, idx = jax.lax.top_k(log_probs + gumbel, k)
    return idx


def probability_entropy(probs: jax.Array) -> jax.Array:
    """-Σ p log p (nats) of the sampling distribution: log C if uniform, 0 if one takes all."""
    return -jnp.sum(jnp.where(probs > 0, probs * jnp.log(jnp.where(probs > 0, probs, 1.0)), 0.0))


@dataclasses.dataclass(frozen=True)
class AdaptiveSampler:
    """ASr's task choice for one outer step; frozen and hashable (a static part of the jitted step).

    Fields (config section `sampler`):
      num_candidates: C, tasks drawn per step before the choice; 0 = 2 x meta-batch (our choice,
        the brief's).
      weights: (diversity, entropy, difficulty) weights of the standardized scores (default equal).
      temperature: softmax temperature of `sampling_probabilities` (lower: more greedy).
      sigma, eps: the distortions σ of the diversity and ε of the entropy (0.1 each, the sketch's
        values).

    Task embeddings Z are `learner.model.features` (the model's feature extractor g: every block but
    the head) on the support inputs at theta, the function TRLearner's task representation calls.
    Classification tasks use their labels as the entropy's classes. Regression has no classes; our
    choice is the simplest: one class holding every support example, which makes the entropy
    ½ · log det(I + ZᵀZ / (n ε²)), the diversity divided by n when σ = ε: with the same n
    for every candidate its standardized score then equals the diversity's, so for regression it
    adds its weight to the diversity's. (Bins of y would be another reading; the sketch does not
    say.)
    Difficulty is taken w.r.t. the model's meta-parameters only (learner-owned ones such as
    Meta-SGD's step sizes do not enter the support loss).
    """

    num_candidates: int = 0
    weights: tuple = (1.0, 1.0, 1.0)
    temperature: float = 1.0
    sigma: float = 0.1
    eps: float = 0.1
    name: str = "adaptive"

    def __post_init__(self):
        object.__setattr__(
            self, "weights", tuple(float(w) for w in self.weights)
        )  # a tuple: hashable
        if len(self.weights) != len(SCORES):
            raise ValueError(
                f"AdaptiveSampler.weights needs {len(SCORES)} values {SCORES}, got {self.weights}"
            )
        if not self.temperature > 0 or not self.sigma > 0 or not self.eps > 0:
            raise ValueError(
                f"AdaptiveSampler temperature ({self.temperature}), sigma ({self.sigma}) and eps "
                f"({self.eps}) must be > 0"
            )
        if self.num_candidates < 0:
            raise ValueError(
                "AdaptiveSampler.num_candidates must be >= 0 (0 = 2 x meta-batch), got "
                f"{self.num_candidates}"
            )

    def candidates_for(self, meta_batch_size: int) -> int:
        """C for a meta-batch of k tasks: num_candidates, or 2k when it is 0."""
        c = self.num_candidates or 2 * meta_batch_size
        if c < meta_batch_size:
            raise ValueError(
                f"the adaptive sampler chooses {meta_batch_size} tasks from {c} candidates: "
                "num_candidates must be >= meta_batch_size (or 0 for twice the meta-batch)"
            )
        return c

    def task_scores(self, learner, model_params: PyTree, episode: Episode) -> jax.Array:
        """(diversity, entropy, difficulty) [3] of one task at the model's meta-parameters."""
        x, y, mask = episode.support_x, episode.support_y, episode.support_mask
        z = learner.model.features(model_params, x, mask).reshape(x.shape[0], -1)  # [n, d]
        labels = self._classes(learner, model_params, x, y, z.dtype)
        if mask is not None:
            labels = labels * mask.astype(z.dtype)[:, None]
        grads = jax.grad(learner.support_loss)(model_params, x, y, mask)
        return jnp.stack(
            [
                task_diversity(z, self.sigma, mask),
                task_entropy(z, labels, self.eps),
                task_difficulty(grads),
            ]
        )

    def scores(self, meta_params: PyTree, learner, episodes: Episode) -> jax.Array:
        """Scores [C, 3] of C batched candidates, under stop_gradient: the sampler is untrained."""
        theta = jax.lax.stop_gradient(meta_params["model"])
        return jax.lax.stop_gradient(
            jax.vmap(lambda e: self.task_scores(learner, theta, e))(episodes)
        )

    def select(
        self, meta_params: PyTree, learner, candidates: Episode, key: jax.Array, k: int
    ) -> tuple[Episode, dict]:
        """(the k chosen episodes [k, ...], diagnostics: the mean scores and the entropy of p)."""
        scores = self.scores(meta_params, learner, candidates)
        log_probs = jax.nn.log_softmax(sampling_logits(scores, self.weights, self.temperature))
        probs = jnp.exp(log_probs)  # = sampling_probabilities(scores, ...)
        idx = select_tasks_from_log_probs(key, log_probs, k)
        chosen = jax.tree_util.tree_map(lambda a: a[idx], candidates)
        diagnostics = {f"sampler/{name}": jnp.mean(scores[:, i]) for i, name in enumerate(SCORES)}
        diagnostics["sampler/prob_entropy"] = probability_entropy(probs)
        return chosen, diagnostics

    def example_scores(self, learner, meta_params: PyTree, episode: Episode) -> jax.Array:
        """(diversity, entropy, difficulty) [n, 3] of a task's n support examples; NaN for padding.

        Our per-example reading of the task scores (TRLearner's meta-data, paper Section 4.1: "the
        higher the sampling scores, the more discriminative the samples"; neither paper defines a
        per-sample score): diversity and entropy are each example's leave-one-out share of the
        task's score, S(task) - S(task without it), on the embeddings Z of the whole support set;
        difficulty is the squared norm of the example's loss gradient w.r.t. the model's output at
        theta, ||dl_j/df_j||^2 (the per-example gradient norm's output factor, as in EL2N;
        per-parameter gradients would cost one backward pass per example).
        """
        x, y, mask = episode.support_x, episode.support_y, episode.support_mask
        n = x.shape[0]
        theta = meta_params["model"]
        z = learner.model.features(theta, x, mask).reshape(n, -1)
        real = jnp.ones((n,), z.dtype) if mask is None else mask.astype(z.dtype)
        labels = self._classes(learner, theta, x, y, z.dtype) * real[:, None]

        def task_score(m):
            return jnp.stack(
                [task_diversity(z, self.sigma, m), task_entropy(z, labels * m[:, None], self.eps)]
            )

        without = jax.vmap(
            lambda j: task_score(real * (1.0 - jax.nn.one_hot(j, n, dtype=z.dtype)))
        )(jnp.arange(n))
        shares = task_score(real)[None, :] - without  # [n, 2]
        loss_fn, _ = get_loss(learner.loss_name)
        at_theta = learner.adapt(meta_params, x, y, num_steps=0, mask=mask)  # ProtoNet: prototypes
        outputs = learner.predict(at_theta, x, mask)
        per_output = jax.grad(lambda f: loss_fn(f, y, mask))(outputs) * jnp.sum(
            real
        )  # dl_j/df_j: undo the mean
        difficulty = jnp.sum(jnp.square(per_output.reshape(n, -1)), axis=1)
        scores = jnp.concatenate([shares, difficulty[:, None]], axis=1)
        return jax.lax.stop_gradient(jnp.where(real[:, None] > 0, scores, jnp.nan))

    def meta_data_mask(
        self, learner, meta_params: PyTree, episode: Episode, key: jax.Array, fraction: float
    ) -> jax.Array:
        """TRLearner's meta-data for one task: a 0/1 mask [n] over its support set keeping
        ceil(fraction · n_j) examples of each class j, drawn in proportion to softmax(standardized
        example scores @ weights / temperature) within the task (`example_scores`,
        `sampling_logits`, `select_examples`)."""
        scores = self.example_scores(learner, meta_params, episode)
        logits = sampling_logits(scores, self.weights, self.temperature)
        theta, x, mask = meta_params["model"], episode.support_x, episode.support_mask
        classes = self._classes(learner, theta, x, episode.support_y, jnp.float32)
        if mask is not None:
            classes = classes * mask.astype(jnp.float32)[:, None]
        return select_examples(key, logits, classes, fraction)

    @staticmethod
    def _classes(learner, theta: PyTree, x: jax.Array, y: jax.Array, dtype) -> jax.Array:
        """One-hot classes [n, J] of the support labels.

        Regression has one class holding every example (see the class docstring).
        """
        if learner.loss_name == "cross_entropy":
            num_classes = jax.eval_shape(learner.model.apply, theta, x).shape[
                -1
            ]  # the head's width (no compute)
            return jax.nn.one_hot(y, num_classes, dtype=dtype)
        return jnp.ones((x.shape[0], 1), dtype)


# --- Meta-data: the support examples a task's TRLearner representation is computed from ---------


def select_examples(
    key: jax.Array, logits: jax.Array, classes: jax.Array, fraction: float
) -> jax.Array:
    """A 0/1 mask [n] keeping ceil(fraction · n_j) of each class j's n_j real examples, drawn
    without replacement in proportion to softmax(logits) within the class (Gumbel top-k per class).

    logits [n] (padded examples: any value); classes [n, J] one-hot class membership, a zero row for
    padding (which is never kept). Stratified so that no class loses all its examples: with one
    example per class (1-shot), every example is kept. Ties in the perturbed logits go to the lower
    index.
    """
    n = logits.shape[0]
    c = classes.astype(jnp.float32)
    real = jnp.sum(c, axis=1) > 0
    g = jnp.where(real, logits + jax.random.gumbel(key, (n,), jnp.float32), -jnp.inf)
    idx = jnp.arange(n)
    ahead = (g[None, :] > g[:, None]) | (
        (g[None, :] == g[:, None]) & (idx[None, :] < idx[:, None])
    )  # j ahead of i
    rank = jnp.sum((c @ c.T) * ahead, axis=1)  # examples of i's class ahead of i
    keep = jnp.ceil(fraction * jnp.sum(c, axis=0))  # per class [J]
    return (real & (rank < c @ keep)).astype(jnp.float32)
