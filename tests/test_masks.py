"""Padded variable-size tasks: padding never changes a number (losses, BatchNorm, learners, MetaMix,
TRLearner, metrics), and masked losses equal their definitions on the real points."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import metareg
from metareg.learners import ANIL, MetaSGD
from metareg.losses import cross_entropy, masked_mean, mse
from metareg.metrics import r_squared, task_metrics
from metareg.models.norm import normalize
from metareg.types import Episode


def _pad(a, n, value=0.0):
    """a [N, ...] padded to [n, ...] with `value` (arbitrary numbers: masks must
    make them irrelevant)."""
    return jnp.concatenate([a, jnp.full((n - a.shape[0],) + a.shape[1:], value, a.dtype)])


def _mask(real, n):
    return (jnp.arange(n) < real).astype(jnp.float32)


def _drug_like_episodes(key, t=3, k=6, q=5, d=16):
    ks = jax.random.split(key, 4)
    return Episode(
        support_x=jax.random.bernoulli(ks[0], 0.3, (t, k, d)).astype(jnp.float32),
        support_y=jax.random.normal(ks[1], (t, k, 1)),
        query_x=jax.random.bernoulli(ks[2], 0.3, (t, q, d)).astype(jnp.float32),
        query_y=jax.random.normal(ks[3], (t, q, 1)),
    )


def _padded(episodes, k_pad, q_pad, junk=7.0):
    """The same tasks padded with junk values, and masks marking the real examples."""
    t, k, q = episodes.num_tasks, episodes.support_x.shape[1], episodes.query_x.shape[1]
    pad = lambda a, n: jax.vmap(lambda row: _pad(row, n, junk))(a)
    return episodes.replace(
        support_x=pad(episodes.support_x, k_pad),
        support_y=pad(episodes.support_y, k_pad),
        query_x=pad(episodes.query_x, q_pad),
        query_y=pad(episodes.query_y, q_pad),
        support_mask=jnp.broadcast_to(_mask(k, k_pad), (t, k_pad)),
        query_mask=jnp.broadcast_to(_mask(q, q_pad), (t, q_pad)),
    )


def test_masked_losses_are_means_over_real_points():
    pred, y = jnp.arange(6.0)[:, None], jnp.zeros((6, 1))
    m = jnp.array([1, 1, 0, 1, 0, 0], jnp.float32)
    np.testing.assert_allclose(mse(pred, y, m), (0 + 1 + 9) / 3)
    logits = jax.random.normal(jax.random.key(0), (6, 4))
    labels = jnp.array([0, 1, 2, 3, 0, 1])
    np.testing.assert_allclose(
        cross_entropy(logits, labels, m),
        cross_entropy(logits[jnp.array([0, 1, 3])], labels[jnp.array([0, 1, 3])]),
        rtol=1e-6,
    )
    assert float(masked_mean(jnp.ones(3), jnp.zeros(3))) == 0.0  # no real point: 0, not NaN


def test_transductive_norm_ignores_padding():
    x = jax.random.normal(jax.random.key(1), (5, 3, 3, 4))
    padded = jnp.concatenate([x, 100.0 * jnp.ones((3, 3, 3, 4))])
    got = normalize(padded, "transductive", 1e-5, _mask(5, 8))[:5]
    np.testing.assert_allclose(got, normalize(x, "transductive", 1e-5), rtol=1e-5, atol=1e-5)
    flat = jax.random.normal(jax.random.key(2), (5, 7))
    got = normalize(
        jnp.concatenate([flat, -50.0 * jnp.ones((2, 7))]), "transductive", 1e-5, _mask(5, 7)
    )[:5]
    np.testing.assert_allclose(got, normalize(flat, "transductive", 1e-5), rtol=1e-5, atol=1e-5)


def test_r_squared_is_squared_pearson_and_ignores_padding():
    rng = np.random.default_rng(0)
    p, y = rng.normal(size=9), rng.normal(size=9)
    want = np.corrcoef(p, y)[0, 1] ** 2
    np.testing.assert_allclose(
        r_squared(jnp.asarray(p)[:, None], jnp.asarray(y)[:, None]), want, rtol=1e-5
    )
    padded = r_squared(
        _pad(jnp.asarray(p, jnp.float32), 12, 3.0),
        _pad(jnp.asarray(y, jnp.float32), 12, -8.0),
        _mask(9, 12),
    )
    np.testing.assert_allclose(padded, want, rtol=1e-5)
    assert (
        float(r_squared(jnp.ones(5), jnp.asarray(y[:5]))) == 0.0
    )  # constant predictions explain nothing


@pytest.mark.parametrize("learner_cls", [metareg.MAML, ANIL, MetaSGD])
@pytest.mark.parametrize("with_trlearner", [False, True])
def test_padding_never_changes_the_meta_loss_or_its_gradient(learner_cls, with_trlearner):
    """The drug MLP (transductive BatchNorm, leaky ReLU) on padded tasks: same
    loss, same meta-gradient."""
    model = metareg.mlp((12, 12), norm="transductive", activation="leaky_relu")
    learner = learner_cls(model, "mse", inner_lr=0.05, num_steps=2)
    objective = metareg.MetaObjective(learner, (metareg.TRLearner(),) if with_trlearner else ())
    episodes = _drug_like_episodes(jax.random.key(3))
    # masks of all ones on the unpadded tasks: the reference
    full = episodes.replace(
        support_mask=jnp.ones(episodes.support_y.shape[:2]),
        query_mask=jnp.ones(episodes.query_y.shape[:2]),
    )
    padded = _padded(episodes, 9, 8)
    params = objective.init(jax.random.key(4), metareg.types.task(full, 0))
    loss = lambda p, e: metareg.meta_loss(p, e, jax.random.key(5), objective)[0]
    (a, ga), (b, gb) = (
        jax.value_and_grad(loss)(params, full),
        jax.value_and_grad(loss)(params, padded),
    )
    np.testing.assert_allclose(a, b, rtol=1e-5)
    chex.assert_trees_all_close(ga, gb, rtol=2e-4, atol=1e-6)


def test_metamix_partners_are_real_support_points():
    mix = metareg.MetaMix(alpha=0.5, layers=(1, 2))
    for seed in range(20):
        _, _, perm = mix.sample(jax.random.key(seed), 9, 8, _mask(6, 9))
        perm = np.asarray(perm)
        assert np.all(perm < 6)
        assert len(set(perm[:6].tolist())) == 6  # every real point is used once before any repeats


def test_metamix_padded_equals_unpadded_at_a_fixed_draw():
    from metareg.regularizers.metamix import mixup_loss

    model = metareg.mlp((12, 12), norm="transductive", activation="leaky_relu")
    learner = metareg.MAML(model, "mse", inner_lr=0.05, num_steps=1)
    episodes = _drug_like_episodes(jax.random.key(7), t=1)
    full = metareg.types.task(
        episodes.replace(support_mask=jnp.ones((1, 6)), query_mask=jnp.ones((1, 5))), 0
    )
    padded = metareg.types.task(_padded(episodes, 9, 8), 0)
    params = metareg.MetaObjective(learner).init(jax.random.key(8), full)
    phi = learner.adapt(params, full.support_x, full.support_y, mask=full.support_mask)
    phi_pad = learner.adapt(params, padded.support_x, padded.support_y, mask=padded.support_mask)
    chex.assert_trees_all_close(phi, phi_pad, rtol=1e-5, atol=1e-6)
    perm = jnp.array([3, 0, 5, 1, 2])
    for layer in (0, 1, 2):
        a = mixup_loss(learner, phi, full, jnp.float32(0.3), layer, perm)
        b = mixup_loss(
            learner, phi_pad, padded, jnp.float32(0.3), layer, _pad(perm, 8).astype(jnp.int32)
        )
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_metrics_ignore_padding():
    learner = metareg.MAML(metareg.mlp((8,), norm="transductive"), "mse", inner_lr=0.05)
    episodes = _drug_like_episodes(jax.random.key(9), t=4)
    full = episodes.replace(support_mask=jnp.ones((4, 6)), query_mask=jnp.ones((4, 5)))
    params = metareg.MetaObjective(learner).init(jax.random.key(10), metareg.types.task(full, 0))
    a = metareg.evaluate(params, learner, full, (0, 3), batch_size=4)
    b = metareg.evaluate(params, learner, _padded(episodes, 10, 7), (0, 3), batch_size=3)
    for name in a:
        np.testing.assert_allclose(a[name]["mean"], b[name]["mean"], rtol=1e-5, err_msg=name)
    assert "r2@3" in a and "num_above_0.3" in a["r2@3"]


def test_classification_metrics_by_hand():
    logits = jnp.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 5.0]])
    ep = Episode(
        jnp.zeros((2, 1)), jnp.zeros(2, jnp.int32), jnp.zeros((4, 1)), jnp.array([0, 0, 1, 1])
    )
    m = task_metrics("cross_entropy", logits, ep)
    assert float(m["accuracy"]) == 0.5
    np.testing.assert_allclose(m["nll"], cross_entropy(logits, ep.query_y), rtol=1e-6)


def test_trlearner_runs_a_frozen_prefix_once_and_gets_the_same_penalty():
    """ANIL's body is theta for every task: the penalty computed through the shared prefix equals
    the plain all-pairs computation (learner.predict on every (model, task) pair)."""
    model = metareg.mlp((12, 12), norm="transductive", activation="leaky_relu")
    anil = ANIL(model, "mse", inner_lr=0.05, num_steps=2)
    reg = metareg.TRLearner()
    episodes = _padded(_drug_like_episodes(jax.random.key(11), t=4), 8, 7)
    params = metareg.MetaObjective(anil, (reg,)).init(
        jax.random.key(12), metareg.types.task(episodes, 0)
    )
    phi = jax.vmap(lambda e: anil.adapt(params, e.support_x, e.support_y, mask=e.support_mask))(
        episodes
    )
    got, _ = reg.penalty(params, anil, episodes, phi)

    class PlainANIL(
        ANIL
    ):  # no shared part for TRLearner: the all-pairs path (masked, padded tasks)
        def split_predict(self, theta):
            return None

    plain = PlainANIL(model, "mse", inner_lr=0.05, num_steps=2)
    want, _ = reg.penalty(params, plain, episodes, phi)
    np.testing.assert_allclose(got, want, rtol=1e-5)
