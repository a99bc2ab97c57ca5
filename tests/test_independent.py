"""Independent checks: the library against numbers it did not compute itself.

Where the rest of the suite compares two paths of the library (vmap against a loop, the branch-free
MetaMix pass against its layer-wise reference), these tests compare it with an outside value:
float64 central finite differences of the outer loss for every gradient-based learner's
meta-gradient (2-3 inner steps, where first-order and truncated second-order errors show), NumPy
implementations of TRLearner's Eq. 4 and Eq. 5 and of MetaMix's mixed hidden state and target,
the frequencies of MetaMix's layer draw, Meta-Aug's and the task families' draws against their
distributions, and Channel Shuffle's meta-loss composed by hand. `make mutants`
(benchmarks/mutants.py) checks that plausible bugs in each of these places fail a test.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import metareg
from metareg.learners import ANIL, MetaSGD, TNet
from metareg.meta_step import meta_loss
from metareg.regularizers.metamix import mixup_loss
from metareg.regularizers.trlearner import multihead_relation
from tests.conftest import random_episodes

# ---------------------------------------------------------------- meta-gradients, float64 FD


def _as64(tree):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), tree)


def _directional_checks(learner, num_directions=4, eps=1e-6, seed=0):
    """(analytic, finite-difference) directional derivatives of the outer loss of two tasks, in
    float64, along random unit directions over *every* meta-parameter (model and learner)."""
    with jax.enable_x64(True):
        episodes = _as64(random_episodes(jax.random.key(seed), num_tasks=2, k=4, q=5, d=2))
        objective = metareg.MetaObjective(learner)
        params = _as64(objective.init(jax.random.key(seed + 1), metareg.types.task(episodes, 0)))
        if "transform_0" in params["model"]:  # T-Net: non-identity transforms, so freezing matters
            params["model"] = {
                k: v + 0.2 * jax.random.normal(jax.random.key(7), v.shape, jnp.float64)
                if k.startswith("transform_")
                else v
                for k, v in params["model"].items()
            }
        if "log_lr" in params["learner"]:  # MetaSGD: a distinct step size per parameter
            flat, unravel = ravel_pytree(params["learner"]["log_lr"])
            noise = jax.random.uniform(jax.random.key(8), flat.shape, jnp.float64, -0.5, 0.5)
            params["learner"]["log_lr"] = unravel(flat + noise)
        flat, unravel = ravel_pytree(params)
        loss = jax.jit(lambda v: meta_loss(unravel(v), episodes, jax.random.key(2), objective)[0])
        grad = np.asarray(jax.grad(loss)(flat))
        out = []
        for i in range(num_directions):
            d = np.random.default_rng(100 + i).normal(size=flat.shape)
            d /= np.linalg.norm(d)
            fd = (float(loss(flat + eps * d)) - float(loss(flat - eps * d))) / (2 * eps)
            out.append((float(grad @ d), fd))
        return out


LEARNERS = {
    "maml_2_steps": lambda: metareg.MAML(metareg.mlp((6, 6)), inner_lr=0.3, num_steps=2),
    "maml_3_steps": lambda: metareg.MAML(metareg.mlp((6, 6)), inner_lr=0.3, num_steps=3),
    "anil_3_steps": lambda: ANIL(metareg.mlp((6, 6)), inner_lr=0.3, num_steps=3),
    "metasgd_3_steps": lambda: MetaSGD(metareg.mlp((6, 6)), inner_lr=0.3, num_steps=3),
    "tnet_3_steps": lambda: TNet(metareg.mlp((6, 6), transforms=True), inner_lr=0.3, num_steps=3),
}


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_meta_gradient_equals_float64_finite_differences(name):
    """The outer gradient through every inner step (second order), checked against central
    differences of the outer loss itself: (L(v + e d) - L(v - e d)) / 2e along random directions d
    over all meta-parameters (MetaSGD's step sizes and T-Net's transforms included). In float64
    the two agree to ~1e-9 relative; first-order or truncated second-order gradients are off by
    percents."""
    for analytic, fd in _directional_checks(LEARNERS[name]()):
        assert abs(analytic - fd) <= 1e-6 * max(abs(fd), 1e-2), (analytic, fd)


# ---------------------------------------------------------------- TRLearner, Eq. 4 and Eq. 5


def _np_cos(u, v):
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def _np_relation(z, heads):
    """Eq. 4 by hand: m_ij = (1/H) sum_h cos(w_h * z_i, w_h * z_j) for i != j, 0 on the diagonal."""
    t = z.shape[0]
    m = np.zeros((t, t))
    for i in range(t):
        for j in range(t):
            if i != j:
                m[i, j] = np.mean([_np_cos(w * z[i], w * z[j]) for w in heads])
    return m


def _np_mlp(params, x, start=0, end=None):
    """The metareg MLP (ReLU hidden blocks, linear head) in NumPy, blocks [start, end)."""
    num_blocks = len([k for k in params if k.startswith("blocks_")])
    end = num_blocks if end is None else end
    h = np.asarray(x, np.float64)
    for i in range(start, end):
        p = params[f"blocks_{i}"]
        h = h @ np.asarray(p["kernel"], np.float64) + np.asarray(p["bias"], np.float64)
        if i < num_blocks - 1:
            h = np.maximum(h, 0.0)
    return h


def test_eq4_is_the_mean_of_per_head_cosines_against_numpy():
    """Distinct heads (far from the all-ones init), so that the mean of the H cosines and the
    cosine under the mean head differ by far more than the tolerance."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 6))
    heads = 1.0 + 0.8 * rng.normal(size=(3, 6))
    want = _np_relation(z, heads)
    got = np.asarray(multihead_relation(jnp.asarray(z, jnp.float32), jnp.asarray(heads)))
    np.testing.assert_allclose(got, want, atol=2e-6)
    under_mean_head = _np_relation(z, heads.mean(0, keepdims=True))
    assert np.abs(under_mean_head - want).max() > 0.05  # the data tells the two readings apart


