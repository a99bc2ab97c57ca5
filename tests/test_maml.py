"""MAML against closed forms on linear regression, first order, and vmap == loop."""

import chex
import jax
import numpy as np
import pytest

import metareg
from metareg.meta_step import meta_loss
from tests.conftest import linear_model, random_episodes

ALPHA = 0.05


def closed_form_meta_grad(w, episodes, first_order=False):
    """One-step MAML on L(w) = mean((Xw - y)^2): phi = A w + c with A = I - 2a/K Xs^T Xs,
    d L_q(phi)/dw = A^T grad_q(phi) (second order) or grad_q(phi) (first order), averaged over
    tasks."""
    w = np.asarray(w, np.float64)
    grads = []
    arrays = (episodes.support_x, episodes.support_y, episodes.query_x, episodes.query_y)
    for xs, ys, xq, yq in zip(*(np.asarray(a, np.float64) for a in arrays), strict=True):
        k, q = xs.shape[0], xq.shape[0]
        a = np.eye(w.shape[0]) - 2 * ALPHA / k * xs.T @ xs
        phi = w - ALPHA * 2 / k * xs.T @ (xs @ w - ys)
        g_q = 2 / q * xq.T @ (xq @ phi - yq)
        grads.append(g_q if first_order else a.T @ g_q)
    return np.mean(grads, axis=0)


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("use_jit", [False, True])
def test_one_step_meta_gradient_matches_closed_form(first_order, use_jit):
    learner = metareg.MAML(linear_model(), inner_lr=ALPHA, num_steps=1, first_order=first_order)
    objective = metareg.MetaObjective(learner)
    episodes = random_episodes(jax.random.key(0))
    params = objective.init(jax.random.key(1), metareg.types.task(episodes, 0))

    def loss(model_params):
        return meta_loss({**params, "model": model_params}, episodes, jax.random.key(2), objective)[
            0
        ]

    grad_fn = jax.grad(loss)
    if use_jit:
        grad_fn = jax.jit(grad_fn)
    got = grad_fn(params["model"])["blocks_0"]["kernel"]
    want = closed_form_meta_grad(params["model"]["blocks_0"]["kernel"], episodes, first_order)
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=2e-6)


def test_first_order_equals_query_gradient_at_adapted_params():
    """FOMAML's meta-gradient is grad L_q evaluated at phi (the
    stop-gradient formula), on the MLP."""
    model = metareg.mlp((8, 8))
    fo = metareg.MAML(model, inner_lr=0.1, num_steps=3, first_order=True)
    episodes = random_episodes(jax.random.key(3), num_tasks=1, d=1)
    ep = metareg.types.task(episodes, 0)
    params = metareg.MetaObjective(fo).init(jax.random.key(4), ep)

    def grad_of(learner):
        objective = metareg.MetaObjective(learner)
        return jax.grad(
            lambda m: meta_loss({**params, "model": m}, episodes, jax.random.key(0), objective)[0]
        )(params["model"])

    meta_grad = grad_of(fo)
    phi = fo.adapt(params, ep.support_x, ep.support_y)
    query_grad = jax.grad(lambda p: metareg.losses.mse(model.apply(p, ep.query_x), ep.query_y))(phi)
    chex.assert_trees_all_close(meta_grad, query_grad, rtol=1e-5, atol=1e-6)
    # ...and differs from the second-order gradient.
    so = metareg.MAML(model, inner_lr=0.1, num_steps=3)
    so_grad = grad_of(so)
    assert not np.allclose(
        np.asarray(so_grad["blocks_0"]["kernel"]),
        np.asarray(meta_grad["blocks_0"]["kernel"]),
        rtol=1e-3,
    )


