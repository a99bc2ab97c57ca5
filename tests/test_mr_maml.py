"""MR-MAML-W: the KL against its closed form, the draw, the plain-backbone
limit, composition, config."""

import dataclasses
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

import metareg
from metareg.learners import ANIL, MetaSGD, TNet
from metareg.meta_step import meta_loss
from metareg.regularizers import MRMAML, gaussian_kl
from metareg.rng import named_key
from metareg.train import train_and_evaluate
from tests.conftest import assert_config_refused


def _family():
    return metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)


def _setup(reg=None, learner=None, others=(), num_tasks=4):
    family = _family()
    learner = learner or metareg.MAML(metareg.mlp((8, 8)), inner_lr=0.01)
    reg = reg or MRMAML()
    objective = metareg.MetaObjective(learner, (*others, reg))
    params = objective.init(jax.random.key(1), family.example_episode())
    episodes = family.sample_train(jax.random.key(2), num_tasks)
    return learner, reg, objective, params, episodes


def test_kl_matches_the_gaussian_closed_form():
    for prior_std in (1.0, 2.5):
        reg = MRMAML(prior_std=prior_std, scale_init=-2.0, scale_init_std=1.0)
        learner, reg, _, params, episodes = _setup(reg)
        got, _ = reg.penalty(params, learner, episodes, None)
        want = 0.0
        flat_mu = traverse_util.flatten_dict(params["model"])
        for path, rho in traverse_util.flatten_dict(
            params["regularizers"]["mr_maml"]["rho"]
        ).items():
            r = np.asarray(rho, np.float64)
            s = np.log1p(np.exp(r)) + reg.min_scale
            mu = np.asarray(flat_mu[path], np.float64)
            # KL(N(mu, s^2) || N(0, p^2)) = log(p / s) + (s^2 + mu^2) / (2 p^2) - 1/2, summed
            want += np.sum(np.log(prior_std / s) + (s**2 + mu**2) / (2 * prior_std**2) - 0.5)
        np.testing.assert_allclose(float(got), want, rtol=1e-5)
    # q == prior gives 0; the tiny reference scale (softplus(-50) ~ 2e-22, below
    # float32's squares) stays finite
    np.testing.assert_allclose(
        float(gaussian_kl(jnp.zeros(3), jnp.full(3, 2.0), 2.0)), 0.0, atol=1e-6
    )
    tiny = float(gaussian_kl(jnp.zeros(2), jax.nn.softplus(jnp.full(2, -50.0))))
    np.testing.assert_allclose(
        tiny, 2 * (50.0 - 0.5), rtol=1e-4
    )  # -log(softplus(-50)) = 50 - ~2e-22


def test_stochastic_kernels_are_the_feature_extractor_by_default():
    _, reg, _, params, _ = _setup()
    rho = params["regularizers"]["mr_maml"]["rho"]
    assert sorted(traverse_util.flatten_dict(rho)) == [
        ("blocks_0", "kernel"),
        ("blocks_1", "kernel"),
    ]
    r = np.asarray(rho["blocks_1"]["kernel"])
    assert r.shape == params["model"]["blocks_1"]["kernel"].shape
    assert abs(r.mean() + 5.0) < 0.05 and 0.05 < r.std() < 0.15  # N(-5, 0.1^2)
    _, _, _, params, _ = _setup(MRMAML(blocks=(2,)))
    assert list(params["regularizers"]["mr_maml"]["rho"]) == ["blocks_2"]


def test_draws_are_reparameterized_deterministic_in_the_key_and_touch_only_kernels():
    _, reg, _, params, _ = _setup(MRMAML(scale_init=-3.0))
    a = reg.sample_meta_params(params, jax.random.key(7))
    b = reg.sample_meta_params(params, jax.random.key(7))
    c = reg.sample_meta_params(params, jax.random.key(8))
    chex.assert_trees_all_equal(a, b)
    assert not np.allclose(
        np.asarray(a["model"]["blocks_0"]["kernel"]), np.asarray(c["model"]["blocks_0"]["kernel"])
    )
    for unchanged in (a["model"]["blocks_0"]["bias"], a["model"]["blocks_2"]["kernel"]):
        assert any(unchanged is leaf for leaf in jax.tree_util.tree_leaves(params["model"]))
    chex.assert_trees_all_equal(a["regularizers"], params["regularizers"])
    # theta = mu + sigma * eps: d theta / d mu = 1, d theta / d rho = sigmoid(rho) * eps
    rho = params["regularizers"]["mr_maml"]["rho"]["blocks_0"]["kernel"]
    sigma = jax.nn.softplus(rho) + reg.min_scale
    eps = (a["model"]["blocks_0"]["kernel"] - params["model"]["blocks_0"]["kernel"]) / sigma
    g = jax.grad(
        lambda p: jnp.sum(
            reg.sample_meta_params(p, jax.random.key(7))["model"]["blocks_0"]["kernel"]
        )
    )(params)
    chex.assert_trees_all_close(g["model"]["blocks_0"]["kernel"], jnp.ones_like(rho))
    chex.assert_trees_all_close(
        g["regularizers"]["mr_maml"]["rho"]["blocks_0"]["kernel"],
        jax.nn.sigmoid(rho) * eps,
        rtol=1e-4,
    )