def _trl_setup(num_tasks=4, init_noise=0.5, seed=0):
    learner = metareg.MAML(metareg.mlp((8,)), inner_lr=0.1, num_steps=1)
    reg = metareg.TRLearner(init_noise=init_noise, num_heads=3)
    episodes = random_episodes(jax.random.key(seed), num_tasks=num_tasks, k=5, q=6, d=1)
    params = metareg.MetaObjective(learner, (reg,)).init(
        jax.random.key(seed + 1), metareg.types.task(episodes, 0)
    )
    return learner, reg, episodes, params


def _np_weights(reg, params, episodes):
    """z_i = concat(mean g(x), mean y g(x)) from the MLP's hidden layer, Eq. 4 with the learned
    heads, then a_ip = max(m_ip, 0) / sum_{p != i} max(m_ip, 0), all in NumPy."""
    xs, ys = np.asarray(episodes.support_x, np.float64), np.asarray(episodes.support_y, np.float64)
    z = []
    for x, y in zip(xs, ys, strict=True):
        g = _np_mlp(params["model"], x, 0, 1)
        z.append(np.concatenate([g.mean(0), (y * g).mean(0)]))
    m = _np_relation(np.stack(z), np.asarray(params["regularizers"]["trlearner"]["heads"]))
    r = np.maximum(m, 0.0)
    return m, r / r.sum(1, keepdims=True)


def test_relations_and_consistency_loss_with_learned_heads_against_numpy():
    """The whole TRLearner path on an MLP with distinct learned heads: z from the hidden layer,
    Eq. 4, the row-normalized weights, and Eq. 5 (the weighted ensemble of the *other* tasks'
    adapted models on task i's queries), each against NumPy."""
    learner, reg, episodes, params = _trl_setup()
    m_want, a_want = _np_weights(reg, params, episodes)
    heads = params["regularizers"]["trlearner"]
    np.testing.assert_allclose(
        np.asarray(reg.relations(heads, learner, params["model"], episodes)), m_want, atol=2e-6
    )
    a = np.asarray(reg.weights(heads, learner, params["model"], episodes))
    np.testing.assert_allclose(a, a_want, atol=2e-6)
    assert np.all(np.diag(a) == 0) and np.all(a_want[~np.eye(4, dtype=bool)] > 0.01)
    phi = jax.vmap(learner.adapt, in_axes=(None, 0, 0))(
        params, episodes.support_x, episodes.support_y
    )
    got, _ = reg.penalty(params, learner, episodes, phi)
    losses = []
    for i in range(4):
        xq, yq = np.asarray(episodes.query_x[i]), np.asarray(episodes.query_y[i], np.float64)
        ens = sum(
            a_want[i, p] * _np_mlp(jax.tree_util.tree_map(lambda v, p=p: v[p], phi), xq)
            for p in range(4)
            if p != i
        )
        losses.append(np.mean((ens - yq) ** 2))
    np.testing.assert_allclose(float(got), np.mean(losses), rtol=1e-5)


