"""1-D regression task families: sinusoid (stated and w=1 forms) and harmonic.

Definitions are in ../shared/docs/methods.md ("Tasks"). Each family draws a fixed pool of
meta-training tasks once from its pool key (480 by default, TRLearner Table 1: the small pool is
what makes meta-overfitting matter) and draws fresh tasks from the prior for meta-testing.
Optionally (`points_per_task`), every pool task also owns a fixed set of noisy points and an
episode subsamples K + Q of them, as in a finite dataset.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp

from metareg.rng import named_key
from metareg.tasks.base import ScalarRegression
from metareg.types import Array, Episode


def _uniform(key, n, low, high):
    return jax.random.uniform(key, (n,), minval=low, maxval=high)


def _sinusoid_prior(key: Array, n: int) -> dict[str, Array]:
    # TRLearner Sec. 6.1 / Bayesian MAML (Kim et al. 2018): A~U[0.1,5], w~U[0.5,2], phase~U[0,2pi].
    k_a, k_w, k_b = jax.random.split(key, 3)
    return {
        "amplitude": _uniform(k_a, n, 0.1, 5.0),
        "frequency": _uniform(k_w, n, 0.5, 2.0),
        "phase": _uniform(k_b, n, 0.0, 2 * math.pi),
    }


def _sinusoid_w1_prior(key: Array, n: int) -> dict[str, Array]:
    # The standard MAML family (Finn et al. 2017): A~U[0.1,5], w=1, phase~U[0,pi].
    k_a, k_b = jax.random.split(key)
    return {
        "amplitude": _uniform(k_a, n, 0.1, 5.0),
        "frequency": jnp.ones((n,)),
        "phase": _uniform(k_b, n, 0.0, math.pi),
    }


def _sinusoid_fn(p: dict[str, Array], x: Array) -> Array:
    return p["amplitude"] * jnp.sin(p["frequency"] * x + p["phase"])


def _harmonic_prior(key: Array, n: int) -> dict[str, Array]:
    # Lacoste et al. 2018: w~U(5,7), (b1,b2)~U(0,2pi)^2, (a1,a2)~N(0,1)^2.
    k_w, k_b1, k_b2, k_a = jax.random.split(key, 4)
    a = jax.random.normal(k_a, (2, n))
    return {
        "frequency": _uniform(k_w, n, 5.0, 7.0),
        "phase1": _uniform(k_b1, n, 0.0, 2 * math.pi),
        "phase2": _uniform(k_b2, n, 0.0, 2 * math.pi),
        "amplitude1": a[0],
        "amplitude2": a[1],
    }


def _harmonic_local_prior(key: Array, n: int) -> dict[str, Array]:
    # The harmonic prior plus each task's input centre mu_x ~ U(-4, 4) (torchmeta's Harmonic, which
    # the adaptive-sampler and task-diversity code use;
    # docs/sources/harmonic_and_adaptive_sampler.md).
    k_h, k_c = jax.random.split(key)
    return {**_harmonic_prior(k_h, n), "center": _uniform(k_c, n, -4.0, 4.0)}


def _harmonic_fn(p: dict[str, Array], x: Array) -> Array:
    w = p["frequency"]
    return p["amplitude1"] * jnp.sin(w * x + p["phase1"]) + p["amplitude2"] * jnp.sin(
        2 * w * x + p["phase2"]
    )


@dataclasses.dataclass(frozen=True)
class TaskCode:
    """A task code in the input: the one-hot bin of one task parameter, appended to every x.

    The pool is stratified so that pool task j has its parameter in bin j mod `bins`: with a pool of
    `bins` tasks the code names the training task, so a model can solve every training task from x
    alone, without its support set (non-mutually-exclusive). Test tasks are fresh prior draws whose
    code says only their bin: the other parameters (the phase) must come from the support set.
    """

    param: str
    low: float
    high: float
    bins: int

    def bin_of(self, value: Array) -> Array:
        b = jnp.floor((value - self.low) / (self.high - self.low) * self.bins).astype(jnp.int32)
        return jnp.clip(b, 0, self.bins - 1)

    def stratify(self, key: Array, params: dict[str, Array]) -> dict[str, Array]:
        """Pool task j's parameter redrawn uniformly within bin j mod bins."""
        n = params[self.param].shape[0]
        u = jax.random.uniform(key, (n,))
        value = self.low + (jnp.arange(n) % self.bins + u) / self.bins * (self.high - self.low)
        return {**params, self.param: value}


