"""Evaluation: the CI formula, chunking that never changes a number, and the clean/noisy metrics."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

import metareg
from metareg.evaluate import mean_ci95


def test_mean_ci95_by_hand():
    v = np.array([1.0, 2.0, 4.0, 7.0])
    mean, ci = mean_ci95(v)
    assert mean == 3.5
    np.testing.assert_allclose(ci, 1.959963984540054 * np.std(v, ddof=1) / 2.0)


def test_chunking_does_not_change_numbers():
    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    learner = metareg.MAML(metareg.mlp(), inner_lr=0.01)
    params = metareg.MetaObjective(learner).init(jax.random.key(1), family.example_episode())
    episodes = family.sample_test(jax.random.key(2), 37)
    a = metareg.evaluate(params, learner, episodes, (0, 2), batch_size=37)
    b = metareg.evaluate(
        params, learner, episodes, (0, 2), batch_size=10
    )  # 4 chunks, the last padded
    for k in a:
        np.testing.assert_allclose(a[k]["mean"], b[k]["mean"], rtol=1e-6)
        assert a[k]["num_tasks"] == b[k]["num_tasks"] == 37
        assert a[k]["num_nonfinite"] == 0
        for stat in ("median", "ci95"):  # pinned against NumPy in the test below
            np.testing.assert_allclose(a[k][stat], b[k][stat], rtol=1e-6)
    # zero inner steps: the prediction of theta itself; noisy MSE exceeds clean
    # by about sigma^2 = 0.09
    pred = jax.vmap(lambda x: learner.predict(params["model"], x))(episodes.query_x)
    np.testing.assert_allclose(
        a["mse_clean@0"]["mean"], float(np.mean((pred - episodes.query_y_clean) ** 2)), rtol=1e-5
    )


def test_evaluate_reports_the_normal_ci_and_the_median_over_test_tasks():
    """mean, ci95 and median of evaluate() against per-task errors computed in NumPy (0 inner steps:
    theta's own predictions), the CI being the normal approximation 1.96 sd / sqrt(T) over test
    tasks (metareg.confidence.task_ci95), not the t-based CI over seeds (at T = 37 that would be
    3.5% wider); one task has no CI."""
    from tests.test_independent import _np_mlp

    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    learner = metareg.MAML(metareg.mlp((8, 8)), inner_lr=0.01)
    params = metareg.MetaObjective(learner).init(jax.random.key(1), family.example_episode())
    episodes = family.sample_test(jax.random.key(2), 37)
    got = metareg.evaluate(params, learner, episodes, (0,), batch_size=10)
    clean, noisy = (np.asarray(a, np.float64) for a in (episodes.query_y_clean, episodes.query_y))
    pred = np.stack([_np_mlp(params["model"], x) for x in np.asarray(episodes.query_x)])
    for name, target in (("mse_clean@0", clean), ("mse_noisy@0", noisy)):
        errors = np.mean((pred - target) ** 2, axis=(1, 2))
        entry = got[name]
        assert entry["num_tasks"] == 37 and entry["num_nonfinite"] == 0
        np.testing.assert_allclose(entry["mean"], errors.mean(), rtol=1e-5)
        np.testing.assert_allclose(
            entry["ci95"], 1.959963984540054 * errors.std(ddof=1) / np.sqrt(37), rtol=1e-4
        )
        np.testing.assert_allclose(entry["median"], np.median(errors), rtol=1e-5)
    one = metareg.evaluate(
        params, learner, jax.tree_util.tree_map(lambda a: a[:1], episodes), (0,), batch_size=10
    )["mse_clean@0"]
    assert one["num_tasks"] == 1 and np.isnan(one["ci95"])
    np.testing.assert_allclose(one["mean"], np.mean((pred[0] - clean[0]) ** 2), rtol=1e-5)


def test_lazy_test_episodes_are_the_same_tasks_with_the_same_numbers():
    """Image families gather their test episodes one chunk at a time (IndexedEpisodes):
    same tasks, same numbers."""
    from metareg.evaluate import IndexedEpisodes, sample_test_episodes
    from metareg.models import conv4
    from metareg.tasks.omniglot import make_omniglot_family

    images = lambda c, seed: np.random.default_rng(seed).integers(
        0, 256, (c, 20, 28, 28), dtype=np.uint8
    )
    family = make_omniglot_family(
        images(12, 0),
        images(10, 1),
        ways=5,
        shots=1,
        queries=2,
        setting="non_mutually_exclusive",
        key=jax.random.key(7),
    )
    key = jax.random.key(3)
    batch, lazy = family.sample_test(key, 13), sample_test_episodes(family, key, 13)
    assert isinstance(lazy, IndexedEpisodes) and lazy.num_tasks == 13
    chex.assert_trees_all_equal(lazy.take(jnp.arange(13)), batch)
    sizes = []
    spy = IndexedEpisodes(13, lambda ids: sizes.append(len(ids)) or lazy.take(ids))
    learner = metareg.MAML(
        conv4(family.ways, width=4, pool="stride", readout="mean"),
        "cross_entropy",
        inner_lr=0.4,
        num_steps=1,
    )
    params = metareg.MetaObjective(learner).init(jax.random.key(1), family.example_episode())
    assert metareg.evaluate(params, learner, spy, (0, 1), batch_size=5) == metareg.evaluate(
        params, learner, batch, (0, 1), batch_size=5
    )
    assert sizes == [
        5,
        5,
        5,
    ]  # never more than one chunk's images, each chunk gathered once for both step counts
    assert not isinstance(
        sample_test_episodes(metareg.regression_family("sinusoid", key, num_shots=5), key, 4),
        IndexedEpisodes,
    )