def test_relation_weights_are_constants_of_the_meta_gradient_by_default():
    """stop_gradient (the default): the penalty's gradient w.r.t. the model is that of Eq. 5 with
    the weights A held at their value (a NumPy constant here); without it the gradient also flows
    through z into A and differs (the guard that this setup sees the difference)."""
    learner, reg, episodes, params = _trl_setup(init_noise=0.3)
    _, a = _np_weights(reg, params, episodes)
    a = jnp.asarray(a, jnp.float32)

    def adapt_all(model):
        p = {**params, "model": model}
        return jax.vmap(learner.adapt, in_axes=(None, 0, 0))(
            p, episodes.support_x, episodes.support_y
        )

    def by_hand(model):
        phi = adapt_all(model)
        preds = jax.vmap(lambda x: jax.vmap(lambda ph: learner.predict(ph, x))(phi))(
            episodes.query_x
        )  # [i, p, Q, 1]: model p on task i's queries
        ens = jnp.einsum("ip,ipqo->iqo", a, preds)
        return jnp.mean(jnp.mean((ens - episodes.query_y) ** 2, axis=(1, 2)))

    def penalty(model, r):
        return r.penalty({**params, "model": model}, learner, episodes, adapt_all(model))[0]

    gradient = jax.jit(jax.grad(penalty), static_argnums=1)
    want = jax.jit(jax.grad(by_hand))(params["model"])
    got = gradient(params["model"], reg)
    for path in (("blocks_0", "kernel"), ("blocks_1", "kernel")):
        np.testing.assert_allclose(
            np.asarray(got[path[0]][path[1]]),
            np.asarray(want[path[0]][path[1]]),
            rtol=1e-4,
            atol=1e-6,
        )
    import dataclasses

    through_z = gradient(params["model"], dataclasses.replace(reg, stop_gradient=False))
    assert not np.allclose(
        np.asarray(through_z["blocks_0"]["kernel"]),
        np.asarray(want["blocks_0"]["kernel"]),
        rtol=1e-3,
        atol=1e-6,
    )


# ---------------------------------------------------------------- MetaMix


def _metamix_setup(k=5, q=6):
    learner = metareg.MAML(metareg.mlp((16, 16)), inner_lr=0.05)
    ep = metareg.types.task(random_episodes(jax.random.key(0), num_tasks=1, k=k, q=q, d=1), 0)
    params = metareg.MetaObjective(learner).init(jax.random.key(1), ep)
    phi = learner.adapt(params, ep.support_x, ep.support_y)
    return learner, ep, phi


def _np_mixup(phi, ep, lam, layer, perm):
    """MetaMix regression by hand (methods.md): h = lam h_s[perm] + (1 - lam) h_q after `layer`
    blocks, the rest of the network on h, scored against lam y_s[perm] + (1 - lam) y_q."""
    perm = np.asarray(perm)
    h_s = _np_mlp(phi, ep.support_x, 0, layer)[perm]
    h_q = _np_mlp(phi, ep.query_x, 0, layer)
    out = _np_mlp(phi, lam * h_s + (1 - lam) * h_q, layer)
    ys, yq = np.asarray(ep.support_y, np.float64), np.asarray(ep.query_y, np.float64)
    return np.mean((out - (lam * ys[perm] + (1 - lam) * yq)) ** 2)


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_metamix_regression_mixes_hidden_states_and_targets_as_numpy_does(layer):
    """0 < lam < 1 at every candidate layer (K < Q: a partner repeats), against NumPy."""
    learner, ep, phi = _metamix_setup()
    perm = jnp.array([4, 0, 3, 1, 2, 0])
    for lam in (0.3, 0.85):
        got = mixup_loss(learner, phi, ep, jnp.float32(lam), layer, perm)
        np.testing.assert_allclose(float(got), _np_mixup(phi, ep, lam, layer, perm), rtol=1e-5)


def test_metamix_query_loss_at_a_drawn_key_against_numpy():
    """The outer loss MetaMix puts in place of the query loss, at drawn (lam, layer, perm)."""
    learner, ep, phi = _metamix_setup()
    mix = metareg.MetaMix(alpha=2.0, layers=(1, 2))
    for seed in range(4):
        key = jax.random.key(seed)
        lam, idx, perm = mix.sample(key, 5, 6)
        want = _np_mixup(phi, ep, float(lam), mix.layers[int(idx)], perm)
        assert 0 < float(lam) < 1
        np.testing.assert_allclose(float(mix.query_loss(learner, phi, ep, key)), want, rtol=1e-5)


@pytest.mark.parametrize("layers", [(1, 2), (0, 1, 2), (0, 2)])
def test_metamix_draws_each_candidate_layer_uniformly_and_no_other(layers):
    """The layer a key mixes at, read off the loss itself: query_loss(key) equals the mixup at
    exactly one layer of 0..2 for (almost) every key; over 1200 keys each candidate is that
    layer with frequency 1 / |C| (binomial sd <= 0.015; tolerance 0.06) and a layer outside C
    never is."""
    learner, ep, phi = _metamix_setup()
    mix = metareg.MetaMix(alpha=2.0, layers=layers)
    keys = jax.random.split(jax.random.key(0), 1200)
    got = np.asarray(jax.jit(jax.vmap(lambda k: mix.query_loss(learner, phi, ep, k)))(keys))
    lam, _, perm = jax.vmap(lambda k: mix.sample(k, 5, 6))(keys)
    at = np.stack(
        [
            np.asarray(
                jax.jit(
                    jax.vmap(lambda lm, p, layer=layer: mixup_loss(learner, phi, ep, lm, layer, p))
                )(lam, perm)
            )
            for layer in (0, 1, 2)
        ],
        axis=1,
    )
    match = np.isclose(at, got[:, None], rtol=1e-5, atol=1e-7)
    assert match.any(axis=1).all()  # every key's loss is the mixup at some layer
    unique = match.sum(axis=1) == 1
    assert unique.mean() > 0.95
    drawn = np.argmax(match[unique], axis=1)
    assert set(drawn.tolist()) <= set(layers)
    freq = np.bincount(drawn, minlength=3)[list(layers)] / unique.sum()
    np.testing.assert_allclose(freq, 1.0 / len(layers), atol=0.06)


