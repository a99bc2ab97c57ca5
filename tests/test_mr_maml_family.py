"""MR-MAML's sinusoid notebook as a task family and an experiment: the tasks against the notebook's
definition (docs/sources/mr_maml_sinusoid_notebook.md), the reference errors they imply, and the
pieces its MR-MAML-W needs (encoder layers, the fresh Keras Adam) with what they do to weights."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import traverse_util

import metareg
from experiments import sinusoid_mr_maml
from metareg.assemble import build, fresh_keras_adam, validate_config
from metareg.config import ConfigError, default_config
from metareg.meta_step import init_train_state, meta_train_step
from metareg.models.mlp import check_fields
from metareg.rng import named_key
from metareg.tasks import check_family, make_task_family
from metareg.tasks.mr_maml_sinusoid import (
    AMPLITUDES,
    CODE_WIDTH,
    NUM_TRAIN_TASKS,
    sinusoid_mr_maml_family,
)

NOTEBOOK_AMPS = np.linspace(0.1, 4, 20)  # cell Df53q7-VwI2P, line 7


def _family():
    return sinusoid_mr_maml_family()


def _code(x):
    """The one-hot part of inputs [..., 21] as indices, checking it is one-hot."""
    onehot = np.asarray(x[..., 1:])
    assert onehot.shape[-1] == CODE_WIDTH
    np.testing.assert_array_equal(onehot.sum(-1), 1.0)
    assert set(np.unique(onehot)) == {0.0, 1.0}
    return onehot.argmax(-1)


def test_the_family_is_a_task_family_built_from_the_config():
    config = sinusoid_mr_maml.get_config()
    family = make_task_family(config, jax.random.key(0))
    check_family(family)
    assert (family.num_shots, family.num_queries, family.test_shots) == (10, 10, 5)
    assert family.noise_std == 0.1 and family.x_range == (-5.0, 5.0)
    assert family.input_width == 21 and family.loss_name == "mse" and family.output_width == 1
    np.testing.assert_allclose(np.asarray(family.amplitudes), NOTEBOOK_AMPS, rtol=1e-6)
    np.testing.assert_array_equal(AMPLITUDES, NOTEBOOK_AMPS.astype(np.float32))
    ep = family.example_episode()
    assert ep.support_x.shape == (10, 21) and ep.query_x.shape == (10, 21)


def test_training_tasks_are_the_sixteen_coded_amplitudes_at_phase_zero():
    family = _family()
    ep = family.sample_train(jax.random.key(1), 4000)
    assert ep.support_x.shape == (4000, 10, 21) and ep.query_x.shape == (4000, 10, 21)
    code = _code(ep.support_x)
    # one code per task, the same in support and query
    assert (code == code[:, :1]).all() and (_code(ep.query_x) == code[:, :1]).all()
    code = code[:, 0]
    # random.randint(0, K_amp - 5) is inclusive: 0..15, never 16..19, each about 1/16 of the time
    counts = np.bincount(code, minlength=CODE_WIDTH)
    assert counts[NUM_TRAIN_TASKS:].sum() == 0 and (counts[:NUM_TRAIN_TASKS] > 0).all()
    expected = 4000 / NUM_TRAIN_TASKS
    chi2 = float(((counts[:NUM_TRAIN_TASKS] - expected) ** 2 / expected).sum())
    assert chi2 < 45.0  # 15 degrees of freedom: p < 1e-4 beyond this
    # amplitude amps[code], phase 0: y_clean = amps[code] * sin(x), x in [-5, 5]
    x = np.asarray(ep.query_x[..., 0])
    assert x.min() >= -5.0 and x.max() <= 5.0 and x.min() < -4.9 and x.max() > 4.9
    want = NOTEBOOK_AMPS[code][:, None] * np.sin(x)
    np.testing.assert_allclose(np.asarray(ep.query_y_clean[..., 0]), want, rtol=1e-5, atol=1e-5)
    # the code names the function: a network that reads it can ignore the support set
    for c in range(NUM_TRAIN_TASKS):
        amp = np.asarray(ep.query_y_clean[code == c, :, 0]) / np.sin(x[code == c])
        np.testing.assert_allclose(amp, NOTEBOOK_AMPS[c], rtol=1e-3)


def test_noise_is_0_1_once_in_training_twice_on_the_test_support_once_on_the_test_targets():
    family = _family()
    tr = family.sample_train(jax.random.key(2), 3000)
    resid = np.asarray(tr.query_y - tr.query_y_clean)
    support_clean = np.asarray(tr.support_x[..., 0])
    amp = NOTEBOOK_AMPS[_code(tr.support_x)[:, 0]]
    support_resid = np.asarray(tr.support_y[..., 0]) - amp[:, None] * np.sin(support_clean)
    te = family.sample_test(jax.random.key(3), 3000)
    amp_te = _test_amplitudes(te)
    te_support = np.asarray(te.support_y[..., 0]) - amp_te[:, None] * np.sin(
        np.asarray(te.support_x[..., 0])
    )
    te_query = np.asarray(te.query_y - te.query_y_clean)
    for r, want in (
        (resid, 0.1),
        (support_resid, 0.1),
        (te_support, 0.1 * math.sqrt(2)),
        (te_query, 0.1),
    ):
        n = r.size
        assert abs(r.mean()) < 4 * want / math.sqrt(n)
        assert abs(r.std() - want) < 4 * want / math.sqrt(2 * n), (r.std(), want)


def _test_amplitudes(ep):
    """Each test task's amplitude, read off its clean targets (the grid holds x near pi/2)."""
    x = np.asarray(ep.query_x[0, :, 0])
    i = int(np.argmax(np.sin(x)))
    return np.asarray(ep.query_y_clean[:, i, 0]) / np.sin(x[i])


