"""MetaCRL: the Meta-learning Causal Representation Learner of Wang et al. ("Hacking Task
Confounder in Meta-Learning", IJCAI 2024, arXiv 2312.05771), as a learner wrapper plus an
additive outer term.

Between the feature extractor g and the head h (the paper's Figure 6, f_theta = h o g) sits the
disentangling module: a factor matrix Xi [F, M] whose columns are the generating factors, and the
factor selector f_gr (Linear M -> hidden, ReLU, Linear hidden -> M, then a sigmoid) that gives
each task its gate over the factors from the mean feature of its support set:

    s_i  = sigmoid(f_gr(Xi^T mean_{x in D_i^s} g_theta(x)))          (task i's gate, [M])
    z(x) = s_i * (Xi^T g(x))                                         (the head's input, [M])

Xi and f_gr are meta-parameters, fixed in the inner loop (like T-Net's transforms); the inner loop
adapts the backbone's parameters of h o g as usual. M = F, so every backbone's head keeps its
shape. The outer loss gains

    lambda_1 * sum_{j<k} |xi_j . xi_k|                  (orthogonality: decoupled factors)
  + lambda_2 * mean_i [ |s_i|_1 - H(s_i) ]               (factor selection)
  + lambda_3 * mean_i ( d/dw L(D_i^q, w * f_i) |_{w=1} )^2   (invariance: IRMv1, the tasks as
                                                               environments)
with H(s) = -sum_m s_m log(s_m + eps).

The first two are the released code's `disentangle_factors` (learner/learnerCRL.py); the third is
our reading of the "invariant-based bi-level optimization" (docs/sources/metacrl.md: the paper's
method section could not be read, and the code's causal module is commented out).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from metareg.learners.wrapper import (
    LearnerWrapper,
    find_wrapper,
    head_boundary,
    shared_prefix_end,
    with_model,
)
from metareg.losses import example_mean, get_loss
from metareg.regularizers.base import Regularizer
from metareg.types import Episode

PyTree = Any

XI_INITS = ("kaiming_uniform", "identity")


def orthogonality_loss(xi: jax.Array) -> jax.Array:
    """sum_{j<k} |xi_j . xi_k| over the columns of xi [F, M] (learnerCRL.py: the norm of each
    scalar product, i.e. its absolute value); 0 iff the columns are pairwise orthogonal."""
    gram = xi.T @ xi
    return jnp.sum(jnp.abs(jnp.triu(gram, k=1)))


def selection_loss(gate: jax.Array, eps: float = 1e-10) -> jax.Array:
    """|s|_1 - H(s), H(s) = -sum_m s_m log(s_m + eps), for a gate s in (0, 1)^M
    (learnerCRL.py: fgr_output_l1 - fgr_output_entropy). Per factor, s + s log s is smallest at
    s = e^-2: a soft sparsity."""
    entropy = -jnp.sum(gate * jnp.log(gate + eps), axis=-1)
    return jnp.sum(jnp.abs(gate), axis=-1) - entropy


def factor_features(h: jax.Array, xi: jax.Array, gate: jax.Array) -> jax.Array:
    """z = gate * (h @ Xi) over the last axis: h [..., F], xi [F, M], gate [M] -> [..., M]."""
    return (h @ xi) * gate


def invariance_penalty(loss_name: str, pred: jax.Array, y: jax.Array, mask=None) -> jax.Array:
    """IRMv1 (Arjovsky et al. 2019): the squared derivative of the loss w.r.t. a dummy scale w
    on the outputs, at w = 1; 0 when rescaling the predictor cannot lower the loss."""
    loss, _ = get_loss(loss_name)
    return jnp.square(jax.grad(lambda w: loss(w * pred, y, mask))(jnp.ones((), pred.dtype)))


@dataclasses.dataclass(frozen=True, eq=False)
class FactorModel:
    """A BlockModel with the factor layer between the feature extractor and the head: the output
    of block num_blocks - 2 becomes factor_features(., xi, gate) whenever a call runs through that
    boundary (so `features` ends with it, and a call that starts at the head does not apply it
    twice). Built inside the traced step (it holds a task's gate), never a static argument."""

    base: Any
    xi: jax.Array
    gate: jax.Array

    @property
    def num_blocks(self) -> int:
        return self.base.num_blocks

    @property
    def head_name(self) -> str:
        return self.base.head_name

    def apply(
        self, params: PyTree, x: jax.Array, start: int = 0, end: int | None = None, mask=None
    ):
        end = self.num_blocks if end is None else end
        head = head_boundary(self)
        if not start < head <= end:
            return self.base.apply(params, x, start, end, mask)
        z = factor_features(self.base.apply(params, x, start, head, mask), self.xi, self.gate)
        return z if end == head else self.base.apply(params, z, head, end, mask)

    def features(self, params: PyTree, x: jax.Array, mask=None) -> jax.Array:
        return self.apply(params, x, 0, self.num_blocks - 1, mask)


@dataclasses.dataclass(frozen=True)
class MetaCRLLearner(LearnerWrapper):
    """The backbone with the factor layer. Task parameters: {"model": the base learner's,
    "factors": {"xi": [F, M], "gate": [M]}}."""

    reg: Any = None

    def factors(self, meta_params: PyTree, support_x: jax.Array, mask=None) -> dict:
        params = meta_params["regularizers"][self.reg.name]
        gate = self.reg.gate(params, self.base.model, meta_params["model"], support_x, mask)
        return {"xi": params["xi"], "gate": gate}

    def _with(self, factors: dict):
        return with_model(self.base, FactorModel(self.base.model, factors["xi"], factors["gate"]))

    def adapt(self, meta_params, support_x, support_y, num_steps=None, mask=None) -> PyTree:
        factors = self.factors(meta_params, support_x, mask)
        phi = self._with(factors).adapt(meta_params, support_x, support_y, num_steps, mask)
        return {"model": phi, "factors": factors}

    def predict(self, task_params: PyTree, x: jax.Array, mask=None) -> jax.Array:
        return self._with(task_params["factors"]).predict(task_params["model"], x, mask)

    def split_predict(self, theta: PyTree):
        """(shared, rest) as the base learner's, with the factor layer (task-specific: its gate)
        always in `rest`; None when the base learner has no split."""
        split = self.base.split_predict(theta)
        if split is None:
            return None
        shared, base_rest = split
        first = shared_prefix_end(self.base)
        if first >= head_boundary(self.base.model):  # shared = all of g (ANIL, ProtoNet)

            def rest(tp, h, m):
                f = tp["factors"]
                return base_rest(tp["model"], factor_features(h, f["xi"], f["gate"]), m)

        else:  # shared = a frozen prefix (the pose encoder): the rest runs through the layer

            def rest(tp, h, m):
                f = tp["factors"]
                model = FactorModel(self.base.model, f["xi"], f["gate"])
                return model.apply(tp["model"], h, first, None, m)

        return shared, rest


@dataclasses.dataclass(frozen=True)
class MetaCRL(Regularizer):
    """Disentangling module (Xi, f_gr) in the forward pass and its outer terms; see the module
    docstring. `meta_params["regularizers"]["metacrl"] = {"xi": [F, F], "f_gr": {w1, b1, w2, b2}}`.
    It changes the forward pass: `MetaObjective(learner, (MetaCRL(),)).learner` is the wrapped
    learner (`MetaCRLLearner`) that training uses; evaluate with it, not with `learner`.

    Fields (all config fields of `config.metacrl`):
      lambda_1: weight of the orthogonality loss (learnerCRL.py `config['lambda_1']`; no value is
        given anywhere we could read: ours 1e-3).
      lambda_2: weight of the factor-selection loss (`config['lambda_2']`; ours 1e-3).
      lambda_3: weight of the invariance penalty (ours, 1e-2; our reading of the causal module).
      hidden: f_gr's hidden width (`config['hidden_dim']`, no value given; ours 64).
      xi_init: "kaiming_uniform" (learnerCRL.py: kaiming_uniform_(Xi, a=sqrt(5)), i.e.
        U(-1/sqrt(M), 1/sqrt(M))) or "identity" (ours: the plain backbone's features at init,
        up to the gate).
      eps: inside the entropy's log (learnerCRL.py: 1e-10).
    """

    lambda_1: float = 1e-3
    lambda_2: float = 1e-3
    lambda_3: float = 1e-2
    hidden: int = 64
    xi_init: str = "kaiming_uniform"
    eps: float = 1e-10
    name: str = "metacrl"
    # the penalty is already weighted term by term
    weight: ClassVar[float] = 1.0
    wraps_learner: ClassVar[bool] = True

    def __post_init__(self):
        """The section's own rules (the CLI's config check builds this object, so both say the
        same)."""
        for field in ("lambda_1", "lambda_2", "lambda_3"):
            if getattr(self, field) < 0:
                raise ValueError(
                    f"metacrl.{field} is the weight of a loss term and must be >= 0, got "
                    f"{getattr(self, field)}; 0 turns the term off"
                )
        if self.hidden < 1:
            raise ValueError(
                f"metacrl.hidden (f_gr's hidden width) must be >= 1, got {self.hidden}"
            )
        if self.xi_init not in XI_INITS:
            raise ValueError(
                f"unknown metacrl.xi_init {self.xi_init!r}; choose from {sorted(XI_INITS)}"
            )
        if not self.eps > 0:
            raise ValueError(f"metacrl.eps must be > 0 (inside the entropy's log), got {self.eps}")

    def wrap_learner(self, learner):
        if find_wrapper(learner, MetaCRLLearner) is not None:
            return learner
        return MetaCRLLearner(learner, reg=self)

    def init(self, key: jax.Array, learner, model_params: PyTree, example: Episode) -> PyTree:
        """Xi [F, F] and f_gr's weights (PyTorch nn.Linear's default init, U(+-1/sqrt(fan_in)),
        as the code's nn.Sequential gets), F = the feature extractor's output width."""
        g = jax.eval_shape(learner.model.features, model_params, example.support_x)
        if len(g.shape) != 2:
            raise ValueError(f"metacrl needs features [B, F] before the head, got shape {g.shape}")
        f = g.shape[-1]
        k_xi, k1, k2, k3, k4 = jax.random.split(key, 5)

        def uniform(k, shape, fan_in):
            bound = 1.0 / math.sqrt(fan_in)
            return jax.random.uniform(k, shape, jnp.float32, -bound, bound)

        xi = jnp.eye(f) if self.xi_init == "identity" else uniform(k_xi, (f, f), f)
        f_gr = {
            "w1": uniform(k1, (f, self.hidden), f),
            "b1": uniform(k2, (self.hidden,), f),
            "w2": uniform(k3, (self.hidden, f), self.hidden),
            "b2": uniform(k4, (f,), self.hidden),
        }
        return {"xi": xi, "f_gr": f_gr}

    @staticmethod
    def gate(params: PyTree, model, theta: PyTree, support_x: jax.Array, mask=None) -> jax.Array:
        """s_i [M] = sigmoid(f_gr(Xi^T mean g_theta(x))) over the task's (real) support points."""
        g_bar = example_mean(model.features(theta, support_x, mask), mask)  # [F]
        u = g_bar @ params["xi"]
        w = params["f_gr"]
        return jax.nn.sigmoid(jax.nn.relu(u @ w["w1"] + w["b1"]) @ w["w2"] + w["b2"])

    def penalty(
        self,
        meta_params: PyTree,
        learner,
        episodes: Episode,
        task_params: PyTree,
        key: jax.Array | None = None,
    ) -> tuple[jax.Array, dict]:
        """lambda_1 * orthogonality + lambda_2 * mean_i selection + lambda_3 * mean_i invariance
        for T tasks with adapted parameters task_params (leading axis T)."""
        del key
        params = meta_params["regularizers"][self.name]
        orth = orthogonality_loss(params["xi"])
        gates = jax.vmap(self.gate, in_axes=(None, None, None, 0, 0))(
            params, learner.model, meta_params["model"], episodes.support_x, episodes.support_mask
        )  # [T, M]
        selection = jnp.mean(selection_loss(gates, self.eps))

        def task_invariance(tp, x, y, m):
            return invariance_penalty(learner.loss_name, learner.predict(tp, x, m), y, m)

        # a term with weight 0 is not traced (lambda_3 = 0: no extra query pass)
        invariance = jnp.zeros(())
        if self.lambda_3 > 0:
            invariance = jnp.mean(
                jax.vmap(task_invariance)(
                    task_params, episodes.query_x, episodes.query_y, episodes.query_mask
                )
            )
        value = self.lambda_1 * orth + self.lambda_2 * selection + self.lambda_3 * invariance
        return value, {"orthogonality": orth, "selection": selection, "invariance": invariance}
