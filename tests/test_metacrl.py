"""MetaCRL: the orthogonality, selection and invariance terms against closed forms, the factor
layer against a hand computation, the plain-backbone limit, Xi and f_gr fixed in the inner loop
but meta-learned, the split used by TRLearner, vmap vs a loop, one trace, config errors."""

import dataclasses
import json
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import metareg
from metareg.config import default_config
from metareg.learners import ANIL, MetaSGD, ProtoNet, TNet
from metareg.meta_step import meta_loss
from metareg.models import conv4
from metareg.regularizers import MetaCRL
from metareg.regularizers.metacrl import (
    MetaCRLLearner,
    factor_features,
    invariance_penalty,
    orthogonality_loss,
    selection_loss,
)
from metareg.train import train_and_evaluate
from metareg.types import Episode
from tests.conftest import assert_config_refused, random_episodes, run_traced_steps


def _setup(reg=None, learner=None, num_tasks=4, others=()):
    learner = learner or metareg.MAML(metareg.mlp((8, 8)), inner_lr=0.05)
    reg = reg or MetaCRL()
    objective = metareg.MetaObjective(learner, (*others, reg))
    episodes = random_episodes(jax.random.key(3), num_tasks=num_tasks, d=1)
    params = objective.init(jax.random.key(1), metareg.types.task(episodes, 0))
    return learner, reg, objective, params, episodes


def test_orthogonality_loss_is_zero_for_orthogonal_columns_and_the_hand_value_otherwise():
    q, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(0), (6, 4)))
    np.testing.assert_allclose(float(orthogonality_loss(q)), 0.0, atol=1e-5)
    # orthogonal but not normalized columns: still 0
    np.testing.assert_allclose(float(orthogonality_loss(q * jnp.arange(1.0, 5.0))), 0.0, atol=1e-5)
    # columns (1, 0, 0), (1, 2, 0), (0, -1, 3): |1| + |0| + |-2| = 3
    xi = jnp.array([[1.0, 1.0, 0.0], [0.0, 2.0, -1.0], [0.0, 0.0, 3.0]])
    np.testing.assert_allclose(float(orthogonality_loss(xi)), 3.0, rtol=1e-6)
    # the code's loop, learnerCRL.py:188-190
    x = np.asarray(jax.random.normal(jax.random.key(1), (5, 4)))
    want = sum(abs(x[:, i] @ x[:, j]) for i in range(3) for j in range(i + 1, 4))
    np.testing.assert_allclose(float(orthogonality_loss(jnp.asarray(x))), want, rtol=1e-5)


def test_selection_loss_is_l1_minus_entropy_with_its_minimum_at_e_minus_2():
    s = jnp.array([0.5, 0.2, 0.9])
    want = 1.6 + (0.5 * math.log(0.5) + 0.2 * math.log(0.2) + 0.9 * math.log(0.9))
    np.testing.assert_allclose(float(selection_loss(s)), want, rtol=1e-5)
    grad = jax.grad(lambda s: selection_loss(s))(jnp.full(3, math.exp(-2.0)))
    np.testing.assert_allclose(np.asarray(grad), 0.0, atol=1e-5)


def test_invariance_penalty_matches_its_closed_forms():
    p = jax.random.normal(jax.random.key(0), (6, 1))
    y = jax.random.normal(jax.random.key(1), (6, 1))
    # d/dw mean (w p - y)^2 at w = 1 = mean 2 (p - y) p
    want = float(jnp.mean(2 * (p - y) * p)) ** 2
    np.testing.assert_allclose(float(invariance_penalty("mse", p, y)), want, rtol=1e-5)
    z = jax.random.normal(jax.random.key(2), (6, 4))
    labels = jnp.array([0, 1, 2, 3, 0, 1])
    # d/dw CE(w z) at w = 1 = mean (sum_c softmax(z)_c z_c - z_y)
    d = jnp.sum(jax.nn.softmax(z) * z, -1) - z[jnp.arange(6), labels]
    np.testing.assert_allclose(
        float(invariance_penalty("cross_entropy", z, labels)), float(jnp.mean(d)) ** 2, rtol=1e-5
    )
    # masked points do not count
    mask = jnp.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    want = float(jnp.mean((2 * (p - y) * p)[:3])) ** 2
    np.testing.assert_allclose(float(invariance_penalty("mse", p, y, mask)), want, rtol=1e-5)


