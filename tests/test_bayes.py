"""Bayes-optimal floor: closed forms, an independent Monte Carlo check, grid
convergence, sanity bounds."""

import math
from unittest import mock

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metareg.analysis import bayes
from metareg.analysis.bayes import Grid
from metareg.tasks.regression import FAMILY_SPECS, regression_family

COARSE = {"sinusoid": Grid(128, 128), "sinusoid_w1": Grid(1, 1024), "harmonic": Grid(256, 64)}


def _phi(t: float) -> float:
    return 0.5 * (1.0 + math.erf(t / math.sqrt(2.0)))


def _pdf(t: float) -> float:
    return math.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)


def _truncated_normal_mean(mu: float, sd: float, lo: float, hi: float) -> float:
    a, b = (lo - mu) / sd, (hi - mu) / sd
    return mu + sd * (_pdf(a) - _pdf(b)) / (_phi(b) - _phi(a))


def _x64(*arrays):
    return tuple(jnp.asarray(np.asarray(a, np.float64)) for a in arrays)


@pytest.mark.parametrize("true_amplitude", [0.3, 2.5, 4.8])
def test_uniform_amplitude_posterior_is_truncated_normal(true_amplitude):
    """w and b fixed (one-node grids), A ~ U[lo, hi]: the predictor is E[A | y] sin(w x + b),
    E[A | y] the truncated-normal mean (noise 1.0 so the truncation matters)."""
    rng = np.random.default_rng(0)
    w, b, lo, hi, noise = 1.3, 0.7, 0.1, 5.0, 1.0
    x, xq = rng.uniform(-5, 5, 4), rng.uniform(-5, 5, 7)
    y = true_amplitude * np.sin(w * x + b) + noise * rng.normal(size=4)
    phi = np.sin(w * x + b)
    expected = _truncated_normal_mean(
        phi @ y / (phi @ phi), noise / math.sqrt(phi @ phi), lo, hi
    ) * np.sin(w * xq + b)
    with jax.enable_x64(True):
        got = bayes.sinusoid_posterior_mean(
            *_x64(x, y, xq, [w], [b]), amplitude=(lo, hi), noise_std=noise
        )
        chex.assert_trees_all_close(np.asarray(got), expected, rtol=1e-9, atol=1e-12)


def test_uniform_amplitude_far_outside_its_range_is_stable():
    """Data asking for A = -20 with A ~ U[0.1, 5] (alpha ~ +60): the mean sits
    just above lo, finite."""
    x = np.linspace(-4, 4, 10)
    y = -20.0 * np.sin(x)
    with jax.enable_x64(True):
        got = bayes.sinusoid_posterior_mean(
            *_x64(x, y, [1.0], [1.0], [0.0]), amplitude=(0.1, 5.0), noise_std=0.3
        )
    a_post = float(got[0]) / math.sin(1.0)
    assert np.isfinite(a_post) and 0.1 < a_post < 0.11


def test_log_ndtr_diff_matches_log_ndtr_in_the_tails():
    with jax.enable_x64(True):
        a = jnp.array(
            [-60.0, -40.0, -3.0, -0.5, 1.0, 30.0, 26.6 * math.sqrt(2), -26.6 * math.sqrt(2) - 1e-3]
        )
        b = a + jnp.array([1e-6, 2.0, 1.0, 1.0, 0.5, 5.0, 1e-3, 1e-3])
        got = jax.jit(bayes._log_ndtr_diff)(a, b)
        # reference through jax's log_ndtr on the reflected interval (both ends in the lower tail)
        lo, hi = jnp.where(a + b > 0, -b, a), jnp.where(a + b > 0, -a, b)
        lhi = jax.scipy.special.log_ndtr(hi)
        ref = lhi + jnp.log(-jnp.expm1(jax.scipy.special.log_ndtr(lo) - lhi))
        chex.assert_trees_all_close(got, ref, rtol=1e-8)


def test_gaussian_amplitudes_posterior_is_the_textbook_one():
    """w, b1, b2 fixed (one-node grids), (a1, a2) ~ N(0, I):
    mean = (I + P^T P / s^2)^-1 P^T y / s^2."""
    rng = np.random.default_rng(1)
    w, b, noise = 5.7, 1.1, 0.1
    x, xq = rng.uniform(-4, 4, 3), rng.uniform(-4, 4, 6)
    basis = lambda t: np.stack([np.sin(w * t + b), np.sin(2 * w * t + b)], -1)
    y = basis(x) @ np.array([0.8, -1.2]) + noise * rng.normal(size=3)
    p = basis(x)
    mean_a = np.linalg.solve(np.eye(2) + p.T @ p / noise**2, p.T @ y / noise**2)
    with jax.enable_x64(True):
        got = bayes.harmonic_posterior_mean(*_x64(x, y, xq, [w], [b]), noise_std=noise)
        chex.assert_trees_all_close(np.asarray(got), basis(xq) @ mean_a, rtol=1e-9, atol=1e-12)