@pytest.mark.parametrize("backbone", ["maml", "anil", "metasgd", "tnet"])
def test_near_zero_scale_and_zero_beta_is_the_plain_backbone(backbone):
    cls = {"maml": metareg.MAML, "anil": ANIL, "metasgd": MetaSGD, "tnet": TNet}[backbone]
    learner = cls(metareg.mlp((8, 8), transforms=backbone == "tnet"), inner_lr=0.01)
    plain = metareg.MetaObjective(learner)
    near_zero = MRMAML(weight=0.0, scale_init=-50.0)  # sigma = float32 eps
    for reg, rtol in ((dataclasses.replace(near_zero, min_scale=0.0), 1e-6), (near_zero, 1e-4)):
        _, _, objective, params, episodes = _setup(reg, learner)
        base = {**params, "regularizers": {}}
        (got, m_got), g_got = jax.value_and_grad(meta_loss, has_aux=True)(
            params, episodes, jax.random.key(3), objective
        )
        (want, m_want), g_want = jax.value_and_grad(meta_loss, has_aux=True)(
            base, episodes, jax.random.key(3), plain
        )
        np.testing.assert_allclose(float(got), float(want), rtol=rtol)
        np.testing.assert_allclose(
            float(m_got["query_loss"]), float(m_want["query_loss"]), rtol=rtol
        )
        chex.assert_trees_all_close(g_got["model"], g_want["model"], rtol=100 * rtol, atol=1e-6)
        assert np.isfinite(float(m_got["mr_maml_loss"]))


@pytest.mark.parametrize("scale_init", [-50.0, -3.0])
def test_gradients_reach_mean_and_scales_and_are_finite(scale_init):
    """Reach and finiteness only, by design: the data term's gradient w.r.t. rho runs through the
    reparameterized draw and the inner loop, so it has no closed form here. Its values are pinned
    elsewhere: the KL against the Gaussian closed form (test_kl_matches_the_gaussian_closed_form),
    the loss of the drawn weights (test_kl_sees_the_mean_and_trlearner_the_draw), and every
    backbone's meta-gradient against float64 finite differences (tests/test_independent.py)."""
    _, reg, objective, params, episodes = _setup(MRMAML(weight=1e-3, scale_init=scale_init))
    grads = jax.grad(lambda p: meta_loss(p, episodes, jax.random.key(4), objective)[0])(params)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree_util.tree_leaves(grads))
    g_rho = grads["regularizers"]["mr_maml"]["rho"]
    assert set(g_rho) == {"blocks_0", "blocks_1"}
    for block in ("blocks_0", "blocks_1"):
        assert float(jnp.linalg.norm(grads["model"][block]["kernel"])) > 0
        assert float(jnp.linalg.norm(g_rho[block]["kernel"])) > 0
    if scale_init == -3.0:  # the data term moves rho too, not only the KL
        kl_only = jax.grad(lambda p: reg.weight * reg.penalty(p, None, None, None)[0])(params)
        assert not np.allclose(
            np.asarray(g_rho["blocks_0"]["kernel"]),
            np.asarray(kl_only["regularizers"]["mr_maml"]["rho"]["blocks_0"]["kernel"]),
        )


