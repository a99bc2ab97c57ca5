"""TRLearner: task-relation calibration.

Wang et al., "Rethinking Meta-Learning from a Learning Lens".

Per meta-batch of T tasks (methods.md, "TRLearner"):
  z_i   task representation from the feature extractor g at theta, pooled over the support set,
        label-aware: regression concat(mean g(x), mean y * g(x)) (a label-blind mean is the same for
        every sinusoid task, since all draw x from one range); classification the per-class mean
        features in label order, flattened [N * F] (ProtoNet's prototypes at theta);
  M     m_ij = (1/H) sum_h cos(w_h * z_i, w_h * z_j), i != j (paper Eq. 4), heads w_h learned;
  A     non-negative weights a_ip = max(m_ip, 0) / sum_{p != i} max(m_ip, 0);
  L_TR  for each query point of task i, the A-weighted average of the *other* tasks' adapted
        models' predictions scored against y (paper Eq. 5); outer loss += weight * mean_i L_TR,i.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from metareg.learners.protonet import prototypes
from metareg.losses import example_mean, get_loss
from metareg.regularizers.base import Regularizer
from metareg.samplers.adaptive import AdaptiveSampler
from metareg.types import Episode

PyTree = Any

RELATIONS = ("learned", "fixed", "ones")
WEIGHTINGS = ("relu", "softmax")
REPRESENTATIONS = ("label_aware", "head_gradient")
META_DATA = ("support", "adaptive")
# exact Eq. 5 runs unchunked while its T * T * Q query inputs have at most this many elements
AUTO_CHUNK_ELEMENTS = 2**20


def _largest_divisor_at_most(n: int, k: int) -> int:
    """The largest divisor of n that is <= k (>= 1)."""
    return max(d for d in range(1, max(1, min(n, k)) + 1) if n % d == 0)


def cosine_matrix(u: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Pairwise cosine similarities of the rows of u [T, D] -> [T, T].

    The norm is sqrt(|u|^2 + eps^2): a zero row (a task whose support activates no ReLU unit, seen
    in training) gets similarity 0 and a finite gradient, where a plain norm's gradient is 0/0.
    """
    n = u * jax.lax.rsqrt(jnp.sum(u * u, axis=-1, keepdims=True) + eps * eps)
    return n @ n.T