def test_test_tasks_draw_the_amplitude_in_0_1_to_4_and_a_code_that_says_nothing():
    family = _family()
    n = 8000
    ep = family.sample_test(jax.random.key(4), n)
    assert ep.support_x.shape == (n, 5, 21) and ep.query_x.shape == (n, 200, 21)
    # query points: equally_spaced_samples(K=200, width=5) = linspace(-4.5, 4.5, 200), every task
    np.testing.assert_allclose(
        np.asarray(ep.query_x[..., 0]),
        np.broadcast_to(np.linspace(-4.5, 4.5, 200), (n, 200)),
        atol=1e-6,
    )
    sx = np.asarray(ep.support_x[..., 0])
    assert sx.min() >= -5.0 and sx.max() <= 5.0
    amp = _test_amplitudes(ep)
    np.testing.assert_allclose(
        np.asarray(ep.query_y_clean[..., 0]),
        amp[:, None] * np.sin(np.linspace(-4.5, 4.5, 200)),
        rtol=1e-4,
        atol=1e-5,
    )
    assert amp.min() >= 0.1 - 1e-5 and amp.max() <= 4.0 + 1e-5
    # A ~ U(0.1, 4): mean 2.05, variance 3.9^2 / 12
    assert abs(amp.mean() - 2.05) < 4 * 3.9 / math.sqrt(12 * n)
    assert abs(amp.var() - 3.9**2 / 12) < 0.03
    code = _code(ep.support_x)[:, 0]
    assert (_code(ep.query_x) == code[:, None]).all()
    counts = np.bincount(code, minlength=CODE_WIDTH)
    assert counts[NUM_TRAIN_TASKS:].sum() == 0 and (counts[:NUM_TRAIN_TASKS] > 400).all()
    # independent of the amplitude (the notebook draws it with its own random.randint)
    assert abs(np.corrcoef(code, amp)[0, 1]) < 4 / math.sqrt(n)