def test_init_follows_the_code():
    _, reg, _, params, _ = _setup()
    own = params["regularizers"]["metacrl"]
    chex.assert_shape([own["xi"], own["f_gr"]["w1"], own["f_gr"]["w2"]], [(8, 8), (8, 64), (64, 8)])
    # kaiming_uniform_(a=sqrt(5)) on [F, M]: U(-1/sqrt(M), 1/sqrt(M))
    assert float(jnp.max(jnp.abs(own["xi"]))) <= 1 / math.sqrt(8)
    assert float(jnp.max(jnp.abs(own["f_gr"]["w2"]))) <= 1 / math.sqrt(64)
    _, _, _, params, _ = _setup(MetaCRL(xi_init="identity"))
    np.testing.assert_array_equal(np.asarray(params["regularizers"]["metacrl"]["xi"]), np.eye(8))


def test_factor_layer_matches_a_hand_computation():
    learner, reg, objective, params, episodes = _setup(learner=ANIL(metareg.mlp((8, 8))))
    ep = metareg.types.task(episodes, 0)
    tp = objective.learner.adapt(params, ep.support_x, ep.support_y, num_steps=0)
    theta, own = params["model"], params["regularizers"]["metacrl"]
    g_s = learner.model.features(theta, ep.support_x)
    w = own["f_gr"]
    u = jnp.mean(g_s, 0) @ own["xi"]
    gate = jax.nn.sigmoid(jax.nn.relu(u @ w["w1"] + w["b1"]) @ w["w2"] + w["b2"])
    chex.assert_trees_all_close(tp["factors"]["gate"], gate, rtol=1e-5)
    z = (learner.model.features(theta, ep.query_x) @ own["xi"]) * gate
    head = theta["blocks_2"]
    want = z @ head["kernel"] + head["bias"]
    chex.assert_trees_all_close(objective.learner.predict(tp, ep.query_x), want, rtol=1e-5)
    chex.assert_trees_all_close(factor_features(g_s, own["xi"], gate), (g_s @ own["xi"]) * gate)


def test_an_identity_factor_layer_that_passes_everything_is_the_plain_backbone():
    learner, reg, objective, params, episodes = _setup(
        MetaCRL(lambda_1=0.0, lambda_2=0.0, lambda_3=0.0, xi_init="identity")
    )
    own = params["regularizers"]["metacrl"]
    # gate = sigmoid(40) = 1 in float32 for every task
    f_gr = {**own["f_gr"], "w2": jnp.zeros_like(own["f_gr"]["w2"]), "b2": jnp.full(8, 40.0)}
    params = {**params, "regularizers": {"metacrl": {**own, "f_gr": f_gr}}}
    key = jax.random.key(4)
    got, g_got = jax.value_and_grad(lambda p: meta_loss(p, episodes, key, objective)[0])(params)
    plain = metareg.MetaObjective(learner)
    want, g_want = jax.value_and_grad(lambda p: meta_loss(p, episodes, key, plain)[0])(
        {**params, "regularizers": {}}
    )
    np.testing.assert_allclose(float(got), float(want), rtol=1e-6)
    chex.assert_trees_all_close(g_got["model"], g_want["model"], rtol=1e-5, atol=1e-7)


def test_penalty_is_the_weighted_sum_of_its_terms():
    learner, reg, objective, params, episodes = _setup(
        MetaCRL(lambda_1=0.3, lambda_2=0.2, lambda_3=0.7)
    )
    total, metrics = meta_loss(params, episodes, jax.random.key(5), objective)
    tps = jax.vmap(objective.learner.adapt, in_axes=(None, 0, 0))(
        params, episodes.support_x, episodes.support_y
    )
    value, aux = reg.penalty(params, objective.learner, episodes, tps)
    own = params["regularizers"]["metacrl"]
    np.testing.assert_allclose(float(aux["orthogonality"]), float(orthogonality_loss(own["xi"])))
    np.testing.assert_allclose(
        float(aux["selection"]), float(jnp.mean(selection_loss(tps["factors"]["gate"]))), rtol=1e-5
    )
    inv = [
        invariance_penalty(
            "mse",
            objective.learner.predict(jax.tree_util.tree_map(lambda a, i=i: a[i], tps), x),
            y,
        )
        for i, (x, y) in enumerate(zip(episodes.query_x, episodes.query_y, strict=True))
    ]
    np.testing.assert_allclose(float(aux["invariance"]), float(np.mean(inv)), rtol=1e-5)
    np.testing.assert_allclose(
        float(value),
        0.3 * float(aux["orthogonality"])
        + 0.2 * float(aux["selection"])
        + 0.7 * float(aux["invariance"]),
        rtol=1e-5,
    )
    np.testing.assert_allclose(float(metrics["metacrl_loss"]), float(value), rtol=1e-5)
    np.testing.assert_allclose(float(total), float(metrics["query_loss"]) + float(value), rtol=1e-5)


