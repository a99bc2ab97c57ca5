"""Evaluation: the CI formula, chunking that never changes a number, and the clean/noisy metrics."""

import jax
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
    b = metareg.evaluate(params, learner, episodes, (0, 2), batch_size=10)  # 4 chunks, the last padded
    for k in a:
        np.testing.assert_allclose(a[k]["mean"], b[k]["mean"], rtol=1e-6)
        assert a[k]["num_tasks"] == b[k]["num_tasks"] == 37
        assert a[k]["num_nonfinite"] == 0 and a[k]["median"] <= a[k]["mean"] * 10
    # zero inner steps: the prediction of theta itself; noisy MSE exceeds clean by about sigma^2 = 0.09
    pred = jax.vmap(lambda x: learner.predict(params["model"], x))(episodes.query_x)
    np.testing.assert_allclose(a["mse_clean@0"]["mean"], float(np.mean((pred - episodes.query_y_clean) ** 2)), rtol=1e-5)