def test_the_errors_the_protocol_implies_for_three_reference_predictors():
    """Noisy-target test MSE (the notebook's number) of: the truth (the noise floor, 0.01); zero
    (what MR-MAML-W's 0.16 and MAML's 0.51 are measured against); a perfect memorizer, which
    predicts amps[code] sin(x) (right on every training task, wrong at test because the test code is
    unrelated to A). Closed forms with s2 = the mean of sin^2 over the 200 test points."""
    family = _family()
    ep = family.sample_test(jax.random.key(5), 8000)
    x = np.linspace(-4.5, 4.5, 200)
    s2 = float(np.mean(np.sin(x) ** 2))
    y = np.asarray(ep.query_y[..., 0], np.float64)
    clean = np.asarray(ep.query_y_clean[..., 0], np.float64)
    truth = np.mean((y - clean) ** 2)
    zero = np.mean(y**2)
    code = _code(ep.query_x)[:, 0]
    memorizer = np.mean((y - NOTEBOOK_AMPS[code][:, None] * np.sin(x)) ** 2)
    ea2 = (4.0**3 - 0.1**3) / (3 * 3.9)  # E[A^2], A ~ U(0.1, 4)
    a = NOTEBOOK_AMPS[:NUM_TRAIN_TASKS]
    e_gap = ea2 - 2 * 2.05 * a.mean() + np.mean(a**2)  # E[(A - amps[code])^2], independent
    np.testing.assert_allclose(truth, 0.01, rtol=0.02)
    np.testing.assert_allclose(zero, ea2 * s2 + 0.01, rtol=0.05)
    np.testing.assert_allclose(memorizer, e_gap * s2 + 0.01, rtol=0.05)
    # the numbers: zero 2.63, memorizer 1.13 (MAML's 0.51 and MR-MAML-W's 0.16 both adapt)
    assert 2.6 < ea2 * s2 + 0.01 < 2.8 and 1.1 < e_gap * s2 + 0.01 < 1.2
    # and on training tasks the memorizer is at the noise floor
    tr = family.sample_train(jax.random.key(6), 5000)
    np.testing.assert_allclose(
        float(np.mean(np.asarray(tr.query_y - tr.query_y_clean) ** 2)), 0.01, rtol=0.05
    )


def test_the_experiment_is_the_notebooks_maml_cell_and_mrw_its_mr_maml_w_cell():
    maml = sinusoid_mr_maml.get_config()
    validate_config(maml)
    assert maml.task.name == "sinusoid_mr_maml" and maml.regularizers == ()
    assert tuple(maml.model.hidden) == (40, 40) and tuple(maml.model.mlp_init) == (
        "glorot_uniform",
    )
    assert (maml.learner.name, maml.learner.inner_lr, maml.learner.inner_steps) == ("maml", 0.01, 1)
    assert (maml.optimizer.name, maml.optimizer.learning_rate) == ("adam", 1e-3)
    assert maml.meta_batch_size == 1 and maml.num_steps == 15_000
    assert maml.eval.num_tasks == 100 and maml.eval.metric == "mse_noisy"
    assert tuple(maml.eval.inner_steps) == (0, 1, 5, 100) and maml.eval.primary_inner_steps == 100
    assert maml.eval.every > 0  # the memorization measure
    mrw = sinusoid_mr_maml.get_config("mrw")
    validate_config(mrw)
    assert mrw.regularizers == ("mr_maml",)
    assert tuple(mrw.model.hidden) == (100, 5, 40, 40) and tuple(mrw.model.mlp_linear_blocks) == (
        1,
    )
    assert mrw.learner.frozen_blocks == 2 and tuple(mrw.mr_maml.blocks) == (0, 1)
    assert (mrw.mr_maml.beta, mrw.mr_maml.scale_init, mrw.mr_maml.scale_init_std) == (
        5e-5,
        -50.0,
        0.1,
    )
    assert mrw.optimizer.name == "adam_fresh" and mrw.num_steps == 15_000
    quick = sinusoid_mr_maml.get_config("mrw,quick")
    assert quick.num_steps < mrw.num_steps and quick.regularizers == ("mr_maml",)


def _mrw_state(config):
    family, objective, optimizer, root = build(config)
    state = init_train_state(jax.random.key(0), objective, optimizer, family.example_episode())
    return family, objective, optimizer, state


