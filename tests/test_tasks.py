"""Task families: the fixed pool, fresh test tasks, shapes, determinism, noise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import metareg
from metareg.tasks.regression import FAMILY_SPECS


@pytest.mark.parametrize("name", sorted(FAMILY_SPECS))
def test_shapes_and_determinism(name):
    fam = metareg.regression_family(name, jax.random.key(0), num_shots=5, num_queries=10)
    ep = fam.sample_train(jax.random.key(1), 25)
    assert ep.support_x.shape == (25, 5, fam.input_width) and ep.query_y.shape == (25, 10, 1)
    again = fam.sample_train(jax.random.key(1), 25)
    np.testing.assert_array_equal(np.asarray(ep.query_y), np.asarray(again.query_y))
    lo, hi = fam.x_range
    if FAMILY_SPECS[name].local_x_std is None:  # else x ~ N(task centre in x_range, s^2)
        assert float(ep.support_x[..., 0].min()) >= lo and float(ep.support_x[..., 0].max()) <= hi


def test_task_code_names_each_pool_task_and_only_the_bin_of_a_test_task():
    spec = FAMILY_SPECS["sinusoid_nme"]
    fam = metareg.regression_family(
        "sinusoid_nme", jax.random.key(0), num_shots=5, num_queries=10, pool_size=20
    )
    assert fam.input_width == 21
    # the pool is stratified: one task per amplitude bin, so the code identifies the training task
    bins = np.asarray(spec.code.bin_of(fam.pool_params["amplitude"]))
    np.testing.assert_array_equal(np.sort(bins), np.arange(20))
    ep = fam.sample_train(jax.random.key(1), 20)
    code = np.asarray(ep.support_x[..., 1:])
    assert (code.sum(-1) == 1).all() and (
        code == code[:, :1]
    ).all()  # one-hot, the same for every point of a task
    np.testing.assert_array_equal(np.asarray(ep.query_x[:, 0, 1:]), code[:, 0])
    task_of_code = {
        int(b): j for j, b in enumerate(bins)
    }  # code -> the pool task whose function gives y
    for t in range(20):
        j = task_of_code[int(code[t, 0].argmax())]
        p = jax.tree_util.tree_map(lambda a, j=j: a[j], fam.pool_params)
        want = spec.fn(p, ep.query_x[t, :, 0])
        np.testing.assert_allclose(
            np.asarray(ep.query_y_clean[t, :, 0]), np.asarray(want), atol=1e-5
        )
    # test tasks: fresh amplitude and phase; the code is the bin of their own amplitude
    test = fam.sample_test(jax.random.key(2), 200)
    assert (np.asarray(test.query_x[..., 1:]).sum(-1) == 1).all()
    phases_seen = np.asarray(fam.pool_params["phase"])
    amp = np.abs(np.asarray(test.query_y_clean)).max(axis=(1, 2))  # <= the task's amplitude
    assert amp.max() <= 5.0 and len(phases_seen) == 20


def test_pool_is_fixed_and_test_tasks_are_fresh():
    fam = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5, pool_size=480)
    assert fam.pool_size == 480
    same = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=10, pool_size=480)
    np.testing.assert_array_equal(
        np.asarray(fam.pool_params["amplitude"]), np.asarray(same.pool_params["amplitude"])
    )
    # training episodes only come from pool tasks: their noiseless values match a pool function
    ep = fam.sample_train(jax.random.key(2), 25)
    pool = fam.pool_params
    x = ep.query_x[:, :, 0]
    all_f = jax.vmap(lambda p: FAMILY_SPECS["sinusoid"].fn(p, x))(pool)  # [480, 25, Q]
    err = jnp.min(jnp.max(jnp.abs(all_f - ep.query_y_clean[None, :, :, 0]), axis=-1), axis=0)
    assert float(err.max()) < 1e-5
    # test tasks are fresh draws from the prior: no pool function explains them
    test = fam.sample_test(jax.random.key(3), 50)
    xt = test.query_x[:, :, 0]
    all_t = jax.vmap(lambda p: FAMILY_SPECS["sinusoid"].fn(p, xt))(pool)
    err_t = jnp.min(jnp.max(jnp.abs(all_t - test.query_y_clean[None, :, :, 0]), axis=-1), axis=0)
    assert float(err_t.min()) > 1e-3
    amps = np.asarray(pool["amplitude"])
    assert 0.1 <= float(amps.min()) and float(amps.max()) <= 5.0


def test_noise_level_matches_the_family():
    fam = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5, num_queries=50)
    ep = fam.sample_test(jax.random.key(4), 400)
    resid = np.asarray(ep.query_y - ep.query_y_clean)
    np.testing.assert_allclose(resid.std(), 0.3, rtol=0.05)
    np.testing.assert_allclose(resid.mean(), 0.0, atol=0.01)


def test_fixed_points_per_task_subsamples_distinct_points():
    fam = metareg.regression_family(
        "sinusoid_w1", jax.random.key(0), num_shots=5, num_queries=10, points_per_task=20
    )
    ep = fam.sample_train(jax.random.key(5), 8)
    xs = np.concatenate(
        [np.asarray(ep.support_x[:, :, 0]), np.asarray(ep.query_x[:, :, 0])], axis=1
    )
    for row in xs:
        assert len(np.unique(row)) == 15
    pool_x = np.asarray(fam.pool_x)
    assert all(np.isin(row, pool_x).all() for row in xs)


def test_harmonic_is_the_two_frequency_sum():
    p = {"frequency": 6.0, "phase1": 0.3, "phase2": 1.1, "amplitude1": 0.7, "amplitude2": -1.2}
    x = jnp.linspace(-4, 4, 9)
    want = 0.7 * np.sin(6 * np.asarray(x) + 0.3) - 1.2 * np.sin(12 * np.asarray(x) + 1.1)
    np.testing.assert_allclose(
        np.asarray(FAMILY_SPECS["harmonic"].fn(p, x)), want, rtol=1e-5, atol=1e-5
    )


def test_harmonic_local_draws_each_tasks_x_around_its_own_centre():
    """torchmeta's Harmonic (the sources' protocol): mu_x ~ U(-4, 4) per
    task, x ~ N(mu_x, 1), no noise."""
    fam = metareg.regression_family(
        "harmonic_local", jax.random.key(0), num_shots=10, num_queries=40, pool_size=50
    )
    for ep in (fam.sample_test(jax.random.key(1), 300), fam.sample_train(jax.random.key(2), 50)):
        x = np.concatenate(
            [np.asarray(ep.support_x[..., 0]), np.asarray(ep.query_x[..., 0])], axis=1
        )  # [T, 50]
        np.testing.assert_allclose(
            x.std(axis=1).mean(), 1.0, atol=0.05
        )  # unit spread around a per-task centre
        assert (
            -4.5 < x.mean(axis=1).min()
            and x.mean(axis=1).max() < 4.5
            and x.mean(axis=1).std() > 1.5
        )
        np.testing.assert_array_equal(
            np.asarray(ep.query_y), np.asarray(ep.query_y_clean)
        )  # noise-free
    train = fam.sample_train(jax.random.key(3), 50)
    centers = np.asarray(fam.pool_params["center"])
    means = np.concatenate(
        [np.asarray(train.support_x[..., 0]), np.asarray(train.query_x[..., 0])], axis=1
    ).mean(1)
    # each training episode's points sit around one pool task's centre
    assert (np.min(np.abs(means[:, None] - centers[None, :]), axis=1) < 0.6).all()


def test_check_family_names_what_a_custom_family_lacks():
    metareg.check_family(
        metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    )  # a family passes

    # every method, but not a pytree: jax.jit would fail with a bare "not a valid JAX type"
    class Plain:
        loss_name, output_width = "mse", 1

        def sample_train(self, key, n): ...

        def sample_test(self, key, n): ...

        def example_episode(self): ...

    with pytest.raises(
        TypeError, match=r"Plain is not a pytree of arrays .*@flax.struct.dataclass"
    ):
        metareg.check_family(Plain())
    del Plain.sample_test
    with pytest.raises(TypeError, match=r"lacks \['sample_test'\]"):
        metareg.check_family(Plain())


def test_episodes_for_chosen_tasks_match_their_functions():
    """episodes_for draws points for given task parameters; the clean targets are `functions` at
    those points, and sample_test is episodes_for on prior draws (same key use, same numbers)."""
    fam = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    params = {
        "amplitude": jnp.array([1.0, 3.0]),
        "phase": jnp.array([0.0, 1.5]),
        "frequency": jnp.ones(2),
    }
    ep = fam.episodes_for(jax.random.key(1), params)
    assert ep.support_x.shape == (2, 5, 1) and ep.query_y_clean.shape == (2, 10, 1)
    for t in range(2):
        x = ep.query_x[t, :, 0]
        clean = fam.functions(jax.tree.map(lambda a, t=t: a[t : t + 1], params), x)[0]
        np.testing.assert_allclose(
            np.asarray(ep.query_y_clean[t, :, 0]), np.asarray(clean), rtol=1e-6
        )
    np.testing.assert_allclose(
        np.asarray(clean), 3.0 * np.sin(np.asarray(x) + 1.5), rtol=1e-5, atol=1e-6
    )
    k_task, k_pts = jax.random.split(jax.random.key(7))
    same = fam.episodes_for(k_pts, fam.spec.prior(k_task, 4))
    jax.tree.map(np.testing.assert_array_equal, fam.sample_test(jax.random.key(7), 4), same)


def test_every_family_builder_argument_is_a_config_field_or_api_only():
    """make_task_family passes a builder the config fields its arguments name: an argument with no
    field of that name would silently keep its default, so each one is a `task` field, a data
    location, the key, or one of the few API-only options (documented in its builder)."""
    import inspect

    from metareg.config import default_config
    from metareg.tasks import _BUILDERS, builder_arguments

    fields = set(default_config().task) | {"data_dir", "prepared_dir", "key"}
    api_only = {"eval_max_support", "eval_max_query", "supersample"}
    for name, builder in _BUILDERS.items():
        missing = set(builder_arguments(builder)) - fields
        assert missing <= api_only, (name, missing)
        params = inspect.signature(builder).parameters
        assert all(params[a].default is not inspect.Parameter.empty for a in missing & api_only)


def test_make_task_family_passes_the_config_fields():
    from metareg.config import default_config

    config = default_config()
    config.task.name, config.task.num_shots, config.task.pool_size = "sinusoid_w1", 7, 33
    family = metareg.tasks.make_task_family(config, jax.random.key(0))
    assert family.num_shots == 7 and family.pool_size == 33 and family.name == "sinusoid_w1"


def test_centered_harmonic_shows_the_same_tasks_around_the_support_mean():
    kwargs = dict(key=jax.random.key(0), num_shots=5, num_queries=10, pool_size=50)
    raw = metareg.regression_family("harmonic_local", **kwargs)
    centered = metareg.regression_family("harmonic_local_centered", **kwargs)
    for sample in ("sample_train", "sample_test"):
        a = getattr(raw, sample)(jax.random.key(1), 20)
        b = getattr(centered, sample)(jax.random.key(1), 20)
        np.testing.assert_array_equal(np.asarray(a.query_y), np.asarray(b.query_y))
        shift = np.asarray(a.support_x).mean(axis=1, keepdims=True)
        np.testing.assert_allclose(np.asarray(b.support_x).mean(axis=1), 0.0, atol=1e-5)
        np.testing.assert_allclose(np.asarray(b.query_x), np.asarray(a.query_x) - shift, atol=1e-5)
