"""Dropout-Bins: the version masks (key, count, keep rate, bins), the masked forward pass against a
hand computation, the front-door average, the plain-backbone limit, vmap vs a loop, one trace,
every backbone, config errors."""

import dataclasses
import json

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
from metareg.regularizers import DropoutBins
from metareg.regularizers.dropout_bins import DropoutBinsLearner, MaskedModel, combine_versions
from metareg.rng import named_key
from metareg.train import train_and_evaluate
from metareg.types import Episode
from tests.conftest import assert_config_refused, random_episodes, run_traced_steps


def _mlp_setup(hidden=(8, 8), reg=None, learner_cls=metareg.MAML, num_tasks=4):
    learner = learner_cls(metareg.mlp(hidden, transforms=learner_cls is TNet), inner_lr=0.05)
    reg = reg or DropoutBins()
    objective = metareg.MetaObjective(learner, (reg,))
    episodes = random_episodes(jax.random.key(3), num_tasks=num_tasks, d=1)
    params = objective.init(jax.random.key(1), metareg.types.task(episodes, 0))
    return learner, reg, objective, params, episodes


def test_dropout_masks_are_the_named_keys_draws_with_the_keep_rate():
    reg = DropoutBins(p=0.25, num_versions=3)
    model = metareg.mlp((200, 300))
    x = jnp.ones((5, 1))
    theta = model.init(jax.random.key(0), x)
    key = jax.random.key(7)
    masks = reg.version_masks(model, theta, x, key)
    assert sorted(masks) == [0, 1]  # every hidden block, never the head
    chex.assert_shape([masks[0], masks[1]], [(3, 200), (3, 300)])
    for b, m in masks.items():
        m = np.asarray(m)
        # inverted dropout: kept units x 1/(1-p)
        assert set(np.unique(m)) <= {np.float32(0.0), np.float32(1.0 / 0.75)}
        keep = jax.random.bernoulli(named_key(key, f"blocks_{b}"), 0.75, m.shape)
        np.testing.assert_allclose(m, np.asarray(keep) / 0.75, rtol=1e-6)
    kept = np.concatenate([np.asarray(m).ravel() > 0 for m in masks.values()])
    assert abs(kept.mean() - 0.75) < 0.04  # 1500 Bernoulli(0.75) draws: std 0.011
    again = reg.version_masks(model, theta, x, key)
    other = reg.version_masks(model, theta, x, jax.random.key(8))
    chex.assert_trees_all_equal(masks, again)
    assert not np.array_equal(np.asarray(masks[0]), np.asarray(other[0]))
    # versions differ from each other
    assert not np.array_equal(np.asarray(masks[0][0]), np.asarray(masks[0][1]))
    # meta-test (no key): one version, the whole network
    test = reg.version_masks(model, theta, x, None)
    chex.assert_trees_all_equal(test, {0: jnp.ones((1, 200)), 1: jnp.ones((1, 300))})
    assert list(DropoutBins(layers=(1,)).version_masks(model, theta, x, key)) == [1]


def test_bins_partition_each_layers_units_exactly():
    reg = DropoutBins(mode="bins", num_bins=3)
    model = metareg.mlp((7, 9))
    x = jnp.ones((2, 1))
    theta = model.init(jax.random.key(0), x)
    for key in (None, jax.random.key(1)):  # bins are deterministic: the key is not used
        masks = reg.version_masks(model, theta, x, key)
        for width, m in zip((7, 9), (masks[0], masks[1]), strict=True):
            m = np.asarray(m)
            assert m.shape == (3, width)
            # each unit in exactly one bin, bin(u) = u mod 3, kept units scaled by the bin count
            np.testing.assert_array_equal((m > 0).sum(0), 1)
            np.testing.assert_array_equal(np.argmax(m, 0), np.arange(width) % 3)
            assert set(np.unique(m)) == {0.0, 3.0}
    with pytest.raises(ValueError, match="num_bins = 8 exceeds the 7 units"):
        DropoutBins(mode="bins", num_bins=8).version_masks(model, theta, x, None)


