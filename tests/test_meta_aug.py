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
    """Meta-Aug acts on the episodes before everything else: the meta-loss with it (and MetaMix
    and TRLearner after it) is the meta-loss without it on the episodes it shifts, drawn from the
    regularizer's named key "meta_aug/episodes" (metareg.rng); the other regularizers' keys are
    unchanged by its presence."""
    from metareg.rng import named_key

    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    learner = metareg.MAML(metareg.mlp((8, 8)))
    aug = MetaAug()
    objective = metareg.MetaObjective(learner, (aug, metareg.MetaMix(), metareg.TRLearner()))
    params = objective.init(jax.random.key(3), family.example_episode())
    episodes = family.sample_train(jax.random.key(4), 5)
    key = jax.random.key(5)
    loss, metrics = metareg.meta_loss(params, episodes, key, objective)
    without = metareg.MetaObjective(learner, (metareg.MetaMix(), metareg.TRLearner()))
    shifted = aug.transform_episodes(episodes, named_key(key, "meta_aug/episodes"))
    want, want_metrics = metareg.meta_loss(params, shifted, key, without)
    np.testing.assert_allclose(float(loss), float(want), rtol=1e-6)
    for name in ("query_loss", "metamix_loss", "trlearner_loss"):
        np.testing.assert_allclose(float(metrics[name]), float(want_metrics[name]), rtol=1e-6)
    plain, _ = metareg.meta_loss(params, episodes, key, without)
    assert abs(float(plain) - float(loss)) > 1e-3  # the shift is not a no-op on these tasks