def test_mrw_network_and_kl_match_the_notebooks_encoder():
    """21 -> 100 (ReLU) -> 5 (linear) stochastic encoder, frozen in the inner loop, then the adapted
    SineModel 5 -> 40 -> 40 -> 1; 2,600 stochastic kernel weights, so beta * KL at init is
    5e-5 * 2600 * (-log(eps + softplus(-50)) - 1/2) = 2.0075 plus the means' share: the ~2.0 that
    the notebook's printed MR-MAML-W losses carry above MAML's (2.09 at step 14,000)."""
    config = sinusoid_mr_maml.get_config("mrw")
    family, objective, _, state = _mrw_state(config)
    model = state.meta_params["model"]
    shapes = {k: v["kernel"].shape for k, v in model.items()}
    assert shapes == {
        "blocks_0": (21, 100),
        "blocks_1": (100, 5),
        "blocks_2": (5, 40),
        "blocks_3": (40, 40),
        "blocks_4": (40, 1),
    }
    # the encoder's kernel and bias ~ N(0, 0.1^2) (tfp loc init); Keras Dense after it
    encoder = np.concatenate(
        [np.ravel(model[b][p]) for b in ("blocks_0", "blocks_1") for p in ("kernel", "bias")]
    )
    assert encoder.size == 2705 and 0.095 < float(np.sqrt(np.mean(encoder**2))) < 0.105
    for b in ("blocks_2", "blocks_3", "blocks_4"):
        fan_in, fan_out = model[b]["kernel"].shape
        assert float(jnp.abs(model[b]["kernel"]).max()) <= math.sqrt(6 / (fan_in + fan_out))
        assert float(jnp.abs(model[b]["bias"]).max()) == 0.0
    # block 1 is linear: its outputs take negative values
    x = family.sample_train(jax.random.key(1), 1).support_x[0]
    w = objective.learner.model.apply(model, x, 0, 2)
    assert w.shape == (10, 5) and float(w.min()) < 0
    mr = objective.regularizers[0]
    rho = traverse_util.flatten_dict(state.meta_params["regularizers"]["mr_maml"]["rho"])
    assert sorted(p[0] for p in rho) == ["blocks_0", "blocks_1"]
    assert sum(r.size for r in rho.values()) == 2600
    kl, _ = mr.penalty(state.meta_params, objective.learner, None, None)
    sigma = float(np.finfo(np.float32).eps) + math.log1p(math.exp(-50.0))
    mu2 = sum(float(jnp.sum(model[b]["kernel"] ** 2)) for b in ("blocks_0", "blocks_1"))
    want = 2600 * (-math.log(sigma) - 0.5) + mu2 / 2
    np.testing.assert_allclose(float(kl), want, rtol=1e-4)
    assert 2.0 < 5e-5 * float(kl) < 2.02