def test_masked_model_matches_a_hand_computation():
    model = metareg.mlp((4, 3))
    x = jax.random.normal(jax.random.key(0), (6, 1))
    p = model.init(jax.random.key(1), x)
    m0, m1 = jnp.array([1.0, 0.0, 2.0, 0.0]), jnp.array([0.0, 3.0, 1.0])
    got = MaskedModel(model, {0: m0, 1: m1}).apply(p, x)
    h = jax.nn.relu(x @ p["blocks_0"]["kernel"] + p["blocks_0"]["bias"]) * m0
    h = jax.nn.relu(h @ p["blocks_1"]["kernel"] + p["blocks_1"]["bias"]) * m1
    want = h @ p["blocks_2"]["kernel"] + p["blocks_2"]["bias"]
    chex.assert_trees_all_close(got, want, rtol=1e-6)
    # a call from block 1 on: block 0's mask is not applied again
    h0 = model.apply(p, x, 0, 1)
    chex.assert_trees_all_close(
        MaskedModel(model, {0: m0, 1: m1}).apply(p, h0 * m0, 1), want, rtol=1e-6
    )
    chex.assert_trees_all_close(MaskedModel(model, {}).apply(p, x), model.apply(p, x))


def test_prediction_is_the_front_door_average_of_the_versions():
    learner, reg, objective, params, episodes = _mlp_setup(reg=DropoutBins(num_versions=3))
    ep = metareg.types.task(episodes, 0)
    key = jax.random.key(5)
    task_learner = reg.inner_learner(objective.learner, ep, key)
    tp = task_learner.adapt(params, ep.support_x, ep.support_y)
    masks = reg.version_masks(learner.model, params["model"], ep.support_x, key)
    chex.assert_trees_all_equal(tp["masks"], masks)
    preds = []
    for v in range(3):  # each version adapts within its own sub-network
        version = dataclasses.replace(
            learner, model=MaskedModel(learner.model, {b: m[v] for b, m in masks.items()})
        )
        phi = version.adapt(params, ep.support_x, ep.support_y)
        preds.append(version.predict(phi, ep.query_x))
    want = np.mean(np.stack(preds), axis=0)
    chex.assert_trees_all_close(objective.learner.predict(tp, ep.query_x), want, rtol=1e-5)
    # classification: log of the mean probability (a mixture), valid logits
    logits = jax.random.normal(jax.random.key(2), (3, 4, 5))
    mixed = np.asarray(jax.nn.softmax(combine_versions("cross_entropy", logits), -1))
    np.testing.assert_allclose(mixed, np.mean(jax.nn.softmax(logits, -1), 0), rtol=1e-5)


@pytest.mark.parametrize(
    "reg", [DropoutBins(p=0.0, num_versions=1), DropoutBins(mode="bins", num_bins=1)]
)
def test_keeping_every_unit_in_one_version_is_the_plain_backbone(reg):
    learner, _, objective, params, episodes = _mlp_setup(reg=reg)
    plain = metareg.MetaObjective(learner)
    key = jax.random.key(4)
    (got, m_got), g_got = jax.value_and_grad(meta_loss, has_aux=True)(
        params, episodes, key, objective
    )
    (want, m_want), g_want = jax.value_and_grad(meta_loss, has_aux=True)(
        params, episodes, key, plain
    )
    np.testing.assert_allclose(float(got), float(want), rtol=1e-6)
    chex.assert_trees_all_close(g_got, g_want, rtol=1e-5, atol=1e-7)