@pytest.mark.parametrize("backbone", ["maml", "fomaml", "anil", "metasgd", "tnet"])
def test_xi_and_f_gr_are_fixed_in_the_inner_loop_and_meta_learned(backbone):
    cls = {"maml": metareg.MAML, "fomaml": metareg.MAML, "anil": ANIL, "metasgd": MetaSGD}
    learner = cls.get(backbone, TNet)(
        metareg.mlp((8, 8), transforms=backbone == "tnet"),
        inner_lr=0.05,
        first_order=backbone == "fomaml",
    )
    _, reg, objective, params, episodes = _setup(learner=learner)
    ep = metareg.types.task(episodes, 1)
    tp = objective.learner.adapt(params, ep.support_x, ep.support_y, num_steps=3)
    # the task parameters carry Xi as given; the model's adapted parameters do not hold it
    chex.assert_trees_all_equal(tp["factors"]["xi"], params["regularizers"]["metacrl"]["xi"])
    assert set(tp["model"]) == set(params["model"])
    grads = jax.grad(lambda p: meta_loss(p, episodes, jax.random.key(6), objective)[0])(params)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree_util.tree_leaves(grads))
    own = grads["regularizers"]["metacrl"]
    assert float(jnp.linalg.norm(own["xi"])) > 0 and float(jnp.linalg.norm(own["f_gr"]["w1"])) > 0
    assert float(jnp.linalg.norm(grads["model"]["blocks_0"]["kernel"])) > 0


def _split_matches_predict(objective, params, episodes):
    tps = jax.vmap(objective.learner.adapt, in_axes=(None, 0, 0))(
        params, episodes.support_x, episodes.support_y
    )
    split = objective.learner.split_predict(params["model"])
    assert split is not None
    shared, rest = split
    tp0 = jax.tree_util.tree_map(lambda a: a[0], tps)
    x = episodes.query_x[1]  # task 0's model on task 1's queries (TRLearner's cross predictions)
    chex.assert_trees_all_close(
        rest(tp0, shared(x, None), None), objective.learner.predict(tp0, x), rtol=1e-5, atol=1e-6
    )


def test_split_predict_keeps_the_task_specific_layer_out_of_the_shared_part():
    for learner in (
        ANIL(metareg.mlp((8, 8))),
        metareg.MAML(metareg.mlp((8, 8)), frozen_blocks=1),
    ):
        _, _, objective, params, episodes = _setup(learner=learner)
        _split_matches_predict(objective, params, episodes)
    assert (
        metareg.MetaObjective(metareg.MAML(metareg.mlp((8,))), (MetaCRL(),)).learner.split_predict(
            {}
        )
        is None
    )


def test_protonet_prototypes_live_in_factor_space_and_trlearner_composes():
    ways, shots, t = 2, 2, 2
    labels = jnp.tile(jnp.repeat(jnp.arange(ways), shots), (t, 1))
    k = jax.random.split(jax.random.key(0), 2)
    episodes = Episode(
        jax.random.normal(k[0], (t, ways * shots, 28, 28, 1)),
        labels,
        jax.random.normal(k[1], (t, ways * shots, 28, 28, 1)),
        labels,
    )
    learner = ProtoNet(conv4(ways, width=4), num_classes=ways)
    objective = metareg.MetaObjective(learner, (metareg.TRLearner(), MetaCRL()))
    params = objective.init(jax.random.key(1), metareg.types.task(episodes, 0))
    ep = metareg.types.task(episodes, 0)
    tp = objective.learner.adapt(params, ep.support_x, ep.support_y)
    g = learner.model.features(params["model"], ep.support_x)
    z = factor_features(g, tp["factors"]["xi"], tp["factors"]["gate"])
    want = jnp.stack([jnp.mean(z[labels[0] == c], 0) for c in range(ways)])
    chex.assert_trees_all_close(tp["model"]["prototypes"], want, rtol=1e-5, atol=1e-6)
    _split_matches_predict(objective, params, episodes)
    loss, grads = jax.jit(
        jax.value_and_grad(lambda p: meta_loss(p, episodes, jax.random.key(2), objective)[0])
    )(params)
    assert np.isfinite(float(loss))
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree_util.tree_leaves(grads))


