"""TRLearner: relation-matrix properties and the consistency loss against a hand computation."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import metareg
from metareg.regularizers.trlearner import cosine_matrix, multihead_relation, relation_weights
from tests.conftest import linear_model, random_episodes


def test_relation_matrix_symmetric_with_zero_diagonal():
    z = jax.random.normal(jax.random.key(0), (6, 10))
    heads = 1.0 + 0.3 * jax.random.normal(jax.random.key(1), (4, 10))
    m = multihead_relation(z, heads)
    chex.assert_trees_all_close(m, m.T, atol=1e-6)
    np.testing.assert_array_equal(np.diag(np.asarray(m)), 0.0)
    assert np.all(np.abs(np.asarray(m)) <= 1.0 + 1e-6)


def test_relation_at_ones_init_is_plain_cosine():
    z = np.random.default_rng(0).normal(size=(5, 7))
    m = multihead_relation(jnp.asarray(z), jnp.ones((3, 7)))
    n = z / np.linalg.norm(z, axis=1, keepdims=True)
    want = (n @ n.T) * (1 - np.eye(5))
    np.testing.assert_allclose(np.asarray(m), want, atol=1e-6)
    reg = metareg.TRLearner(init_noise=0.0, num_heads=3)
    ep = metareg.types.task(random_episodes(jax.random.key(0), d=1), 0)
    learner = metareg.MAML(metareg.mlp((8,)))
    params = reg.init(
        jax.random.key(1), learner, learner.model.init(jax.random.key(2), ep.support_x), ep
    )
    np.testing.assert_array_equal(np.asarray(params["heads"]), 1.0)


def test_relation_weights_rows_are_distributions_over_other_tasks():
    m = cosine_matrix(jax.random.normal(jax.random.key(3), (5, 4))) * (1 - jnp.eye(5))
    for weighting in ("relu", "softmax"):
        a = np.asarray(relation_weights(m, weighting))
        assert np.all(a >= 0) and np.all(np.diag(a) == 0)
        rows = a.sum(1)
        # relu rows with no positive relation are all zero (epsilon guard), others sum to one.
        assert np.all((np.abs(rows - 1) < 1e-5) | (rows == 0))
    a = np.asarray(relation_weights(m, "relu"))
    r = np.maximum(np.asarray(m), 0)
    np.testing.assert_allclose(a, r / np.maximum(r.sum(1, keepdims=True), 1e-8), rtol=1e-6)


def test_consistency_loss_matches_hand_computation_on_three_tasks():
    """Linear model f(x) = x w, g = identity, so z_i = [mean x, mean y x] by hand."""
    learner = metareg.MAML(linear_model(), inner_lr=0.1)
    reg = metareg.TRLearner(relation="fixed")
    episodes = random_episodes(jax.random.key(4), num_tasks=3, k=4, q=5, d=2)
    # positive inputs and targets: every relation is positive, so no row is all-zero
    episodes = episodes.replace(
        support_x=jnp.abs(episodes.support_x), support_y=jnp.abs(episodes.support_y) + 1
    )
    params = metareg.MetaObjective(learner, (reg,)).init(
        jax.random.key(5), metareg.types.task(episodes, 0)
    )
    phi = jax.vmap(learner.adapt, in_axes=(None, 0, 0))(
        params, episodes.support_x, episodes.support_y
    )
    got, _ = reg.penalty(params, learner, episodes, phi)

    xs, ys, xq, yq = (
        np.asarray(a, np.float64)
        for a in (episodes.support_x, episodes.support_y, episodes.query_x, episodes.query_y)
    )
    w = np.asarray(phi["blocks_0"]["kernel"], np.float64)  # [3, 2, 1]
    z = np.stack([np.concatenate([xs[i].mean(0), (ys[i] * xs[i]).mean(0)]) for i in range(3)])
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    m = zn @ zn.T
    losses = []
    for i in range(3):
        others = [p for p in range(3) if p != i]
        r = np.array([max(m[i, p], 0.0) for p in others])
        a = r / r.sum()
        pred = sum(a_p * (xq[i] @ w[p]) for a_p, p in zip(a, others, strict=True))
        losses.append(np.mean((pred - yq[i]) ** 2))
    np.testing.assert_allclose(float(got), np.mean(losses), rtol=1e-5)


def test_ones_relation_averages_all_other_tasks():
    learner = metareg.MAML(linear_model(), inner_lr=0.1)
    episodes = random_episodes(jax.random.key(6), num_tasks=4, d=2)
    reg = metareg.TRLearner(relation="ones")
    params = metareg.MetaObjective(learner, (reg,)).init(
        jax.random.key(7), metareg.types.task(episodes, 0)
    )
    a = reg.weights({}, learner, params["model"], episodes)
    np.testing.assert_allclose(np.asarray(a), (1 - np.eye(4)) / 3, atol=1e-7)


def test_relations_of_a_batch_are_the_matrix_the_weights_normalize():
    """`relations` (the public way to look at a trained TRLearner's M) is Eq. 4 on the tasks'
    representations, and `weights` is exactly its normalization."""
    learner = metareg.MAML(metareg.mlp((8, 8)), inner_lr=0.05)
    episodes = random_episodes(jax.random.key(9), num_tasks=5, d=1)
    reg = metareg.TRLearner(init_noise=0.3)
    params = metareg.MetaObjective(learner, (reg,)).init(
        jax.random.key(10), metareg.types.task(episodes, 0)
    )
    heads = params["regularizers"]["trlearner"]
    m = reg.relations(heads, learner, params["model"], episodes)
    z = jax.vmap(reg.task_representation, in_axes=(None, None, 0, 0))(
        learner, params["model"], episodes.support_x, episodes.support_y
    )
    chex.assert_trees_all_equal(m, multihead_relation(z, heads["heads"], reg.eps))
    chex.assert_trees_all_equal(
        reg.weights(heads, learner, params["model"], episodes),
        relation_weights(m, reg.weighting, reg.temperature, reg.eps),
    )


def test_top_k_with_all_other_tasks_equals_exact():
    learner = metareg.MAML(metareg.mlp((8, 8)), inner_lr=0.05)
    episodes = random_episodes(jax.random.key(8), num_tasks=5, d=1)
    exact = metareg.TRLearner(relation="fixed")
    sparse = metareg.TRLearner(relation="fixed", num_related=4)
    params = metareg.MetaObjective(learner, (exact,)).init(
        jax.random.key(9), metareg.types.task(episodes, 0)
    )

    def value(reg):
        def f(p):
            phi = jax.vmap(learner.adapt, in_axes=(None, 0, 0))(
                p, episodes.support_x, episodes.support_y
            )
            return reg.penalty(p, learner, episodes, phi)[0]

        return jax.value_and_grad(f)(params)

    chex.assert_trees_all_close(value(exact), value(sparse), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("representation", ["label_aware", "head_gradient"])
def test_learned_heads_gradient_equals_float64_finite_differences(representation):
    """The heads are meta-learned by the outer loss through Eq. 4 -> A -> Eq. 5: the gradient of
    the meta-loss w.r.t. them, along random directions, equals float64 central differences, and it
    is not zero (8 tasks: with a single positive relation per row the normalized weight would be 1
    whatever m is)."""
    from tests.test_independent import _as64

    with jax.enable_x64(True):
        learner = metareg.MAML(metareg.mlp((8, 8)), inner_lr=0.05)
        reg = metareg.TRLearner(representation=representation, init_noise=0.2)
        objective = metareg.MetaObjective(learner, (reg,))
        episodes = _as64(random_episodes(jax.random.key(10), num_tasks=8, d=1))
        params = _as64(objective.init(jax.random.key(11), metareg.types.task(episodes, 0)))

        @jax.jit
        def loss(heads):
            p = {**params, "regularizers": {"trlearner": {"heads": heads}}}
            return metareg.meta_loss(p, episodes, jax.random.key(0), objective)[0]

        heads = params["regularizers"]["trlearner"]["heads"]
        grad = np.asarray(jax.grad(loss)(heads))
        assert np.linalg.norm(grad) > 1e-4
        for seed in range(3):
            d = np.random.default_rng(seed).normal(size=heads.shape)
            d /= np.linalg.norm(d)
            fd = (float(loss(heads + 1e-6 * d)) - float(loss(heads - 1e-6 * d))) / 2e-6
            assert abs(float(np.sum(grad * d)) - fd) <= 1e-6 * max(abs(fd), 1e-2), (grad, fd)


def test_zero_representation_gives_finite_gradients():
    """A task whose features are all zero (dead ReLUs) must not turn the gradient into NaN. Its
    relations are 0 and its weights 0 both ways, so the heads' gradient is that of the same sum
    over the other three tasks alone; the gradient w.r.t. the zero row itself is of order 1/eps
    (the guarded norm's slope at 0) and is only required to be finite."""
    z = jax.random.normal(jax.random.key(12), (4, 6)).at[2].set(0.0)
    heads = 1.0 + 0.1 * jax.random.normal(jax.random.key(13), (3, 6))
    c = jnp.arange(16.0).reshape(4, 4)

    def f(heads, z, c):
        return jnp.sum(relation_weights(multihead_relation(z, heads)) * c)

    g_heads, g_z = jax.grad(f, argnums=(0, 1))(heads, z, c)
    assert np.all(np.isfinite(np.asarray(g_z)))
    keep = jnp.array([0, 1, 3])
    want = jax.grad(f)(heads, z[keep], c[keep][:, keep])
    np.testing.assert_allclose(np.asarray(g_heads), np.asarray(want), rtol=1e-5, atol=1e-7)
    m = multihead_relation(z, heads)
    np.testing.assert_array_equal(np.asarray(m)[2], 0.0)
    np.testing.assert_array_equal(np.asarray(m)[:, 2], 0.0)


def test_api_refuses_one_task_per_meta_batch_as_the_cli_does():
    """The same rule and words for `meta_train_step` as for the CLI's config check."""
    from metareg.assemble import validate_config
    from metareg.config import ConfigError
    from tests.conftest import linear_model, random_episodes

    learner = metareg.MAML(linear_model(), inner_lr=0.1)
    objective = metareg.MetaObjective(learner, (metareg.TRLearner(),))
    one = random_episodes(jax.random.key(0), num_tasks=1)
    params = objective.init(jax.random.key(1), metareg.types.task(one, 0))
    with pytest.raises(ValueError, match="meta_batch_size must be >= 2, got 1") as api:
        metareg.meta_loss(params, one, jax.random.key(2), objective)
    from experiments import sinusoid_trlearner

    c = sinusoid_trlearner.get_config("quick")
    c.meta_batch_size = 1
    with pytest.raises(ConfigError) as cli:
        validate_config(c)
    assert str(cli.value) == str(api.value)