def test_fresh_keras_adam_is_the_first_step_of_a_new_keras_adam_every_step():
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-7
    opt = fresh_keras_adam(lr)
    g = jnp.array([3.0, -0.2, 5e-6, -1e-6, 1e-19, 0.0], jnp.float32)
    state = opt.init(g)
    u1, state = opt.update(g, state)
    u2, _ = opt.update(g, state)
    np.testing.assert_array_equal(np.asarray(u1), np.asarray(u2))  # no state
    # Keras (TF 2.0): lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), m = (1-b1) g, v = (1-b2) g^2 at t = 1,
    # var -= lr_t m / (sqrt(v) + eps)
    g64 = np.asarray(g, np.float64)
    keras = -lr * math.sqrt(1 - b2) / (1 - b1) * (1 - b1) * g64 / (np.sqrt((1 - b2) * g64**2) + eps)
    np.testing.assert_allclose(np.asarray(u1), keras, rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(keras, -lr * g64 / (np.abs(g64) + eps / math.sqrt(1 - b2)))
    # about lr * sign(g) for |g| >> 3.2e-6; the KL's pull on a mean of 0.1 (beta mu = 5e-6) moves
    # it by 0.6 lr; the KL's gradient in rho (~1e-19 at rho = -50) moves rho by ~3e-17
    assert abs(float(u1[0]) + lr) < 2e-9 and abs(float(u1[2]) + lr * 5 / 8.16) < 1e-6
    assert 0 < -float(u1[4]) < 1e-16


def test_fresh_adam_turns_the_kl_into_a_decay_of_weights_the_data_leaves_alone():
    """What makes the notebook's MR-MAML-W act at sigma's floor: a weight whose data gradient is
    zero on most steps (a kernel row of a one-hot code not in the step's task) gets only the KL's
    beta * mu there. A new Adam every step moves it by ~0.6 lr per such step toward 0; a persistent
    Adam divides beta * mu by the root of the data gradients it remembers. Here the data gradient
    (-0.1, growing the weight: memorization) comes 1 step in 16, the KL's 5e-6 on the others; the
    KL's share of the movement is the difference with and without it."""
    beta, mu, g_data = 5e-5, 0.1, -0.1
    share = {}
    for name, make in (
        ("fresh", lambda: fresh_keras_adam(1e-3)),
        ("adam", lambda: optax.adam(1e-3)),
    ):
        total = {}
        for kl in (beta * mu, 0.0):
            opt = make()
            state, total[kl] = opt.init(jnp.zeros(())), 0.0
            for t in range(160):
                u, state = opt.update(
                    jnp.asarray(g_data if t % 16 == 0 else kl, jnp.float32), state
                )
                total[kl] += float(u)
        share[name] = total[beta * mu] - total[0.0]
    # fresh: 150 KL-only steps of lr * 5e-6 / (5e-6 + 3.16e-6) = 0.61 lr each
    np.testing.assert_allclose(
        share["fresh"], -150 * 1e-3 * 5e-6 / (5e-6 + 1e-7 / 0.001**0.5), rtol=1e-3
    )
    # persistent Adam (optax, as our runs): over 1000 times less
    assert share["adam"] < 0 and abs(share["adam"]) < abs(share["fresh"]) / 1000


def test_one_mrw_step_leaves_rho_at_its_floor_and_pulls_the_idle_code_rows_by_the_kl():
    config = sinusoid_mr_maml.get_config("mrw")
    family, objective, optimizer, state = _mrw_state(config)
    step = jax.jit(meta_train_step, static_argnames=("objective", "optimizer", "meta_batch_size"))
    key = jax.random.key(3)
    new, _ = step(state, family, key, objective=objective, optimizer=optimizer, meta_batch_size=1)
    # rho: gradient ~1e-19, a step of ~1e-17: float32 keeps -50 exactly
    jax.tree.map(
        np.testing.assert_array_equal,
        state.meta_params["regularizers"]["mr_maml"]["rho"],
        new.meta_params["regularizers"]["mr_maml"]["rho"],
    )
    # block 0's kernel rows: 0 is x, 1 + c the code of the step's task. Every other code row has no
    # data gradient, only beta * mu, and moves by lr * beta mu / (beta |mu| + eps / sqrt(1 - b2))
    episodes = family.sample_train(named_key(jax.random.fold_in(key, 0), "tasks"), 1)
    active = 1 + int(np.argmax(np.asarray(episodes.support_x[0, 0, 1:])))
    before = np.asarray(state.meta_params["model"]["blocks_0"]["kernel"], np.float64)
    after = np.asarray(new.meta_params["model"]["blocks_0"]["kernel"], np.float64)
    idle = [r for r in range(1, 21) if r != active]
    g = 5e-5 * before[idle]
    want = before[idle] - 1e-3 * g / (np.abs(g) + 1e-7 / math.sqrt(1 - 0.999))
    np.testing.assert_allclose(after[idle], want, rtol=1e-4, atol=1e-9)
    assert np.abs(after[active] - before[active]).max() > 5e-4  # the data moves its own row


def test_mlp_init_and_linear_block_fields_are_checked():
    check_fields("none", "relu", ("glorot_uniform",), (1,), 5)
    with pytest.raises(ValueError, match="unknown MLP init"):
        check_fields("none", "relu", ("xavier",))
    with pytest.raises(ValueError, match="names 2 initializers"):
        check_fields("none", "relu", ("glorot_uniform", "normal_0.1"), (), 3)
    with pytest.raises(ValueError, match="mlp_linear_blocks"):
        check_fields("none", "relu", (), (2,), 3)  # block 2 of 3 is the head
    c = default_config()
    c.model.mlp_init = ("orthogonal",)
    with pytest.raises(ConfigError, match="model.mlp_init"):
        validate_config(c)


def test_default_mlp_init_is_unchanged():
    """() and ("lecun_normal",) build the same parameters as before the field existed (nn.Dense's
    LeCun normal kernel, zero bias), so every committed run keeps its numbers."""
    x = jnp.ones((3, 2))
    a = metareg.mlp((8, 8)).init(jax.random.key(0), x)
    b = metareg.mlp((8, 8), inits=("lecun_normal",)).init(jax.random.key(0), x)
    jax.tree.map(np.testing.assert_array_equal, a, b)
    assert float(jnp.abs(a["blocks_0"]["bias"]).max()) == 0.0