# ---------------------------------------------------------------- Meta-Aug and the task draws


def test_meta_aug_shifts_every_target_of_a_task_by_one_uniform_offset():
    """Per task i: support_y, query_y and query_y_clean all + c_i, inputs unchanged; over 4000
    tasks c ~ U(-offset, offset): mean 0 (sd 0.009 * offset), variance offset^2 / 3, and both ends
    of the range reached."""
    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=3, num_queries=4)
    episodes = family.sample_test(jax.random.key(1), 4000)
    for offset in (1.0, 2.5):
        out = metareg.regularizers.MetaAug(offset=offset).transform_episodes(
            episodes, jax.random.key(2)
        )
        c = np.asarray(out.support_y - episodes.support_y)[:, :1, :]  # [T, 1, 1]
        for name in ("support_y", "query_y", "query_y_clean"):
            shift = np.asarray(getattr(out, name)) - np.asarray(getattr(episodes, name))
            np.testing.assert_allclose(shift, np.broadcast_to(c, shift.shape), atol=1e-5)
        for name in ("support_x", "query_x"):
            np.testing.assert_array_equal(getattr(out, name), getattr(episodes, name))
        c = c.ravel() / offset
        assert abs(c.mean()) < 0.04 and abs(c.var() - 1 / 3) < 0.02
        assert -1 <= c.min() < -0.99 and 0.99 < c.max() <= 1


def test_meta_aug_label_permutations_are_uniform_over_the_n_factorial():
    """Classification: one permutation of the N labels per task, the same on support and query;
    over 3000 tasks each of the 3! permutations of a 3-way task appears 1/6 of the time."""
    labels = jnp.tile(jnp.arange(3, dtype=jnp.int32), (3000, 2))  # [T, 6]: every class twice
    x = jnp.zeros((3000, 6, 1))
    episodes = metareg.types.Episode(x, labels, x, labels[:, ::-1])
    out = metareg.regularizers.MetaAug(num_classes=3).transform_episodes(
        episodes, jax.random.key(3)
    )
    perms = np.asarray(out.support_y)[:, :3]  # the images of labels 0, 1, 2
    np.testing.assert_array_equal(np.asarray(out.support_y)[:, 3:], perms)
    np.testing.assert_array_equal(np.asarray(out.query_y), perms[:, ::-1][:, np.r_[0:3, 0:3]])
    assert all(sorted(p) == [0, 1, 2] for p in perms.tolist())
    _, counts = np.unique(perms, axis=0, return_counts=True)
    assert len(counts) == 6
    np.testing.assert_allclose(counts / 3000, 1 / 6, atol=0.03)


@pytest.mark.parametrize("points_per_task", [None, 20])
def test_regression_noise_is_independent_of_the_inputs(points_per_task):
    """x and the target noise come from separate keys: over the meta-training and test draws their
    correlation is ~0 (|r| < 0.05 over 6000 points, sd 0.013; a shared key makes the noise a
    monotone function of x, r ~ 0.97), the noise has the family's sd and x its range."""
    family = metareg.regression_family(
        "sinusoid_w1",
        jax.random.key(0),
        num_shots=5,
        num_queries=15,
        points_per_task=points_per_task,
    )
    for episodes in (
        family.sample_train(jax.random.key(1), 400),
        family.sample_test(jax.random.key(2), 400),
    ):
        x = np.asarray(episodes.query_x).ravel()
        noise = np.asarray(episodes.query_y - episodes.query_y_clean).ravel()
        assert abs(np.corrcoef(x, noise)[0, 1]) < 0.05
        np.testing.assert_allclose(noise.std(), 0.3, rtol=0.05)
        assert -5 <= x.min() < -4.9 and 4.9 < x.max() <= 5
    if points_per_task:
        pool_x, pool_noise = (
            np.asarray(family.pool_x).ravel(),
            np.asarray(family.pool_noise).ravel(),
        )
        assert abs(np.corrcoef(pool_x, pool_noise)[0, 1]) < 0.05