@dataclasses.dataclass(frozen=True)
class FamilySpec:
    """The prior over task parameters, the task function, the default x range and noise, and an
    optional task code in the input (None: the input is x alone)."""

    prior: Callable[[Array, int], dict[str, Array]]
    fn: Callable[[dict[str, Array], Array], Array]
    x_range: tuple[float, float]
    noise_std: float
    code: TaskCode | None = None
    # None: x ~ U(x_range) for every task; s: x ~ N(task's "center", s^2), so a task sees a
    # window of its own
    local_x_std: float | None = None
    # True: the model sees x minus its task's support-set mean (per-task input normalization; the
    # targets are the function at the raw x)
    center_inputs: bool = False


FAMILY_SPECS = {
    "sinusoid": FamilySpec(_sinusoid_prior, _sinusoid_fn, (-5.0, 5.0), 0.3),
    "sinusoid_w1": FamilySpec(_sinusoid_w1_prior, _sinusoid_fn, (-5.0, 5.0), 0.3),
    # x range and sigma_y are not given by the paper: our documented choice (methods.md).
    "harmonic": FamilySpec(_harmonic_prior, _harmonic_fn, (-4.0, 4.0), 0.1),
    # Non-mutually-exclusive sinusoid (after MR-MAML's sinusoid notebook, which feeds a one-hot
    # amplitude index to its network): sinusoid_w1 with a one-hot of the amplitude's bin (20 bins)
    # in the input.
    "sinusoid_nme": FamilySpec(
        _sinusoid_w1_prior, _sinusoid_fn, (-5.0, 5.0), 0.3, TaskCode("amplitude", 0.1, 5.0, 20)
    ),
    # Harmonic as its traceable sources run it (torchmeta's Harmonic, after Lacoste et al. 2018,
    # used by the adaptive-sampler code): x ~ N(mu_x, 1) with mu_x ~ U(-4, 4) per task, no noise.
    # x_range: mu_x's range.
    "harmonic_local": FamilySpec(
        _harmonic_local_prior, _harmonic_fn, (-4.0, 4.0), 0.0, local_x_std=1.0
    ),
    # Ours, not the sources': harmonic_local with per-task input normalization, so the network
    # sees every task around 0 instead of anywhere in [-7, 7] (docs/reproduction_table1.md).
    "harmonic_local_centered": FamilySpec(
        _harmonic_local_prior, _harmonic_fn, (-4.0, 4.0), 0.0, local_x_std=1.0, center_inputs=True
    ),
}


