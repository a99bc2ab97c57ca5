"""Channel Shuffle ("MetaMix + CS"): the swap against a hand computation, the draw, the inner loop's
shuffled forward pass, the outer loss against a layer-wise reference, the schedule, and a run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import metareg
from metareg.regularizers import channel_shuffle as cs
from metareg.regularizers.metamix import mixed_target_loss
from metareg.types import Episode, task

WAYS, SHOTS = 3, 2


def _draw(layer=1, group=2, on=True, partner=(2, 0, 1)):
    return cs.ShuffleDraw(
        jnp.int32(layer), jnp.asarray(partner, jnp.int32), jnp.int32(group), jnp.asarray(on)
    )


def test_swap_by_hand():
    """Sample k of class i takes group g's channels of sample k of class partner[i];
    the rest is untouched."""
    h = (
        np.random.default_rng(0).normal(size=(WAYS * SHOTS, 4, 4, 64)).astype(np.float32)
    )  # class-major rows
    d = _draw(group=2)  # channels [22, 32) of the reference's groups
    got = np.asarray(cs.shuffle_channels(jnp.asarray(h), d))
    partner = {0: 2, 1: 0, 2: 1}
    for row in range(WAYS * SHOTS):
        c, k = divmod(row, SHOTS)
        np.testing.assert_array_equal(got[row, ..., 22:32], h[partner[c] * SHOTS + k, ..., 22:32])
        np.testing.assert_array_equal(got[row, ..., :22], h[row, ..., :22])
        np.testing.assert_array_equal(got[row, ..., 32:], h[row, ..., 32:])
    np.testing.assert_array_equal(
        np.asarray(cs.shuffle_channels(jnp.asarray(h), _draw(on=False))), h
    )  # off: identity


def test_draw_is_one_cycle_a_reference_group_and_a_candidate_layer():
    assert cs.channel_groups(64) == (0, 12, 22, 32, 44, 54, 64)
    layers, groups = set(), set()
    for i in range(200):
        d = cs.draw(jax.random.key(i), 5, (1, 2, 3), jnp.asarray(True))
        partner = np.asarray(d.partner)
        seen, c = [], 0
        for _ in range(
            5
        ):  # following partner from class 0 visits every class before returning: one 5-cycle
            seen.append(c)
            c = int(partner[c])
        assert c == 0 and sorted(seen) == list(range(5))
        layers.add(int(d.layer))
        groups.add(int(d.group))
    assert layers == {1, 2, 3} and groups == set(range(6))


def _setup():
    model = metareg.models.conv4(WAYS, width=12, pool="stride", readout="mean", conv_impl="im2col")
    learner = metareg.MAML(model, loss_name="cross_entropy", inner_lr=0.1, num_steps=2)
    ks = jax.random.split(jax.random.key(0), 2)
    labels = jnp.repeat(jnp.arange(WAYS), SHOTS).astype(jnp.int32)
    ep = Episode(
        jax.random.uniform(ks[0], (WAYS * SHOTS, 12, 12, 1)),
        labels,
        jax.random.uniform(ks[1], (WAYS * SHOTS, 12, 12, 1)),
        labels,
    )
    params = metareg.MetaObjective(learner).init(jax.random.key(1), ep)
    return learner, ep, params


@pytest.mark.parametrize("layer", [1, 2, 3])
def test_shuffled_model_shuffles_the_input_of_the_drawn_block(layer):
    learner, ep, params = _setup()
    base, d = learner.model, _draw(layer=layer)
    model = cs.ShuffledModel(base, d, (1, 2, 3))
    theta = params["model"]
    want = base.apply(
        theta, cs.shuffle_channels(base.apply(theta, ep.support_x, 0, layer), d), layer, None
    )
    np.testing.assert_allclose(
        np.asarray(model.apply(theta, ep.support_x)), np.asarray(want), rtol=1e-5, atol=1e-6
    )
    # the inner loop under CS adapts on the shuffled forward pass, every step
    mix = metareg.MetaMix(alpha=2.0, layers=(0, 1, 2, 3), channel_shuffle=True, num_classes=WAYS)
    inner = mix.inner_learner(learner, ep, jax.random.key(3), jnp.asarray(True))
    assert isinstance(inner.model, cs.ShuffledModel)
    assert (
        mix.inner_learner(learner, ep, jax.random.key(3), jnp.asarray(True)).model.d.layer
        == inner.model.d.layer
    )
    plain = metareg.MetaMix(alpha=2.0, layers=(0, 1, 2, 3))
    assert (
        plain.inner_learner(learner, ep, jax.random.key(3), jnp.asarray(True)) is learner
    )  # no CS: unchanged


@pytest.mark.parametrize("seed", range(4))
def test_outer_loss_shuffles_both_sets_then_mixes_at_the_shuffle_layer(seed):
    learner, ep, params = _setup()
    phi = learner.adapt(params, ep.support_x, ep.support_y)
    mix = metareg.MetaMix(alpha=2.0, layers=(0, 1, 2, 3), channel_shuffle=True, num_classes=WAYS)
    key = jax.random.key(seed)
    lam, _, perm = mix.sample(key, WAYS * SHOTS, WAYS * SHOTS)
    d = mix._shuffle_draw(key, jnp.asarray(True))
    layer, model = int(d.layer), learner.model
    h_s = cs.shuffle_channels(model.apply(phi, ep.support_x, 0, layer), d)
    h_q = cs.shuffle_channels(model.apply(phi, ep.query_x, 0, layer), d)
    out = model.apply(phi, lam * h_s[perm] + (1 - lam) * h_q, layer, None)
    want = mixed_target_loss("cross_entropy", out, ep.query_y, ep.support_y[perm], None, lam)
    got = mix.query_loss(learner, phi, ep, key, jnp.asarray(True))
    np.testing.assert_allclose(float(got), float(want), rtol=1e-5)
    # off (coin tails or before the start step): plain MetaMix at its own layers
    off = mix.query_loss(learner, phi, ep, key, jnp.asarray(False))
    plain = metareg.MetaMix(alpha=2.0, layers=(0, 1, 2, 3)).query_loss(learner, phi, ep, key)
    np.testing.assert_allclose(float(off), float(plain), rtol=1e-5)


def test_schedule_off_before_the_start_then_about_half_the_steps():
    mix = metareg.MetaMix(channel_shuffle=True, num_classes=WAYS, cs_start_step=2000, cs_prob=0.5)
    keys = jax.random.split(jax.random.key(0), 400)
    before = jax.vmap(lambda k: mix.shuffle_on(k, jnp.int32(1999)))(keys)
    after = jax.vmap(lambda k: mix.shuffle_on(k, jnp.int32(2000)))(keys)
    assert not bool(before.any()) and 0.4 < float(after.mean()) < 0.6
    assert not bool(metareg.MetaMix().shuffle_on(keys[0], None))


def _hand_shuffle(h, d):
    """The swap written out for one concrete draw: rows of class i take channel group g's values
    from the same-rank rows of class partner[i] (class-major rows)."""
    bounds = cs.channel_groups(h.shape[-1])
    lo, hi = bounds[int(d.group)], bounds[int(d.group) + 1]
    partner = np.asarray(d.partner)
    source = np.array([partner[r // SHOTS] * SHOTS + r % SHOTS for r in range(WAYS * SHOTS)])
    return h.at[..., lo:hi].set(h[source][..., lo:hi])


def test_meta_loss_with_channel_shuffle_is_the_hand_composition():
    """The jitted meta-loss with Channel Shuffle on (coin probability 1, past the start step)
    equals, per task, two inner SGD steps on the support's cross-entropy through the shuffled
    forward pass, then both sets shuffled at the drawn layer, mixed there and scored with
    lam CE(., y_s[perm]) + (1 - lam) CE(., y_q), all written out here; before the start step it
    is plain MetaMix."""
    from metareg.rng import named_key

    learner, ep, params = _setup()
    episodes = jax.tree_util.tree_map(lambda a: jnp.stack([a, a[::-1]]), ep)
    mix = metareg.MetaMix(2.0, (0, 1, 2, 3), channel_shuffle=True, num_classes=WAYS, cs_prob=1.0)
    with_cs = metareg.MetaObjective(learner, (mix,))
    without = metareg.MetaObjective(learner, (metareg.MetaMix(2.0, (0, 1, 2, 3)),))
    key = jax.random.key(5)
    a = jax.jit(metareg.meta_loss, static_argnames="objective")(
        params, episodes, key, objective=with_cs, step=jnp.int32(3000)
    )
    model = learner.model

    def ce(logits, y):
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(logp[jnp.arange(y.shape[0]), y])

    per_task = []
    for i, task_key in enumerate(jax.random.split(named_key(key, "per_task"), 2)):
        d = mix._shuffle_draw(task_key, jnp.asarray(True))
        lam, _, perm = mix.sample(task_key, WAYS * SHOTS, WAYS * SHOTS)

        @jax.jit  # the draw's layer, group and cycle are constants of this program
        def by_hand(theta, e, lam, perm, d=d, layer=int(d.layer)):
            def through_shuffle(p, x):
                return model.apply(p, _hand_shuffle(model.apply(p, x, 0, layer), d), layer, None)

            phi = theta
            for _ in range(2):  # learner.num_steps, inner_lr 0.1
                g = jax.grad(lambda p: ce(through_shuffle(p, e.support_x), e.support_y))(phi)
                phi = jax.tree_util.tree_map(lambda w, gw: w - 0.1 * gw, phi, g)
            h_s = _hand_shuffle(model.apply(phi, e.support_x, 0, layer), d)
            h_q = _hand_shuffle(model.apply(phi, e.query_x, 0, layer), d)
            out = model.apply(phi, lam * h_s[perm] + (1 - lam) * h_q, layer, None)
            return lam * ce(out, e.support_y[perm]) + (1 - lam) * ce(out, e.query_y)

        per_task.append(by_hand(params["model"], task(episodes, i), lam, perm))
    np.testing.assert_allclose(float(a[0]), float(np.mean(per_task)), rtol=2e-5)
    loss = jax.jit(metareg.meta_loss, static_argnames="objective")
    b = loss(params, episodes, key, objective=without)
    early = loss(params, episodes, key, objective=with_cs, step=jnp.int32(10))  # before the start
    np.testing.assert_allclose(float(early[0]), float(b[0]), rtol=1e-5)  # MetaMix alone


def test_channel_shuffle_config_rules():
    from experiments import omniglot_maml_metamix, sinusoid_metamix
    from metareg.assemble import validate_config
    from metareg.config import ConfigError

    c = omniglot_maml_metamix.get_config("quick")
    c.metamix.channel_shuffle = True
    validate_config(c)
    c.metamix.cs_layers = (0, 1)
    with pytest.raises(ConfigError, match="metamix.cs_layers"):
        validate_config(c)
    s = sinusoid_metamix.get_config("quick")
    s.metamix.channel_shuffle = True
    with pytest.raises(ConfigError, match="conv4"):
        validate_config(s)