def test_inner_steps_are_sgd_steps():
    """s steps of the scan equal s explicit SGD steps."""
    model = metareg.mlp((8,))
    learner = metareg.MAML(model, inner_lr=0.05, num_steps=4)
    ep = metareg.types.task(random_episodes(jax.random.key(5), num_tasks=1, d=1), 0)
    params = metareg.MetaObjective(learner).init(jax.random.key(6), ep)
    p = params["model"]
    for _ in range(4):
        g = jax.grad(learner.support_loss)(p, ep.support_x, ep.support_y)
        p = jax.tree_util.tree_map(lambda a, b: a - 0.05 * b, p, g)
    chex.assert_trees_all_close(
        learner.adapt(params, ep.support_x, ep.support_y), p, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("use_metamix", [False, True])
def test_vmap_over_tasks_equals_python_loop(use_metamix):
    model = metareg.mlp((16, 16))
    learner = metareg.MAML(model, inner_lr=0.02, num_steps=2)
    regs = (metareg.MetaMix(),) if use_metamix else ()
    objective = metareg.MetaObjective(learner, regs)
    episodes = random_episodes(jax.random.key(7), num_tasks=5, d=1)
    params = objective.init(jax.random.key(8), metareg.types.task(episodes, 0))
    key = jax.random.key(9)
    vmapped = jax.value_and_grad(lambda p: meta_loss(p, episodes, key, objective)[0])(params)

    task_keys = jax.random.split(metareg.rng.named_key(key, "per_task"), 5)

    def looped(p):
        total = 0.0
        for i in range(5):
            ep = metareg.types.task(episodes, i)
            phi = learner.adapt(p, ep.support_x, ep.support_y)
            if use_metamix:
                total += regs[0].query_loss(learner, phi, ep, task_keys[i])
            else:
                total += metareg.losses.mse(model.apply(phi, ep.query_x), ep.query_y)
        return total / 5

    chex.assert_trees_all_close(vmapped, jax.value_and_grad(looped)(params), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("task_chunk", [-1, 2, 3])
def test_task_execution_strategies_give_the_same_meta_gradient(task_chunk):
    """vmap over all tasks, lax.map over groups (with a remainder: 5 tasks in groups of 2) and the
    unrolled loop: the same loss and meta-gradient, with MetaMix and TRLearner reading every
    task."""
    learner = metareg.MAML(metareg.mlp((16, 16)), inner_lr=0.02, num_steps=2)
    regs = (metareg.MetaMix(), metareg.TRLearner(weight=0.6))
    episodes = random_episodes(jax.random.key(7), num_tasks=5, d=1)
    key = jax.random.key(9)
    results = []
    for chunk in (0, task_chunk):
        objective = metareg.MetaObjective(learner, regs, task_chunk=chunk)
        params = objective.init(jax.random.key(8), metareg.types.task(episodes, 0))
        results.append(
            jax.jit(jax.value_and_grad(lambda p, o=objective: meta_loss(p, episodes, key, o)[0]))(
                params
            )
        )
    chex.assert_trees_all_close(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_auto_task_chunk_loops_on_cpu_for_large_models_only():
    """task_chunk = None: a loop on CPU from LOOP_MIN_PARAMS_CPU meta-parameters on (measured faster
    there), vmap for small models, on accelerators, and with a device mesh."""
    from metareg.meta_step import LOOP_MIN_PARAMS_CPU, auto_task_chunk

    example = metareg.types.task(random_episodes(jax.random.key(0), num_tasks=2, d=1), 0)
    small = metareg.MetaObjective(metareg.MAML(metareg.mlp((40, 40)), inner_lr=0.01, num_steps=1))
    large = metareg.MetaObjective(
        metareg.MAML(metareg.mlp((200, 200)), inner_lr=0.01, num_steps=1)
    )  # 40.8k parameters
    assert auto_task_chunk(small, example, "cpu") == 0
    assert auto_task_chunk(large, example, "cpu") == -1
    assert auto_task_chunk(large, example, "gpu") == 0
    assert auto_task_chunk(large, example, "cpu", task_devices=2) == 0
    assert 1_761 < LOOP_MIN_PARAMS_CPU < 40_801


def test_build_resolves_auto_task_chunk():
    from metareg.assemble import build
    from metareg.config import default_config

    config = default_config()
    assert config.task_chunk is None
    assert build(config)[1].task_chunk == 0  # the sinusoid MLP: vmap
    config.model.hidden = (200, 200)
    assert build(config)[1].task_chunk == -1
    config.task_chunk = 3
    assert build(config)[1].task_chunk == 3  # an explicit choice is kept


def test_a_learner_with_another_loss_than_the_family_is_refused_when_the_step_traces():
    import optax

    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    learner = metareg.MAML(metareg.mlp(), loss_name="cross_entropy")
    objective = metareg.MetaObjective(learner, ())
    optimizer = optax.sgd(0.1)
    # init_train_state sees the example's float targets and names both fixes
    with pytest.raises(ValueError, match="integer class labels.*loss_name=family.loss_name"):
        metareg.init_train_state(jax.random.key(1), objective, optimizer, family.example_episode())
    # a state built with the right loss, then stepped with the wrong one: refused at trace time
    right = metareg.MetaObjective(metareg.MAML(metareg.mlp()), ())
    state = metareg.init_train_state(jax.random.key(1), right, optimizer, family.example_episode())
    with pytest.raises(
        ValueError,
        match="MAML trains with loss 'cross_entropy' but RegressionFamily's tasks need 'mse'",
    ):
        metareg.meta_train_step(
            state,
            family,
            jax.random.key(2),
            objective=objective,
            optimizer=optimizer,
            meta_batch_size=2,
        )


def test_a_custom_regularizer_overrides_only_the_hooks_it_needs():
    """A Regularizer subclass with only a penalty adds weight * penalty to the outer loss; other
    hooks are no-ops. An object that is not a Regularizer is refused with a message naming the
    fix."""
    import dataclasses

    import jax.numpy as jnp

    @dataclasses.dataclass(frozen=True)
    class L2(metareg.Regularizer):
        weight: float = 0.5
        name: str = "l2"

        def penalty(self, meta_params, learner, episodes, task_params, key=None):
            return sum(jnp.sum(p * p) for p in jax.tree.leaves(meta_params["model"])), {}

    learner = metareg.MAML(linear_model(), inner_lr=0.1)
    episodes = random_episodes(jax.random.key(0))
    plain = metareg.MetaObjective(learner)
    params = plain.init(jax.random.key(1), metareg.types.task(episodes, 0))
    base, _ = meta_loss(params, episodes, jax.random.key(2), plain)
    total, metrics = meta_loss(
        params, episodes, jax.random.key(2), metareg.MetaObjective(learner, (L2(),))
    )
    l2 = float(np.sum(np.asarray(params["model"]["blocks_0"]["kernel"]) ** 2))
    np.testing.assert_allclose(float(total), float(base) + 0.5 * l2, rtol=1e-6)
    np.testing.assert_allclose(float(metrics["l2_loss"]), l2, rtol=1e-6)
    assert (
        metareg.MetaObjective(learner, (L2(),)).init(
            jax.random.key(1), metareg.types.task(episodes, 0)
        )["regularizers"]
        == {}
    )

    class DuckTyped:
        name, weight = "duck", 1.0

        def penalty(self, *args, **kwargs):
            return 0.0, {}

    with pytest.raises(TypeError, match="not a metareg.regularizers.Regularizer: subclass it"):
        metareg.MetaObjective(learner, (DuckTyped(),))


def test_jitted_model_init_gives_the_same_bits_as_eager_init():
    """MetaObjective.init runs the model's initializers as one compiled program (for compile time);
    its values must be eager init's, bit for bit, for every model family (MLP, BatchNorm MLP, Conv4,
    the pose net)."""
    from metareg.meta_step import _init_model
    from metareg.models import conv4, pose_net

    key = jax.random.key(3)
    for model, x in (
        (metareg.mlp(), np.zeros((5, 1), np.float32)),
        (metareg.mlp(norm="transductive"), np.zeros((5, 1), np.float32)),
        (conv4(5, width=8), np.zeros((5, 28, 28, 1), np.float32)),
        (pose_net(width=8), np.zeros((2, 32, 32, 1), np.float32)),
    ):
        chex.assert_trees_all_equal(_init_model(model, key, x), model.init(key, x))