def test_kl_sees_the_mean_and_trlearner_the_draw():
    trl = metareg.TRLearner()
    learner, reg, objective, params, episodes = _setup(
        MRMAML(weight=1e-2, scale_init=-3.0), others=(trl,)
    )
    key = jax.random.key(5)
    total, metrics = meta_loss(params, episodes, key, objective)
    sampled = reg.sample_meta_params(params, named_key(key, "mr_maml/weights"))
    phi = jax.vmap(learner.adapt, in_axes=(None, 0, 0))(
        sampled, episodes.support_x, episodes.support_y
    )
    query = jnp.mean(
        jax.vmap(lambda p, x, y: jnp.mean((learner.predict(p, x) - y) ** 2))(
            phi, episodes.query_x, episodes.query_y
        )
    )
    tr, _ = trl.penalty(sampled, learner, episodes, phi)
    kl, _ = reg.penalty(params, learner, episodes, phi)
    np.testing.assert_allclose(float(metrics["query_loss"]), float(query), rtol=1e-5)
    np.testing.assert_allclose(float(metrics["trlearner_loss"]), float(tr), rtol=1e-5)
    np.testing.assert_allclose(float(metrics["mr_maml_loss"]), float(kl), rtol=1e-5)
    np.testing.assert_allclose(
        float(total), float(query + trl.weight * tr + reg.weight * kl), rtol=1e-5
    )


@pytest.mark.parametrize("backbone", [metareg.MAML, ANIL])
def test_composes_with_trlearner_and_metamix_under_jit(backbone):
    """One jitted outer step with MetaMix, MR-MAML and TRLearner: the loss is MetaMix's loss plus
    each penalty times its weight, and the parameters move as Adam's first step does, by
    lr |g| / (|g| + 1e-8) (m / sqrt(v) = g / |g| at step 1): every meta-parameter (model,
    TRLearner's heads, MR-MAML's rho) by 1e-3 (1% less for |g| ~ 1e-6) or, with a zero gradient,
    not at all."""
    import optax

    family = _family()
    mr, trl = MRMAML(scale_init=-5.0), metareg.TRLearner()
    objective = metareg.MetaObjective(backbone(metareg.mlp((8, 8))), (metareg.MetaMix(), mr, trl))
    optimizer = optax.adam(1e-3)
    state = metareg.init_train_state(
        jax.random.key(1), objective, optimizer, family.example_episode()
    )
    step = jax.jit(
        lambda s: metareg.meta_train_step(s, family, jax.random.key(9), objective, optimizer, 5)
    )
    new, metrics = step(state)
    assert int(new.step) == 1
    np.testing.assert_allclose(
        float(metrics["loss"]),
        float(
            metrics["metamix_loss"]
            + mr.weight * metrics["mr_maml_loss"]
            + trl.weight * metrics["trlearner_loss"]
        ),
        rtol=1e-6,
    )
    moved = jax.tree_util.tree_map(
        lambda a, b: np.abs(np.asarray(a) - np.asarray(b)), new.meta_params, state.meta_params
    )
    for path, d in jax.tree_util.tree_leaves_with_path(moved):
        still = d < 1e-9  # a zero gradient (a dead unit) leaves the parameter where it was
        np.testing.assert_allclose(d[~still], 1e-3, rtol=0.02, err_msg=str(path))
        assert d.max() <= 1e-3 + 1e-6, path  # never more than lr (+ float32 rounding at |w| ~ 5)
        assert still.mean() < 0.5, path
    for section in ("model", "regularizers"):
        assert jax.tree_util.tree_leaves(moved[section])


