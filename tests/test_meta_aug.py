"""Meta-Aug shifts every target of a task by one offset, before adaptation."""

import jax
import numpy as np

import metareg
from metareg.regularizers import MetaAug


def test_one_offset_per_task_on_support_and_query():
    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    episodes = family.sample_train(jax.random.key(1), 6)
    out = MetaAug(offset=1.0).transform_episodes(episodes, jax.random.key(2))
    ds = np.asarray(out.support_y - episodes.support_y)[..., 0]
    dq = np.asarray(out.query_y - episodes.query_y)[..., 0]
    for s, q in zip(ds, dq, strict=True):
        np.testing.assert_allclose(s, s[0], atol=1e-6)
        np.testing.assert_allclose(q, s[0], atol=1e-6)
    assert np.all(np.abs(ds[:, 0]) <= 1.0) and len(np.unique(np.round(ds[:, 0], 6))) == 6
    np.testing.assert_array_equal(np.asarray(out.support_x), np.asarray(episodes.support_x))


def test_meta_aug_composes_in_the_meta_loss():
    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    learner = metareg.MAML(metareg.mlp((8, 8)))
    objective = metareg.MetaObjective(learner, (MetaAug(), metareg.MetaMix(), metareg.TRLearner()))
    params = objective.init(jax.random.key(3), family.example_episode())
    episodes = family.sample_train(jax.random.key(4), 5)
    loss, metrics = metareg.meta_loss(params, episodes, jax.random.key(5), objective)
    without = metareg.MetaObjective(learner, (metareg.MetaMix(), metareg.TRLearner()))
    plain, _ = metareg.meta_loss(params, episodes, jax.random.key(5), without)
    assert np.isfinite(float(loss)) and float(loss) != float(plain)