def multihead_relation(z: jax.Array, heads: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Paper Eq. 4: mean over heads of cos(w_h * z_i, w_h * z_j), with a zero diagonal.

    z: [T, D] task representations; heads: [H, D] learnable vectors.
    """
    per_head = jax.vmap(lambda w: cosine_matrix(w * z, eps))(heads)  # [H, T, T]
    m = jnp.mean(per_head, axis=0)
    return m * (1.0 - jnp.eye(z.shape[0], dtype=m.dtype))


def relation_weights(
    m: jax.Array, weighting: str = "relu", temperature: float = 1.0, eps: float = 1e-8
) -> jax.Array:
    """Row-normalized non-negative weights a_ip over p != i from a relation matrix [T, T].

    "relu": max(m, 0) / row sum (epsilon-guarded: a row with no positive relation gives zero
    weights); "softmax": softmax over p != i of m / temperature. The diagonal is always zero.
    """
    off = 1.0 - jnp.eye(m.shape[0], dtype=m.dtype)
    if weighting == "relu":
        r = jnp.maximum(m, 0.0) * off
        return r / jnp.maximum(jnp.sum(r, axis=-1, keepdims=True), eps)
    if weighting == "softmax":
        logits = jnp.where(off > 0, m / temperature, -jnp.inf)
        return jax.nn.softmax(logits, axis=-1)
    raise ValueError(f"unknown relation weighting {weighting!r}; choose from {list(WEIGHTINGS)}")


@dataclasses.dataclass(frozen=True)
class TRLearner(Regularizer):
    """Relation-aware consistency regularizer; an additive term of the outer loss.

    Fields (all config fields of `config.trlearner`):
      weight: lambda in Eq. 6 (0.6, the paper's best; stable over [0.3, 0.8], its Fig. 5).
      num_heads: H in Eq. 4 (the paper does not give it; our default 4).
      init_noise: std of the perturbation added to the all-ones head init. Identical heads get
        identical gradients and never separate, so the paper's exact init (w_h = 1) makes H heads
        equivalent to one; a small perturbation breaks the tie (0 restores the paper's init).
      relation: "learned" (Eq. 4 heads), "fixed" (plain cosine of raw z, the paper's M-hat
        ablation) or "ones" (all tasks equally related, Theorem 5.2's M-tilde).
      weighting / temperature: how relations become non-negative weights (see relation_weights).
      representation: "label_aware" (default) or "head_gradient" (z_i = support-loss gradient
        w.r.t. the head at theta, flattened).
      stop_gradient: stop gradients through z inside the relation (default; the heads still learn).
      num_related: None = exact Eq. 5 over all p != i (T^2 query passes); k = only the k most
        related tasks of each task, weights renormalized over them (T*k passes).
      query_chunk: exact Eq. 5 computed for this many tasks' query sets at a time (all T models
        on them), each chunk rematerialized under the outer gradient, so only one chunk's T*chunk
        query passes are held at once: the same loss and meta-gradient in bounded memory
        (`chunk_size`). None = chosen from the shapes; 0 = all T at once.
      meta_data: the support examples z_i is computed from (paper Section 4.1's D-hat_i^s):
        "support" (all) or "adaptive" (ceil(meta_data_fraction * n_j) examples of each class j,
        drawn by the adaptive sampler's per-example scores, `AdaptiveSampler.meta_data_mask`, with
        meta_data_sampler's settings). Adaptation and the query losses use the whole sets either
        way (docs/design.md).
    """

    weight: float = 0.6
    num_heads: int = 4
    init_noise: float = 0.01
    relation: str = "learned"
    weighting: str = "relu"
    temperature: float = 1.0
    representation: str = "label_aware"
    stop_gradient: bool = True
    num_related: int | None = None
    query_chunk: int | None = None
    meta_data: str = "support"
    meta_data_fraction: float = 0.5
    meta_data_sampler: AdaptiveSampler = AdaptiveSampler()
    eps: float = 1e-8
    name: str = "trlearner"

    def __post_init__(self):
        """The section's own rules (the CLI's config check builds this object, so both say the
        same)."""
        for field, choices in (
            ("relation", RELATIONS),
            ("weighting", WEIGHTINGS),
            ("representation", REPRESENTATIONS),
            ("meta_data", META_DATA),
        ):
            if getattr(self, field) not in choices:
                raise ValueError(
                    f"unknown trlearner.{field} {getattr(self, field)!r}; choose from "
                    f"{sorted(choices)}"
                )
        if self.num_related is not None and not 1 <= self.num_related:
            raise ValueError(
                f"trlearner.num_related must be None (all tasks) or >= 1, got {self.num_related}"
            )
        if not self.weight >= 0:
            raise ValueError(
                f"trlearner.weight is lambda, the consistency loss's weight in Eq. 6, and must be "
                f">= 0, got {self.weight}; the paper's best is 0.6 (0 turns the term off)"
            )
        if self.query_chunk is not None and self.query_chunk < 0:
            raise ValueError(
                f"trlearner.query_chunk must be None (chosen from the shapes), 0 (no chunks) or "
                f">= 1 tasks per chunk, got {self.query_chunk}"
            )
        if not 0 < self.meta_data_fraction <= 1:
            raise ValueError(
                f"trlearner.meta_data_fraction must be in (0, 1], got {self.meta_data_fraction}"
            )
        if self.num_heads < 1:
            raise ValueError(f"trlearner.num_heads must be >= 1, got {self.num_heads}")

    @staticmethod
    def check_meta_batch(num_tasks: int) -> None:
        """TRLearner relates the tasks of a meta-batch: one task has no other to relate to. The
        CLI's config check and `meta_loss` both call this, so the API refuses what the CLI refuses,
        with the same words."""
        if num_tasks < 2:
            raise ValueError(
                "trlearner relates the tasks of a meta-batch: meta_batch_size must be >= 2, got "
                f"{num_tasks}"
            )

    def task_representation(
        self,
        learner,
        model_params: PyTree,
        support_x: jax.Array,
        support_y: jax.Array,
        support_mask: jax.Array | None = None,
    ) -> jax.Array:
        """z_i [Dz] of one task, from the meta-parameters (not adapted ones), padding excluded."""
        if self.representation == "label_aware":
            g = learner.model.features(model_params, support_x, support_mask)  # [K, F]
            if learner.loss_name == "cross_entropy":  # per-class mean features in label order
                num_classes = jax.eval_shape(learner.model.apply, model_params, support_x).shape[
                    -1
                ]  # the head's width (no compute)
                return prototypes(g, support_y, num_classes, support_mask).reshape(-1)
            y = support_y.reshape(support_y.shape[0], -1)  # [K, O]
            yg = (y[:, :, None] * g[:, None, :]).reshape(g.shape[0], -1)  # [K, O*F]
            return jnp.concatenate([example_mean(g, support_mask), example_mean(yg, support_mask)])
        if self.representation == "head_gradient":
            head = learner.model.head_name
            grads = jax.grad(learner.support_loss)(
                model_params, support_x, support_y, support_mask
            )[head]
            return jnp.concatenate([jnp.ravel(g) for g in jax.tree_util.tree_leaves(grads)])
        raise ValueError(
            f"unknown task representation {self.representation!r}; choose from "
            f"{list(REPRESENTATIONS)}"
        )

    def representation_width(self, learner, model_params: PyTree, example: Episode) -> int:
        z = jax.eval_shape(
            functools.partial(self.task_representation, learner),
            model_params,
            example.support_x,
            example.support_y,
            example.support_mask,
        )
        return z.shape[0]

    def init(self, key: jax.Array, learner, model_params: PyTree, example: Episode) -> PyTree:
        """Meta-parameters of the relation layer: H head vectors [H, Dz] near all-ones."""
        if self.relation != "learned":
            return {}
        width = self.representation_width(learner, model_params, example)
        noise = self.init_noise * jax.random.normal(key, (self.num_heads, width))
        return {"heads": jnp.ones((self.num_heads, width)) + noise}

    def relation_matrix(self, params: PyTree, z: jax.Array) -> jax.Array:
        """M [T, T] with zero diagonal from representations z [T, Dz]."""
        t = z.shape[0]
        off = 1.0 - jnp.eye(t, dtype=z.dtype)
        if self.stop_gradient:
            z = jax.lax.stop_gradient(z)
        if self.relation == "learned":
            return multihead_relation(z, params["heads"], self.eps)
        if self.relation == "fixed":
            return cosine_matrix(z, self.eps) * off
        return off  # "ones" (__post_init__ admits no other)

    def meta_data_masks(
        self, learner, meta_params: PyTree, episodes: Episode, key: jax.Array | None
    ) -> jax.Array | None:
        """Support masks [T, K] of the tasks' meta-data (None: the whole support sets, i.e.
        episodes.support_mask)."""
        if self.meta_data == "support":
            return episodes.support_mask
        if key is None:  # "adaptive"
            raise ValueError(
                "trlearner meta_data='adaptive' draws its support examples at random: pass "
                "penalty(..., key=...)"
            )
        theta = jax.lax.stop_gradient(meta_params)
        keys = jax.random.split(key, episodes.num_tasks)
        draw = lambda e, k: self.meta_data_sampler.meta_data_mask(
            learner, theta, e, k, self.meta_data_fraction
        )  # noqa: E731
        return jax.vmap(draw)(episodes, keys)

    def relations(
        self, params: PyTree, learner, model_params: PyTree, episodes: Episode
    ) -> jax.Array:
        """The relation matrix M [T, T] (zero diagonal) of a batch of tasks (leading task axis), z_i
        from each task's support_mask examples; `weights` normalizes it into the loss's weights.
        On a trained run:

            tr.relations(meta_params["regularizers"]["trlearner"], learner, meta_params["model"],
                         episodes)
        """
        z = jax.vmap(self.task_representation, in_axes=(None, None, 0, 0, 0))(
            learner, model_params, episodes.support_x, episodes.support_y, episodes.support_mask
        )
        return self.relation_matrix(params, z)

    def weights(
        self, params: PyTree, learner, model_params: PyTree, episodes: Episode
    ) -> jax.Array:
        """Normalized weights A [T, T] for a batched episode: `relations`, made non-negative and
        row-normalized."""
        return relation_weights(
            self.relations(params, learner, model_params, episodes),
            self.weighting,
            self.temperature,
            self.eps,
        )

    def chunk_size(self, num_tasks: int, support_shape, query_shape) -> int:
        """Tasks' query sets per chunk of exact Eq. 5 (num_tasks = no chunking).

        Chosen from the shapes when query_chunk is None: no chunking while all T^2 query passes'
        inputs are small (T * T * Q * feature size <= AUTO_CHUNK_ELEMENTS: the sinusoid, where
        chunks would only serialize tiny work); else the largest divisor b of T with
        b * Q <= K + Q, so that one chunk's b * T query passes hold no more examples than the T
        tasks' own support and query passes (MAML's step): peak memory near MAML's, not T^2/T
        times it. support_shape / query_shape: one task's [K, ...] and [Q, ...]."""
        t, k, q = num_tasks, support_shape[0], query_shape[0]
        if self.query_chunk == 0:
            return t
        if self.query_chunk is not None:
            return _largest_divisor_at_most(t, self.query_chunk)
        feature = int(math.prod(query_shape[1:]))
        if t * t * q * feature <= AUTO_CHUNK_ELEMENTS:
            return t
        return _largest_divisor_at_most(t, max(1, (k + q) // max(q, 1)))

    def penalty(
        self,
        meta_params: PyTree,
        learner,
        episodes: Episode,
        task_params: PyTree,
        key: jax.Array | None = None,
    ) -> tuple[jax.Array, dict]:
        """mean_i L_TR,i (paper Eq. 5) for T tasks with adapted parameters task_params (leading
        axis T).

        key: the meta-data draw (meta_data="adaptive" only)."""
        params = meta_params["regularizers"].get(self.name, {})
        meta_data = episodes.replace(
            support_mask=self.meta_data_masks(learner, meta_params, episodes, key)
        )
        a = self.weights(params, learner, meta_params["model"], meta_data)  # [T, T]
        _, ensemble_loss = get_loss(learner.loss_name)
        t = a.shape[0]
        queries, predict = episodes.query_x, learner.predict
        split = learner.split_predict(meta_params["model"])
        if split is not None:
            # The part every adapted model shares with theta (ANIL's body, a frozen encoder,
            # ProtoNet's embedding) runs once per task's queries instead of once per (model, task)
            # pair; the rest per pair. Exact.
            shared, predict = split
            queries = jax.vmap(shared)(episodes.query_x, episodes.query_mask)
        if self.num_related is None or self.num_related >= t - 1:
            # Exact: preds[p, i] = f_p(query_x_i), every adapted model on every task's queries.
            on_all_queries = jax.vmap(predict, in_axes=(None, 0, 0))

            def chunk_losses(q_x, q_mask, q_y, a_rows):  # b tasks' queries: [b] losses
                preds = jax.vmap(on_all_queries, in_axes=(0, None, None))(
                    task_params, q_x, q_mask
                )  # [T, b, Q, O]
                return jax.vmap(ensemble_loss, in_axes=(1, 0, 0, 0))(preds, a_rows, q_y, q_mask)

            b = self.chunk_size(t, episodes.support_x.shape[1:], queries.shape[1:])
            parts = (queries, episodes.query_mask, episodes.query_y, a)
            if b >= t:
                per_task = chunk_losses(*parts)  # [T]
            else:  # b tasks at a time, each chunk recomputed under the gradient (jax.checkpoint)
                chunked = jax.tree_util.tree_map(
                    lambda x: x.reshape(t // b, b, *x.shape[1:]), parts
                )
                per_task = jax.lax.map(jax.checkpoint(lambda c: chunk_losses(*c)), chunked).reshape(
                    t
                )
            return jnp.mean(per_task), {"relation_weights": a}
        # Relation-sparse: only the k most related tasks of each task i (weights renormalized
        # over them), k/(T-1) of the exact cost; the choice of the k is not differentiated.
        top_w, top_idx = jax.lax.top_k(a, self.num_related)  # [T, k]
        top_idx = jax.lax.stop_gradient(top_idx)
        top_w = top_w / jnp.maximum(jnp.sum(top_w, axis=-1, keepdims=True), self.eps)
        # leaves [T, k, ...]
        related = jax.tree_util.tree_map(lambda leaf: leaf[top_idx], task_params)
        on_own_queries = jax.vmap(predict, in_axes=(0, None, None))  # k models, one task's queries
        preds = jax.vmap(on_own_queries)(related, queries, episodes.query_mask)  # [T, k, Q, O]
        per_task = jax.vmap(ensemble_loss)(preds, top_w, episodes.query_y, episodes.query_mask)
        return jnp.mean(per_task), {"relation_weights": a}