@flax.struct.dataclass
class RegressionFamily(ScalarRegression):
    """A task family with its meta-training pool; a pytree, so it can be a jit argument.

    pool_params: task parameters of the P pool tasks, each leaf [P] (empty dict: no pool,
    every training task is fresh). pool_x / pool_noise: [P, n] fixed points (None unless
    points_per_task is set).
    """

    pool_params: dict[str, Array]
    pool_x: Array | None
    pool_noise: Array | None
    name: str = flax.struct.field(pytree_node=False)
    num_shots: int = flax.struct.field(pytree_node=False)
    num_queries: int = flax.struct.field(pytree_node=False)
    x_range: tuple[float, float] = flax.struct.field(pytree_node=False)
    noise_std: float = flax.struct.field(pytree_node=False)

    @property
    def spec(self) -> FamilySpec:
        return FAMILY_SPECS[self.name]

    @property
    def pool_size(self) -> int:
        leaves = jax.tree_util.tree_leaves(self.pool_params)
        return leaves[0].shape[0] if leaves else 0

    @property
    def input_width(self) -> int:
        """x, then the task code's one-hot bin if the family has one."""
        return 1 + (self.spec.code.bins if self.spec.code else 0)

    def example_episode(self) -> Episode:
        """A single-task episode of the right shapes (zeros), for initializing models."""
        k, q, d = self.num_shots, self.num_queries, self.input_width
        return Episode(jnp.zeros((k, d)), jnp.zeros((k, 1)), jnp.zeros((q, d)), jnp.zeros((q, 1)))

    def inputs(self, params, x: Array) -> Array:
        """Model inputs [T, n, input_width] of tasks `params` at points x [T, n]."""
        feats = x[..., None]
        code = self.spec.code
        if code is None:
            return feats
        onehot = jax.nn.one_hot(code.bin_of(params[code.param]), code.bins)  # [T, bins]
        return jnp.concatenate(
            [feats, jnp.broadcast_to(onehot[:, None, :], (*x.shape, code.bins))], axis=-1
        )

    def _episodes(self, params, x, noise) -> Episode:
        """Split [T, K+Q] points into an Episode; targets [.., 1]."""
        clean = jax.vmap(self.spec.fn)(params, x)
        y = clean + noise
        k = self.num_shots
        if self.spec.center_inputs:  # the support set's mean: known at test time, unlike the centre
            x = x - x[:, :k].mean(axis=1, keepdims=True)
        inputs = self.inputs(params, x)
        return Episode(
            support_x=inputs[:, :k],
            support_y=y[:, :k, None],
            query_x=inputs[:, k:],
            query_y=y[:, k:, None],
            query_y_clean=clean[:, k:, None],
        )

    def _fresh_points(self, key, num_tasks, params):
        k_x, k_n = jax.random.split(key)
        n = self.num_shots + self.num_queries
        if self.spec.local_x_std is None:
            lo, hi = self.x_range
            x = jax.random.uniform(k_x, (num_tasks, n), minval=lo, maxval=hi)
        else:
            x = params["center"][:, None] + self.spec.local_x_std * jax.random.normal(
                k_x, (num_tasks, n)
            )
        noise = self.noise_std * jax.random.normal(k_n, (num_tasks, n))
        return x, noise

    def sample_train(self, key: Array, num_tasks: int) -> Episode:
        """T meta-training episodes: T distinct pool tasks, fresh (or subsampled) points."""
        k_task, k_pts = jax.random.split(key)
        if self.pool_size == 0:
            return self.sample_test(key, num_tasks)
        idx = jax.random.choice(k_task, self.pool_size, (num_tasks,), replace=False)
        params = jax.tree_util.tree_map(lambda a: a[idx], self.pool_params)
        if self.pool_x is None:
            x, noise = self._fresh_points(k_pts, num_tasks, params)
        else:
            n = self.num_shots + self.num_queries
            keys = jax.random.split(k_pts, num_tasks)
            pick = jax.vmap(lambda k: jax.random.permutation(k, self.pool_x.shape[1])[:n])(keys)
            x = jnp.take_along_axis(self.pool_x[idx], pick, axis=1)
            noise = jnp.take_along_axis(self.pool_noise[idx], pick, axis=1)
        return self._episodes(params, x, noise)

    def sample_test(self, key: Array, num_tasks: int) -> Episode:
        """T fresh tasks from the prior (never in the pool), with noisy and clean targets."""
        k_task, k_pts = jax.random.split(key)
        return self.episodes_for(k_pts, self.spec.prior(k_task, num_tasks))

    def episodes_for(self, key: Array, params: dict[str, Array]) -> Episode:
        """Episodes of chosen tasks `params`, at fresh points and noise from `key` (for plots).

        params: the family's task parameters, e.g. {"amplitude", "phase"}, each leaf [T];
        `spec.prior(key, T)` draws them.
        """
        num_tasks = jax.tree_util.tree_leaves(params)[0].shape[0]
        x, noise = self._fresh_points(key, num_tasks, params)
        return self._episodes(params, x, noise)

    def functions(self, params: dict[str, Array], x: Array) -> Array:
        """[T, n]: the noise-free functions of the tasks `params` (leaves [T]) at points x [n]."""
        return jax.vmap(self.spec.fn, in_axes=(0, None))(params, x)


def regression_family(
    name: str,
    key: Array,
    num_shots: int,
    num_queries: int = 10,
    pool_size: int | None = 480,
    points_per_task: int | None = None,
    noise_std: float | None = None,
    x_range: tuple[float, float] | None = None,
) -> RegressionFamily:
    """Build a regression family, drawing its pool of meta-training tasks from `key`.

    pool_size None or 0 means no fixed pool (every meta-training task is fresh).
    """
    if name not in FAMILY_SPECS:
        raise ValueError(
            f"unknown regression task family {name!r}; choose from {sorted(FAMILY_SPECS)}"
        )
    spec = FAMILY_SPECS[name]
    noise_std = spec.noise_std if noise_std is None else float(noise_std)
    x_range = spec.x_range if x_range is None else tuple(float(v) for v in x_range)
    pool_x = pool_noise = None
    if pool_size:
        pool_params = spec.prior(named_key(key, "pool_params"), pool_size)
        if (
            spec.code is not None
        ):  # pool task j in code bin j mod bins: a pool of `bins` tasks is named by its code
            pool_params = spec.code.stratify(named_key(key, "pool_code"), pool_params)
        if points_per_task:
            if spec.local_x_std is not None:
                raise ValueError(
                    f"task family {name!r} draws each task's x around its own centre: "
                    "points_per_task is not supported for it; leave task.points_per_task unset"
                )
            lo, hi = x_range
            pool_x = jax.random.uniform(
                named_key(key, "pool_x"), (pool_size, points_per_task), minval=lo, maxval=hi
            )
            pool_noise = noise_std * jax.random.normal(
                named_key(key, "pool_noise"), (pool_size, points_per_task)
            )
    else:
        pool_params = {}
    return RegressionFamily(
        pool_params=pool_params,
        pool_x=pool_x,
        pool_noise=pool_noise,
        name=name,
        num_shots=num_shots,
        num_queries=num_queries,
        x_range=x_range,
        noise_std=noise_std,
    )