def test_grid_weights_are_the_marginal_likelihoods():
    """Two phase nodes: the mixture weights must be p(y | node), here computed independently (a fine
    quadrature over A for the sinusoid; log N(y; 0, s^2 I + P P^T) for the harmonic's four
    (b1, b2))."""
    rng = np.random.default_rng(2)
    x, xq = rng.uniform(-3, 3, 3), rng.uniform(-3, 3, 5)
    phases = np.array([0.4, 2.0])

    # sinusoid, w = 1, A ~ U[0.1, 5]
    y = 2.0 * np.sin(x + 0.4) + 0.5 * rng.normal(size=3)
    amps = np.linspace(0.1, 5.0, 200_001)
    lik = np.exp(
        -0.5
        * (
            ((y[None, None] - amps[None, :, None] * np.sin(x + phases[:, None, None])) / 0.5) ** 2
        ).sum(-1)
    )
    weights = lik.sum(1) / lik.sum()
    mean_a = (lik * amps).sum(1) / lik.sum(1)
    expected = (weights[:, None] * mean_a[:, None] * np.sin(xq + phases[:, None])).sum(0)
    with jax.enable_x64(True):
        got = bayes.sinusoid_posterior_mean(
            *_x64(x, y, xq, [1.0], phases), amplitude=(0.1, 5.0), noise_std=0.5
        )
    chex.assert_trees_all_close(np.asarray(got), expected, rtol=1e-6, atol=1e-8)

    # harmonic, w = 6
    y = np.sin(6 * x + 0.4) - 0.5 * np.sin(12 * x + 2.0) + 0.3 * rng.normal(size=3)
    logs, preds = [], []
    for b1 in phases:
        for b2 in phases:
            p = np.stack([np.sin(6 * x + b1), np.sin(12 * x + b2)], -1)
            cov = 0.3**2 * np.eye(3) + p @ p.T
            logs.append(-0.5 * np.linalg.slogdet(cov)[1] - 0.5 * y @ np.linalg.solve(cov, y))
            mean_a = np.linalg.solve(np.eye(2) + p.T @ p / 0.3**2, p.T @ y / 0.3**2)
            preds.append(np.stack([np.sin(6 * xq + b1), np.sin(12 * xq + b2)], -1) @ mean_a)
    weights = np.exp(np.array(logs) - max(logs))
    expected = (weights[:, None] * np.array(preds)).sum(0) / weights.sum()
    with jax.enable_x64(True):
        got = bayes.harmonic_posterior_mean(*_x64(x, y, xq, [6.0], phases), noise_std=0.3)
    chex.assert_trees_all_close(np.asarray(got), expected, rtol=1e-9, atol=1e-12)