def test_vmap_over_tasks_equals_a_python_loop_over_tasks():
    learner, reg, objective, params, episodes = _setup(num_tasks=5)
    key = jax.random.key(9)
    vmapped = jax.value_and_grad(lambda p: meta_loss(p, episodes, key, objective)[0])(params)
    unrolled = metareg.MetaObjective(learner, (reg,), task_chunk=-1)
    chex.assert_trees_all_close(
        vmapped,
        jax.value_and_grad(lambda p: meta_loss(p, episodes, key, unrolled)[0])(params),
        rtol=1e-5,
        atol=1e-6,
    )

    def looped(p):
        query, tps = 0.0, []
        for i in range(5):
            ep = metareg.types.task(episodes, i)
            tp = objective.learner.adapt(p, ep.support_x, ep.support_y)
            query += metareg.losses.mse(objective.learner.predict(tp, ep.query_x), ep.query_y)
            tps.append(tp)
        stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *tps)
        return query / 5 + reg.penalty(p, objective.learner, episodes, stacked)[0]

    chex.assert_trees_all_close(vmapped, jax.value_and_grad(looped)(params), rtol=1e-5, atol=1e-6)


def test_one_trace_per_run_and_finite_training():
    objective = metareg.MetaObjective(metareg.MAML(metareg.mlp((16, 16))), (MetaCRL(),))
    state, metrics = run_traced_steps(objective, 3)
    assert int(state.step) == 3 and all(np.isfinite(float(v)) for v in metrics.values())
    assert float(metrics["metacrl_loss"]) > 0


def test_the_factor_layer_does_not_tip_the_sinusoid_mlp_into_a_task_loop():
    """auto_task_chunk sizes a task's work by the model's and learner's meta-parameters: MetaCRL's
    6.8k would push MetaSGD and T-Net on the sinusoid MLP over LOOP_MIN_PARAMS_CPU (an unrolled
    loop over 25 tasks: 10x the compile time, measured)."""
    from metareg.meta_step import auto_task_chunk

    example = metareg.types.task(random_episodes(jax.random.key(0), num_tasks=2, d=1), 0)
    for learner in (MetaSGD(metareg.mlp()), TNet(metareg.mlp(transforms=True))):
        objective = metareg.MetaObjective(learner, (MetaCRL(),))
        assert auto_task_chunk(objective, example, "cpu") == 0


def test_padding_changes_nothing():
    """Drug-like padded tasks (transductive BatchNorm MLP): junk rows with mask 0 change neither
    the loss nor the meta-gradient."""
    from tests.test_masks import _drug_like_episodes, _padded

    episodes = _drug_like_episodes(jax.random.key(0))
    padded = _padded(episodes, 9, 8)
    learner = ANIL(metareg.mlp((16, 16), norm="transductive"), inner_lr=0.05)
    objective = metareg.MetaObjective(learner, (MetaCRL(),))
    params = objective.init(jax.random.key(1), metareg.types.task(padded, 0))
    key = jax.random.key(2)
    grad = lambda e: jax.value_and_grad(lambda p: meta_loss(p, e, key, objective)[0])(params)  # noqa: E731
    chex.assert_trees_all_close(grad(episodes), grad(padded), rtol=1e-5, atol=1e-6)


def test_api_defaults_are_the_config_defaults():
    c = default_config()
    api = MetaCRL()
    for field in ("lambda_1", "lambda_2", "lambda_3", "hidden", "xi_init", "eps"):
        assert getattr(api, field) == c.metacrl[field], field


def test_the_objective_wraps_its_learner_once():
    learner, reg, objective, _, _ = _setup()
    assert isinstance(objective.learner, MetaCRLLearner) and objective.learner.base is learner
    assert dataclasses.replace(objective, task_chunk=-1).learner == objective.learner
    with pytest.raises(ValueError, match="use metacrl without metamix"):
        metareg.MetaObjective(learner, (reg, metareg.MetaMix()))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"metacrl.lambda_1": -1.0}, "metacrl.lambda_1 is the weight of a loss term"),
        ({"metacrl.lambda_3": -0.1}, "metacrl.lambda_3 is the weight of a loss term"),
        ({"metacrl.hidden": 0}, "metacrl.hidden (f_gr's hidden width) must be >= 1"),
        ({"metacrl.xi_init": "orthogonal"}, "unknown metacrl.xi_init 'orthogonal'"),
        ({"metacrl.eps": 0.0}, "metacrl.eps must be > 0"),
        ({"regularizers": ("metacrl", "metamix")}, "use metacrl without metamix"),
    ],
)
def test_bad_metacrl_configs_are_rejected(changes, message):
    assert_config_refused("metacrl", changes, message)


def test_training_smoke_run_with_metacrl(tmp_path, quick_config):
    quick_config.regularizers = ("metacrl",)
    results = train_and_evaluate(quick_config, tmp_path)
    assert results["regularizers"] == ["metacrl"] and results["num_traces"] == 1
    assert np.isfinite(results["mean"])
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["metacrl_loss"]) and r["metacrl_loss"] > 0 for r in rows)