def test_meta_test_adapts_the_whole_network_for_dropout_and_every_bin_for_bins():
    learner, reg, objective, params, _ = _mlp_setup()
    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    test = family.sample_test(jax.random.key(6), 10)
    got = metareg.evaluate(params, objective.learner, test, (1,), batch_size=10)
    want = metareg.evaluate(params, learner, test, (1,), batch_size=10)
    np.testing.assert_allclose(got["mse_clean@1"]["mean"], want["mse_clean@1"]["mean"], rtol=1e-5)
    bins = metareg.MetaObjective(learner, (DropoutBins(mode="bins"),))
    b = metareg.evaluate(params, bins.learner, test, (1,), batch_size=10)
    assert abs(b["mse_clean@1"]["mean"] - want["mse_clean@1"]["mean"]) > 1e-3


def test_vmap_over_tasks_equals_a_python_loop_over_tasks():
    learner, reg, objective, params, episodes = _mlp_setup(num_tasks=5)
    key = jax.random.key(9)
    vmapped = jax.value_and_grad(lambda p: meta_loss(p, episodes, key, objective)[0])(params)
    unrolled = metareg.MetaObjective(learner, (reg,), task_chunk=-1)
    chex.assert_trees_all_close(
        vmapped,
        jax.value_and_grad(lambda p: meta_loss(p, episodes, key, unrolled)[0])(params),
        rtol=1e-5,
        atol=1e-6,
    )

    def looped(p):  # the documented keys: task i's masks from named_key(task key i, name)
        task_keys = jax.random.split(named_key(key, "per_task"), 5)
        total = 0.0
        for i in range(5):
            ep = metareg.types.task(episodes, i)
            task = reg.inner_learner(objective.learner, ep, named_key(task_keys[i], reg.name))
            tp = task.adapt(p, ep.support_x, ep.support_y)
            total += metareg.losses.mse(objective.learner.predict(tp, ep.query_x), ep.query_y)
        return total / 5

    chex.assert_trees_all_close(vmapped, jax.value_and_grad(looped)(params), rtol=1e-5, atol=1e-6)


def test_one_trace_per_run_and_finite_training():
    objective = metareg.MetaObjective(metareg.MAML(metareg.mlp((16, 16))), (DropoutBins(),))
    state, metrics = run_traced_steps(objective, 3)
    assert int(state.step) == 3 and all(np.isfinite(float(v)) for v in metrics.values())


@pytest.mark.parametrize("backbone", ["fomaml", "anil", "metasgd", "tnet"])
@pytest.mark.parametrize("mode", ["dropout", "bins"])
def test_every_backbone_gets_finite_gradients_also_beside_trlearner(backbone, mode):
    cls = {"fomaml": metareg.MAML, "anil": ANIL, "metasgd": MetaSGD, "tnet": TNet}[backbone]
    learner = cls(
        metareg.mlp((8, 8), transforms=backbone == "tnet"), first_order=backbone == "fomaml"
    )
    objective = metareg.MetaObjective(learner, (metareg.TRLearner(), DropoutBins(mode=mode)))
    episodes = random_episodes(jax.random.key(3), d=1)
    params = objective.init(jax.random.key(1), metareg.types.task(episodes, 0))
    (loss, metrics), grads = jax.value_and_grad(meta_loss, has_aux=True)(
        params, episodes, jax.random.key(2), objective
    )
    assert np.isfinite(float(loss)) and np.isfinite(float(metrics["trlearner_loss"]))
    leaves = jax.tree_util.tree_leaves(grads["model"])
    assert all(np.all(np.isfinite(np.asarray(g))) for g in leaves)
    assert sum(float(jnp.sum(jnp.abs(g))) for g in leaves) > 0