def test_harmonic_half_period_phases_are_exact():
    """(a, b) and (-a, b + pi) are one function of equal prior density: phases over [0, 2 pi) with
    2n nodes give the same predictor as [0, pi) with n nodes."""
    rng = np.random.default_rng(3)
    x, xq = rng.uniform(-4, 4, 5), rng.uniform(-4, 4, 4)
    y = 0.9 * np.sin(6.1 * x + 4.0) + 0.4 * np.sin(12.2 * x + 5.5) + 0.1 * rng.normal(size=5)
    w = bayes.midpoints(5.0, 7.0, 64)
    with jax.enable_x64(True):
        half = bayes.harmonic_posterior_mean(
            *_x64(x, y, xq, w, bayes.midpoints(0, math.pi, 24)), noise_std=0.1
        )
        full = bayes.harmonic_posterior_mean(
            *_x64(x, y, xq, w, bayes.midpoints(0, 2 * math.pi, 48)), noise_std=0.1
        )
    chex.assert_trees_all_close(half, full, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("family", sorted(bayes.PRIORS))
def test_priors_mirror_the_task_families(family):
    """PRIORS restates the constants of tasks/regression.py: draws of the family's
    own prior fall in them."""
    prior, spec = bayes.PRIORS[family], FAMILY_SPECS[family]
    p = jax.tree_util.tree_map(np.asarray, spec.prior(jax.random.key(0), 20_000))
    w_lo, w_hi = prior.w_range
    assert w_lo <= p["frequency"].min() < w_lo + 0.01 and w_hi - 0.01 < p["frequency"].max() <= w_hi
    if prior.kind == "sinusoid":
        lo, hi = prior.amplitude
        assert lo <= p["amplitude"].min() < lo + 0.01 and hi - 0.01 < p["amplitude"].max() <= hi
        assert (
            prior.phase_range[0] <= p["phase"].min() < 0.01
            and prior.phase_range[1] - 0.01 < p["phase"].max()
        )
        assert p["phase"].max() <= prior.phase_range[1]
    else:  # N(0, 1) amplitudes, phases over [0, 2 pi) (integrated over [0, pi) by symmetry)
        for a in (p["amplitude1"], p["amplitude2"]):
            assert abs(a.mean()) < 0.03 and abs(a.std() - 1) < 0.03
        for b in (p["phase1"], p["phase2"]):
            assert b.min() >= 0 and 2 * math.pi - 0.01 < b.max() <= 2 * math.pi
        assert prior.phase_range == (0.0, math.pi)


@pytest.mark.parametrize("family", sorted(bayes.PRIORS))
def test_matches_importance_sampling_from_the_family_prior(family):
    """Two support points: self-normalized importance sampling with the family's own prior sampler
    and task function (no shared code with the grid) agrees within 5 Monte Carlo standard errors."""
    spec = FAMILY_SPECS[family]
    episodes = regression_family(family, jax.random.key(0), num_shots=2, pool_size=0).sample_test(
        jax.random.key(11), 3
    )
    grid_pred = bayes.posterior_mean_predictor(episodes, family)[..., 0]
    params = jax.tree_util.tree_map(
        lambda a: np.asarray(a, np.float64)[:, None], spec.prior(jax.random.key(12), 300_000)
    )
    for t in range(3):
        x, y, xq = (
            np.asarray(a[t, :, 0], np.float64)
            for a in (episodes.support_x, episodes.support_y, episodes.query_x)
        )
        logw = -0.5 * (((y - np.asarray(spec.fn(params, x))) / spec.noise_std) ** 2).sum(-1)
        wts = np.exp(logw - logw.max())
        wts /= wts.sum()
        fq = np.asarray(spec.fn(params, xq))
        est = wts @ fq
        se = np.sqrt((wts[:, None] ** 2 * (fq - est) ** 2).sum(0))
        assert np.all(np.abs(grid_pred[t] - est) < 5 * se + 1e-3), (t, grid_pred[t], est, se)


@pytest.mark.parametrize("family", sorted(bayes.PRIORS))
def test_doubling_the_grid_changes_little(family):
    """K = 10 (the sharper posterior); the full check on 100 tasks per (family, K)
    is in bayes_floor.json."""
    episodes = bayes.meta_test_episodes(
        family, 10, seed=0, num_tasks=1 if family == "harmonic" else 3
    )
    base = bayes.posterior_mean_predictor(episodes, family)
    fine = bayes.posterior_mean_predictor(episodes, family, bayes.DEFAULT_GRIDS[family].doubled())
    assert np.abs(fine - base).max() < 1e-3


@pytest.mark.parametrize("family", sorted(bayes.PRIORS))
def test_beats_prior_predictors(family):
    """On simulated tasks the posterior mean (on a coarse grid, for speed) beats predicting 0 and
    predicting the prior mean of f."""
    episodes = bayes.meta_test_episodes(family, 5, seed=7, num_tasks=40)
    errors = bayes.bayes_errors(episodes, family, COARSE[family])
    clean, xq = np.asarray(episodes.query_y_clean)[..., 0], np.asarray(episodes.query_x)[..., 0]
    prior_mean = (
        2.55 * (2 / math.pi) * np.cos(xq) if family == "sinusoid_w1" else np.zeros_like(xq)
    )  # E[A] E[sin(x + b)]
    for other in (np.zeros_like(xq), prior_mean):
        assert errors["mse_clean"].mean() < 0.5 * np.mean((other - clean) ** 2)


@pytest.mark.parametrize(
    ("family", "grid", "shots"),
    [("sinusoid_w1", Grid(1, 4096), 200), ("harmonic", Grid(1024, 96), 40)],
)
def test_many_support_points_drive_the_error_to_zero(family, grid, shots):
    few = bayes.bayes_errors(
        bayes.meta_test_episodes(family, 5, seed=3, num_tasks=4), family, grid
    )["mse_clean"].mean()
    many = bayes.bayes_errors(
        bayes.meta_test_episodes(family, shots, seed=3, num_tasks=4), family, grid
    )["mse_clean"].mean()
    assert many < 0.005 and many < few / 5


def test_meta_test_episodes_are_those_training_evaluates_on():
    """metareg.train.evaluate_meta_params hands `evaluate` exactly the episodes
    meta_test_episodes draws."""
    from metareg import train
    from metareg.config import default_config

    config = default_config()
    config.task.name, config.task.num_shots, config.seed = "harmonic", 10, 3
    family, objective, _, root = train.build(config)
    with mock.patch.object(
        train, "evaluate", side_effect=lambda _p, _l, episodes, *a, **kw: {"episodes": episodes}
    ) as ev:
        train.evaluate_meta_params(config, family, objective, root, None)
    seen = ev.call_args.args[2]
    chex.assert_trees_all_equal(seen, bayes.meta_test_episodes("harmonic", 10, seed=3))
    assert seen.num_tasks == 600