def test_evaluation_samples_per_task_only_when_asked():
    learner, reg, _, params, _ = _setup(MRMAML(scale_init=-3.0))
    test = _family().sample_test(jax.random.key(6), 10)
    mean = metareg.evaluate(params, learner, test, (1,), batch_size=10)
    no_samplers = metareg.evaluate(
        params, learner, test, (1,), batch_size=10, samplers=(), key=jax.random.key(0)
    )
    assert mean == no_samplers
    a = metareg.evaluate(
        params, learner, test, (1,), batch_size=10, samplers=(reg,), key=jax.random.key(0)
    )
    b = metareg.evaluate(
        params, learner, test, (1,), batch_size=4, samplers=(reg,), key=jax.random.key(0)
    )  # chunked, padded
    c = metareg.evaluate(
        params, learner, test, (1,), batch_size=10, samplers=(reg,), key=jax.random.key(1)
    )
    np.testing.assert_allclose(a["mse_clean@1"]["mean"], b["mse_clean@1"]["mean"], rtol=1e-6)
    assert a["mse_clean@1"]["mean"] != mean["mse_clean@1"]["mean"] and a != c
    # at the reference's scale (-50) a draw is the mean up to float32 eps noise
    learner, reg, _, params, _ = _setup(MRMAML(scale_init=-50.0))
    near = metareg.evaluate(
        params, learner, test, (1,), batch_size=10, samplers=(reg,), key=jax.random.key(0)
    )
    at_mean = metareg.evaluate(params, learner, test, (1,), batch_size=10)
    np.testing.assert_allclose(
        near["mse_clean@1"]["mean"], at_mean["mse_clean@1"]["mean"], rtol=1e-4
    )
    assert MRMAML().sample_at_test and not MRMAML(test_weights="mean").sample_at_test


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"mr_maml.beta": -1e-3}, "mr_maml.beta is the weight of a KL divergence and must be >= 0"),
        ({"mr_maml.prior_std": 0.0}, "mr_maml.prior_std must be > 0"),
        (
            {"mr_maml.min_scale": -1.0},
            "mr_maml.min_scale (-1.0) and mr_maml.scale_init_std (0.1) must be >= 0",
        ),
        ({"mr_maml.min_scale": 0.0, "mr_maml.scale_init": -100.0}, "underflows"),
        (
            {"mr_maml.blocks": (0, 3)},
            "mr_maml.blocks (0, 3) must be distinct block indices within [0, 2]",
        ),
        ({"mr_maml.test_weights": "median"}, "unknown mr_maml.test_weights 'median'"),
    ],
)
def test_bad_mr_maml_configs_are_rejected(changes, message):
    assert_config_refused("mr_maml", changes, message)


def test_training_smoke_run_with_mr_maml(tmp_path, quick_config):
    """A smoke run: a trained model's test error has no value to derive, so the run is required to
    trace once and log a finite, positive KL (its value is pinned by the closed-form test)."""
    quick_config.regularizers = ("mr_maml",)
    results = train_and_evaluate(quick_config, tmp_path)
    assert results["regularizers"] == ["mr_maml"] and results["num_traces"] == 1
    assert np.isfinite(results["mean"]) and results["metric"] == "mse_clean@1"
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["mr_maml_loss"]) and r["mr_maml_loss"] > 0 for r in rows)


def _trained_rho(reg: MRMAML, steps: int = 100):
    """rho before and after `steps` outer steps of MAML + `reg` on the non-mutually-exclusive
    sinusoid (Adam 1e-3, meta-batch 10)."""
    import optax

    family = metareg.regression_family("sinusoid_nme", jax.random.key(0), num_shots=5, pool_size=20)
    objective = metareg.MetaObjective(metareg.MAML(metareg.mlp(), inner_lr=0.01), (reg,))
    optimizer = optax.adam(1e-3)
    state = metareg.init_train_state(
        jax.random.key(1), objective, optimizer, family.example_episode()
    )
    step = jax.jit(
        metareg.meta_train_step, static_argnames=("objective", "optimizer", "meta_batch_size")
    )
    rho0 = state.meta_params["regularizers"]["mr_maml"]["rho"]
    for _ in range(steps):
        state, _ = step(
            state, family, jax.random.key(2), objective=objective, optimizer=optimizer,
            meta_batch_size=10,
        )  # fmt: skip
    return rho0, state.meta_params["regularizers"]["mr_maml"]["rho"]


def test_the_default_noise_leaves_its_floor_and_the_references_does_not():
    """The defaults (rho init -5, beta 1e-5): after 100 steps the median rho entry has moved by
    more than 0.01 (sigma by a few %), none by more than Adam's 100 steps of about lr allow. The
    reference's scales (rho -50, beta 5e-5): the KL's gradient in rho is ~1e-19, below float32's
    spacing at 50 after Adam's epsilon, so every rho is bit for bit its init (docs/sources/
    mr_maml_sinusoid_notebook.md)."""
    before, after = _trained_rho(MRMAML())
    pairs = zip(jax.tree_util.tree_leaves(after), jax.tree_util.tree_leaves(before), strict=True)
    moved = np.concatenate([np.abs(np.asarray(a - b)).ravel() for a, b in pairs])
    # measured: half of the 1,640 entries moved by more than 0.02, the largest by 0.1016 (Adam's
    # early bias-corrected steps can exceed lr a little)
    assert np.median(moved) > 0.01 and moved.max() < 0.12
    before, after = _trained_rho(MRMAML(weight=5e-5, scale_init=-50.0))
    chex.assert_trees_all_equal(before, after)