@pytest.mark.parametrize("name", ["maml", "protonet"])
def test_conv4_classification_and_protonet(name):
    ways, shots, t = 2, 1, 2
    labels = jnp.tile(jnp.repeat(jnp.arange(ways), shots), (t, 1))
    k = jax.random.split(jax.random.key(0), 2)
    episodes = Episode(
        jax.random.normal(k[0], (t, ways * shots, 28, 28, 1)),
        labels,
        jax.random.normal(k[1], (t, ways * shots, 28, 28, 1)),
        labels,
    )
    model = conv4(ways, width=4)
    learner = (
        ProtoNet(model, num_classes=ways)
        if name == "protonet"
        else metareg.MAML(model, "cross_entropy", inner_lr=0.1)
    )
    objective = metareg.MetaObjective(learner, (DropoutBins(mode="bins"),))
    params = objective.init(jax.random.key(1), metareg.types.task(episodes, 0))
    loss, grads = jax.jit(
        jax.value_and_grad(lambda p: meta_loss(p, episodes, jax.random.key(2), objective)[0])
    )(params)
    assert np.isfinite(float(loss))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree_util.tree_leaves(grads))
    acc = metareg.evaluate(params, objective.learner, episodes, (1,), batch_size=2)
    assert 0.0 <= acc["accuracy@1"]["mean"] <= 1.0


@pytest.mark.parametrize("mode", ["dropout", "bins"])
def test_padding_changes_nothing(mode):
    """Drug-like padded tasks (transductive BatchNorm MLP): junk rows with mask 0 change neither
    the loss nor the meta-gradient."""
    from tests.test_masks import _drug_like_episodes, _padded

    episodes = _drug_like_episodes(jax.random.key(0))
    padded = _padded(episodes, 9, 8)
    learner = ANIL(metareg.mlp((16, 16), norm="transductive"), inner_lr=0.05)
    objective = metareg.MetaObjective(learner, (DropoutBins(mode=mode),))
    params = objective.init(jax.random.key(1), metareg.types.task(padded, 0))
    key = jax.random.key(2)
    grad = lambda e: jax.value_and_grad(lambda p: meta_loss(p, e, key, objective)[0])(params)  # noqa: E731
    chex.assert_trees_all_close(grad(episodes), grad(padded), rtol=1e-5, atol=1e-6)


def test_api_defaults_are_the_config_defaults():
    c = default_config()
    api = DropoutBins()
    for field in ("mode", "p", "num_versions", "num_bins", "layers"):
        assert getattr(api, field) == c.dropout_bins[field], field
    assert (api.mode, api.p, api.num_versions, api.num_bins) == ("dropout", 0.1, 2, 2)


def test_the_objective_wraps_its_learner_once():
    learner, reg, objective, _, _ = _mlp_setup()
    assert isinstance(objective.learner, DropoutBinsLearner)
    assert objective.learner.base is learner and objective.learner.model is learner.model
    again = dataclasses.replace(objective, task_chunk=-1)
    assert again.learner == objective.learner
    with pytest.raises(ValueError, match="metamix re-runs the model's blocks"):
        metareg.MetaObjective(learner, (metareg.MetaMix(), reg))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"dropout_bins.mode": "both"}, "unknown dropout_bins.mode 'both'"),
        ({"dropout_bins.p": 1.0}, "dropout_bins.p is the probability of dropping a unit"),
        ({"dropout_bins.num_versions": 0}, "dropout_bins.num_versions (0) and"),
        ({"dropout_bins.layers": (2,)}, "dropout_bins.layers (2,) must be hidden block outputs"),
        ({"dropout_bins.layers": (0, 0)}, "must be distinct non-negative block indices"),
        ({"regularizers": ("metamix", "dropout_bins")}, "use dropout_bins without metamix"),
    ],
)
def test_bad_dropout_bins_configs_are_rejected(changes, message):
    assert_config_refused("dropout_bins", changes, message)


def test_training_smoke_run_with_dropout_bins(tmp_path, quick_config):
    quick_config.regularizers = ("dropout_bins",)
    results = train_and_evaluate(quick_config, tmp_path)
    assert results["regularizers"] == ["dropout_bins"] and results["num_traces"] == 1
    assert np.isfinite(results["mean"])
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in rows)
