"""Inner-loss sharpness against the closed form, and its meaning: alpha * L > 2 is
where 10 steps diverge."""

import jax
import jax.numpy as jnp
import numpy as np

import metareg
from metareg.curvature import inner_sharpness
from tests.conftest import linear_model


def _task(scale):
    ks = jax.random.split(jax.random.key(0), 3)
    x = scale * jax.random.normal(ks[0], (8, 3))
    y = jax.random.normal(ks[1], (8, 1))
    return x, y


def test_sharpness_of_a_linear_model_is_the_top_eigenvalue_of_2_xtx_over_k():
    learner = metareg.MAML(linear_model(), inner_lr=0.01, num_steps=1)
    x, y = _task(1.0)
    params = metareg.MetaObjective(learner).init(
        jax.random.key(1), metareg.types.Episode(x, y, x, y)
    )
    want = np.linalg.eigvalsh(2 * np.asarray(x).T @ np.asarray(x) / 8).max()
    np.testing.assert_allclose(float(inner_sharpness(learner, params, x, y)), want, rtol=1e-4)


def test_adaptation_diverges_exactly_when_lr_times_sharpness_exceeds_two():
    x, y = _task(1.0)
    for lr_scale, diverges in ((0.9, False), (1.1, True)):
        learner = metareg.MAML(linear_model(), inner_lr=1.0, num_steps=1)
        params = metareg.MetaObjective(learner).init(
            jax.random.key(1), metareg.types.Episode(x, y, x, y)
        )
        lr = lr_scale * 2 / float(inner_sharpness(learner, params, x, y))
        learner = metareg.MAML(linear_model(), inner_lr=lr, num_steps=1)
        loss = lambda n, m=learner, p=params: float(
            jnp.mean((m.predict(m.adapt(p, x, y, num_steps=n), x) - y) ** 2)
        )
        assert (loss(200) > loss(1)) == diverges
