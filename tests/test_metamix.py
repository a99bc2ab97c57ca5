"""MetaMix: the limits lam = 0 and lam = 1, and the branch-free pass equals
the layer-wise reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import metareg
from metareg.regularizers.metamix import mixup_loss
from tests.conftest import ROOT, random_episodes


def _setup(k=5, q=6):
    learner = metareg.MAML(metareg.mlp((16, 16)), inner_lr=0.05)
    ep = metareg.types.task(random_episodes(jax.random.key(0), num_tasks=1, k=k, q=q, d=1), 0)
    params = metareg.MetaObjective(learner).init(jax.random.key(1), ep)
    phi = learner.adapt(params, ep.support_x, ep.support_y)
    return learner, ep, phi


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_lambda_zero_is_the_query_loss(layer):
    learner, ep, phi = _setup()
    perm = jnp.arange(6) % 5
    got = mixup_loss(learner, phi, ep, jnp.float32(0.0), layer, perm)
    want = metareg.losses.mse(learner.predict(phi, ep.query_x), ep.query_y)
    np.testing.assert_allclose(float(got), float(want), rtol=1e-6)


def test_lambda_one_at_layer_zero_is_the_permuted_support_loss():
    learner, ep, phi = _setup(k=6, q=6)
    perm = jax.random.permutation(jax.random.key(2), 6)
    got = mixup_loss(learner, phi, ep, jnp.float32(1.0), 0, perm)
    want = metareg.losses.mse(learner.predict(phi, ep.support_x[perm]), ep.support_y[perm])
    np.testing.assert_allclose(float(got), float(want), rtol=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_branch_free_pass_equals_reference_at_the_sampled_layer(seed):
    learner, ep, phi = _setup()
    mix = metareg.MetaMix(alpha=0.5, layers=(0, 1, 2))
    key = jax.random.key(seed)
    lam, idx, perm = mix.sample(key, 5, 6)
    want = mixup_loss(learner, phi, ep, lam, mix.layers[int(idx)], perm)
    got = mix.query_loss(learner, phi, ep, key)
    np.testing.assert_allclose(float(got), float(want), rtol=1e-5)
    g_got = jax.grad(lambda p: mix.query_loss(learner, p, ep, key))(phi)
    g_want = jax.grad(lambda p: mixup_loss(learner, p, ep, lam, mix.layers[int(idx)], perm))(phi)
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), g_got, g_want
    )


def test_partners_are_a_permutation_when_support_is_large_enough():
    mix = metareg.MetaMix()
    _, _, perm = mix.sample(jax.random.key(3), 10, 10)
    assert sorted(np.asarray(perm).tolist()) == list(range(10))
    _, _, perm = mix.sample(jax.random.key(3), 5, 10)
    assert np.asarray(perm).max() < 5 and perm.shape == (10,)


def test_beta_draws_cover_the_unit_interval():
    mix = metareg.MetaMix(alpha=0.5)
    lams = jax.vmap(lambda k: mix.sample(k, 5, 5)[0])(jax.random.split(jax.random.key(4), 2000))
    lams = np.asarray(lams)
    assert 0 <= lams.min() and lams.max() <= 1
    np.testing.assert_allclose(lams.mean(), 0.5, atol=0.03)  # Beta(a, a) has mean 1/2
    np.testing.assert_allclose(
        lams.var(), 0.25 / (2 * 0.5 + 1), atol=0.02
    )  # var = 1 / (4 (2a + 1))


@pytest.mark.parametrize("strategy", ["support_query", "query_query", "support_support"])
@pytest.mark.parametrize("seed", range(3))
def test_each_mixture_strategy_equals_its_reference(strategy, seed):
    """Branch-free pass = the layer-wise reference, for every pair of mixed sets."""
    learner, ep, phi = _setup()
    mix = metareg.MetaMix(alpha=0.5, layers=(0, 1, 2), strategy=strategy)
    key = jax.random.key(seed)
    n = {"support_query": (5, 6), "query_query": (6, 6), "support_support": (5, 5)}[strategy]
    lam, idx, perm = mix.sample(key, *n)
    want = mixup_loss(learner, phi, ep, lam, mix.layers[int(idx)], perm, strategy)
    np.testing.assert_allclose(float(mix.query_loss(learner, phi, ep, key)), float(want), rtol=1e-5)


def test_mixture_strategies_mix_the_sets_they_name():
    """At lam = 0 every mixup scores its first set unmixed: query_query the query loss,
    support_support the support loss; at lam = 1 query_query is the loss on the permuted query set;
    concat is the mean loss over the K + Q points."""
    learner, ep, phi = _setup(k=6, q=6)
    mse = metareg.losses.mse
    query = mse(learner.predict(phi, ep.query_x), ep.query_y)
    support = mse(learner.predict(phi, ep.support_x), ep.support_y)
    perm = jax.random.permutation(jax.random.key(2), 6)
    for layer in (0, 1, 2):
        np.testing.assert_allclose(
            float(mixup_loss(learner, phi, ep, 0.0, layer, perm, "query_query")),
            float(query),
            rtol=1e-6,
        )
        np.testing.assert_allclose(
            float(mixup_loss(learner, phi, ep, 0.0, layer, perm, "support_support")),
            float(support),
            rtol=1e-6,
        )
    permuted_query = mse(learner.predict(phi, ep.query_x[perm]), ep.query_y[perm])
    np.testing.assert_allclose(
        float(mixup_loss(learner, phi, ep, 1.0, 0, perm, "query_query")),
        float(permuted_query),
        rtol=1e-6,
    )
    concat = metareg.MetaMix(strategy="concat").query_loss(learner, phi, ep, jax.random.key(0))
    np.testing.assert_allclose(
        float(concat), float((query + support) / 2), rtol=1e-6
    )  # K = Q: the plain mean


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="metamix.strategy"):
        metareg.MetaMix(strategy="mixup_sq")


def test_mlp_mixes_hidden_layers_by_default_and_input_mixing_is_a_variant():
    """The MLP experiments mix at hidden layers (MetaMix's drug MLP, its Table 11: C = (1, 2));
    mixing at the input is the variant Table 1 reports beside it (grid `table1_budget`)."""
    import runpy

    from experiments import sinusoid_metamix
    from metareg.assemble import validate_config

    config = sinusoid_metamix.get_config()
    assert tuple(config.metamix.layers) == (1, 2) and 0 not in config.metamix.layers
    grid = runpy.run_path(str(ROOT / "experiments/grids/table1_budget.py"))["get_grid"]()
    experiment, overrides = grid["cells"]["sinusoid_w1/k5/maml+metamix_input"][:2]
    assert overrides["metamix.layers"] == (0, 1, 2) and experiment.endswith("sinusoid_maml.py")
    config.metamix.layers = overrides["metamix.layers"]
    validate_config(config)  # a legal choice for the 1-40-40-1 MLP
