"""ANIL and MetaSGD against MAML and closed forms."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

import metareg
from metareg.learners import ANIL, MetaSGD
from metareg.meta_step import meta_loss
from tests.conftest import linear_model, random_episodes


def _episode(key=0, d=1):
    return metareg.types.task(random_episodes(jax.random.key(key), num_tasks=1, d=d), 0)


def test_anil_adapts_only_the_head_by_sgd():
    model = metareg.mlp((8, 8))
    anil = ANIL(model, inner_lr=0.1, num_steps=3)
    ep = _episode()
    params = metareg.MetaObjective(anil).init(jax.random.key(1), ep)
    phi = anil.adapt(params, ep.support_x, ep.support_y)
    theta = params["model"]
    for block in ("blocks_0", "blocks_1"):
        chex.assert_trees_all_equal(phi[block], theta[block])
    p = theta
    for _ in range(3):
        g = jax.grad(anil.support_loss)(p, ep.support_x, ep.support_y)
        p = {
            **p,
            "blocks_2": jax.tree_util.tree_map(
                lambda a, b: a - 0.1 * b, p["blocks_2"], g["blocks_2"]
            ),
        }
    chex.assert_trees_all_close(phi, p, rtol=1e-5, atol=1e-6)


def test_anil_equals_maml_when_the_model_is_only_a_head():
    ep = _episode(d=3)
    anil, maml = (
        ANIL(linear_model(), inner_lr=0.05, num_steps=2),
        metareg.MAML(linear_model(), inner_lr=0.05, num_steps=2),
    )
    params = metareg.MetaObjective(maml).init(jax.random.key(2), ep)
    chex.assert_trees_all_close(
        anil.adapt(params, ep.support_x, ep.support_y),
        maml.adapt(params, ep.support_x, ep.support_y),
        rtol=1e-6,
    )


def test_metasgd_with_uniform_step_sizes_equals_maml():
    model = metareg.mlp((8,))
    ep = _episode()
    metasgd, maml = (
        MetaSGD(model, inner_lr=0.03, num_steps=2),
        metareg.MAML(model, inner_lr=0.03, num_steps=2),
    )
    params = metareg.MetaObjective(metasgd).init(jax.random.key(3), ep)
    np.testing.assert_allclose(
        np.asarray(params["learner"]["log_lr"]["blocks_0"]["kernel"]), np.log(0.03), rtol=1e-6
    )
    want = maml.adapt(params, ep.support_x, ep.support_y)
    chex.assert_trees_all_close(metasgd.adapt(params, ep.support_x, ep.support_y), want, rtol=1e-5)


def test_metasgd_step_size_gradient_matches_closed_form():
    """Linear model, one step: phi = w - exp(l) * g_s(w), so
    dL_q/dl = -grad_q(phi) * exp(l) * g_s(w)."""
    ep = _episode(d=3)
    learner = MetaSGD(linear_model(), inner_lr=0.05, num_steps=1)
    objective = metareg.MetaObjective(learner)
    params = objective.init(jax.random.key(4), ep)
    params["learner"]["log_lr"]["blocks_0"]["kernel"] = jnp.log(jnp.array([[0.01], [0.05], [0.1]]))
    episodes = jax.tree_util.tree_map(lambda a: a[None], ep)
    got = jax.grad(lambda p: meta_loss(p, episodes, jax.random.key(0), objective)[0])(params)[
        "learner"
    ]["log_lr"]["blocks_0"]["kernel"]

    xs, ys, xq, yq = (
        np.asarray(a, np.float64) for a in (ep.support_x, ep.support_y, ep.query_x, ep.query_y)
    )
    w = np.asarray(params["model"]["blocks_0"]["kernel"], np.float64)
    lr = np.array([[0.01], [0.05], [0.1]])
    g_s = 2 / xs.shape[0] * xs.T @ (xs @ w - ys)
    phi = w - lr * g_s
    g_q = 2 / xq.shape[0] * xq.T @ (xq @ phi - yq)
    np.testing.assert_allclose(np.asarray(got), -g_q * lr * g_s, rtol=1e-4, atol=1e-7)


def test_tnet_freezes_transforms_and_adapts_weights_like_maml():
    from metareg.learners import TNet

    model = metareg.mlp((8, 8), transforms=True)
    ep = _episode()
    tnet = TNet(model, inner_lr=0.05, num_steps=2)
    params = metareg.MetaObjective(tnet).init(jax.random.key(5), ep)
    np.testing.assert_array_equal(np.asarray(params["model"]["transform_1"]), np.eye(8))
    # non-identity transforms, so that freezing them matters
    params["model"] = {
        k: (v + 0.1 * jnp.ones_like(v) if k.startswith("transform_") else v)
        for k, v in params["model"].items()
    }
    phi = tnet.adapt(params, ep.support_x, ep.support_y)
    for k in ("transform_0", "transform_1", "transform_2"):
        chex.assert_trees_all_equal(phi[k], params["model"][k])
    p = params["model"]
    for _ in range(2):
        g = jax.grad(tnet.support_loss)(p, ep.support_x, ep.support_y)
        p = {
            k: (
                v
                if k.startswith("transform_")
                else jax.tree_util.tree_map(lambda a, b: a - 0.05 * b, v, g[k])
            )
            for k, v in p.items()
        }
    chex.assert_trees_all_close(phi, p, rtol=1e-5, atol=1e-6)
    # the transforms are meta-learned: the outer gradient reaches them (its value is checked
    # against float64 finite differences in tests/test_independent.py)
    episodes = jax.tree_util.tree_map(lambda a: a[None], ep)
    grads = jax.grad(
        lambda q: meta_loss(q, episodes, jax.random.key(0), metareg.MetaObjective(tnet))[0]
    )(params)
    assert float(jnp.abs(grads["model"]["transform_1"]).sum()) > 0


def test_every_learner_and_family_follows_its_protocol():
    """meta_step and evaluate call only the methods of metareg.protocols: every registered learner
    has them, and so does a built-in family (the check_family test covers what a custom one
    lacks)."""
    from metareg import Learner, TaskFamily  # the public names
    from metareg.config import default_config
    from metareg.learners import LEARNERS, make_learner

    config = default_config()
    for name in LEARNERS:
        config.learner.name = name
        loss = "cross_entropy" if name == "protonet" else "mse"
        learner = make_learner(config, metareg.mlp((8,)), loss, num_classes=2)
        assert isinstance(learner, Learner), name
    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    assert isinstance(family, TaskFamily)
    assert not isinstance(object(), Learner) and not isinstance(object(), TaskFamily)
