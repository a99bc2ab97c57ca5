"""Classification pieces: ProtoNet against a hand computation, TRLearner's per-class task
representation and probability-averaged consistency loss, Meta-Aug's label permutation, MetaMix's
mixed cross-entropy, and the classification config errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import metareg
from metareg.assemble import validate_config
from metareg.config import ConfigError, default_config, with_overrides
from metareg.learners import ProtoNet
from metareg.learners.protonet import prototypes, squared_distances
from metareg.models import conv4
from metareg.types import Episode

WAYS, SHOTS, QUERIES = 3, 2, 2


def _episodes(key, t=3, size=12):
    """Random images, label-major labels (as the Omniglot family lays them out)."""
    ks = jax.random.split(key, 2)
    labels = lambda per: jnp.broadcast_to(
        jnp.repeat(jnp.arange(WAYS), per), (t, WAYS * per)
    ).astype(jnp.int32)
    return Episode(
        support_x=jax.random.uniform(ks[0], (t, WAYS * SHOTS, size, size, 1)),
        support_y=labels(SHOTS),
        query_x=jax.random.uniform(ks[1], (t, WAYS * QUERIES, size, size, 1)),
        query_y=labels(QUERIES),
    )


def _model():
    return conv4(WAYS, width=4, pool="stride", readout="mean", conv_impl="im2col")


def test_prototypes_and_logits_by_hand():
    e = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.asarray(prototypes(jnp.asarray(e), jnp.asarray(y), 3))
    np.testing.assert_allclose(p, np.stack([e[y == c].mean(0) for c in range(3)]), rtol=1e-6)
    masked = prototypes(jnp.asarray(e), jnp.asarray(y), 3, jnp.array([1, 0, 1, 1, 1, 1.0]))
    np.testing.assert_allclose(
        np.asarray(masked)[0], e[0], rtol=1e-6
    )  # the masked example left class 0
    q = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    d = np.asarray(squared_distances(jnp.asarray(q), jnp.asarray(p)))
    np.testing.assert_allclose(d, ((q[:, None] - p[None]) ** 2).sum(-1), rtol=1e-4, atol=1e-5)


def test_protonet_predicts_minus_distance_to_support_class_means():
    model = _model()
    learner = ProtoNet(model, "cross_entropy", num_classes=WAYS)
    ep = metareg.types.task(_episodes(jax.random.key(0)), 0)
    params = metareg.MetaObjective(learner).init(jax.random.key(1), ep)
    phi = learner.adapt(
        params, ep.support_x, ep.support_y, num_steps=10
    )  # steps are ignored: no inner loop
    g_s = model.features(params["model"], ep.support_x)
    g_q = model.features(params["model"], ep.query_x)
    protos = g_s.reshape(WAYS, SHOTS, -1).mean(1)
    want = -((g_q[:, None] - protos[None]) ** 2).sum(-1)
    np.testing.assert_allclose(learner.predict(phi, ep.query_x), want, rtol=1e-4, atol=1e-4)
    # the meta-gradient reaches the embedding, not the unused head
    episodes = _episodes(jax.random.key(2))
    grads = jax.grad(
        lambda p: metareg.meta_loss(p, episodes, jax.random.key(3), metareg.MetaObjective(learner))[
            0
        ]
    )(params)
    assert float(jnp.abs(grads["model"]["blocks_0"]["kernel"]).sum()) > 0
    assert float(jnp.abs(grads["model"]["blocks_4"]["kernel"]).sum()) == 0


@pytest.mark.parametrize("learner_name", ["maml", "protonet"])
def test_trlearner_classification_representation_and_consistency_loss_by_hand(learner_name):
    model = _model()
    learner = (
        metareg.MAML(model, "cross_entropy", inner_lr=0.1)
        if learner_name == "maml"
        else ProtoNet(model, "cross_entropy", num_classes=WAYS)
    )
    reg = metareg.TRLearner(relation="fixed")
    episodes = _episodes(jax.random.key(4))
    params = metareg.MetaObjective(learner, (reg,)).init(
        jax.random.key(5), metareg.types.task(episodes, 0)
    )
    theta = params["model"]
    # z_i: per-class mean features in label order, flattened
    z = np.stack(
        [
            np.asarray(model.features(theta, episodes.support_x[i]))
            .reshape(WAYS, SHOTS, -1)
            .mean(1)
            .ravel()
            for i in range(3)
        ]
    )
    z_lib = jax.vmap(reg.task_representation, in_axes=(None, None, 0, 0))(
        learner, theta, episodes.support_x, episodes.support_y
    )
    np.testing.assert_allclose(np.asarray(z_lib), z, rtol=1e-4, atol=1e-5)
    # A: relu(cos) normalized over the other tasks; L_TR,i: NLL of the A-weighted average of
    # the others' probabilities
    n = z / np.linalg.norm(z, axis=1, keepdims=True)
    m = np.maximum((n @ n.T) * (1 - np.eye(3)), 0)
    a = m / np.maximum(m.sum(1, keepdims=True), 1e-8)
    phi = jax.vmap(lambda e: learner.adapt(params, e.support_x, e.support_y))(episodes)
    want = []
    for i in range(3):
        probs = sum(
            a[i, p]
            * np.asarray(
                jax.nn.softmax(learner.predict(metareg.types.task(phi, p), episodes.query_x[i]))
            )
            for p in range(3)
        )
        want.append(
            -np.mean(np.log(probs[np.arange(WAYS * QUERIES), np.asarray(episodes.query_y[i])]))
        )
    got, _ = reg.penalty(params, learner, episodes, phi)
    np.testing.assert_allclose(got, np.mean(want), rtol=1e-4)


@pytest.mark.parametrize("learner_name", ["protonet", "anil"])
def test_trlearner_shared_query_pass_equals_every_pair_in_value_and_gradient(learner_name):
    """ProtoNet's embedding and ANIL's body are theta in every task's model: TRLearner runs them
    once per query set (split_predict). Same loss and meta-gradient as predicting with every (model,
    task) pair in full."""
    model = _model()
    cls, kwargs = (
        (ProtoNet, {"num_classes": WAYS})
        if learner_name == "protonet"
        else (metareg.learners.ANIL, {"inner_lr": 0.1})
    )
    fast = cls(model, "cross_entropy", **kwargs)
    full = type("EveryPair", (cls,), {"split_predict": lambda self, theta: None})(
        model, "cross_entropy", **kwargs
    )
    assert fast.split_predict({}) is not None
    reg = metareg.TRLearner()
    episodes = _episodes(jax.random.key(10), t=4)
    params = metareg.MetaObjective(fast, (reg,)).init(
        jax.random.key(11), metareg.types.task(episodes, 0)
    )

    def penalty(p, learner):
        phi = jax.vmap(lambda e: learner.adapt(p, e.support_x, e.support_y))(episodes)
        return reg.penalty(p, learner, episodes, phi)[0]

    value_fast, grads_fast = jax.value_and_grad(penalty)(params, fast)
    value_full, grads_full = jax.value_and_grad(penalty)(params, full)
    np.testing.assert_allclose(value_fast, value_full, rtol=1e-5)
    chex.assert_trees_all_close(grads_fast, grads_full, rtol=1e-4, atol=1e-6)
    assert float(jnp.abs(grads_fast["model"]["blocks_0"]["kernel"]).sum()) > 0


def test_meta_aug_permutes_labels_consistently_per_task():
    episodes = _episodes(jax.random.key(6), t=8)
    out = metareg.regularizers.MetaAug(num_classes=WAYS).transform_episodes(
        episodes, jax.random.key(7)
    )
    changed = 0
    for i in range(8):
        s, q = np.asarray(episodes.support_y[i]), np.asarray(out.support_y[i])
        perm = {int(a): int(b) for a, b in zip(s, q, strict=True)}
        assert sorted(perm.values()) == list(range(WAYS))  # a permutation of the labels
        assert [perm[int(a)] for a in np.asarray(episodes.query_y[i])] == np.asarray(
            out.query_y[i]
        ).tolist()  # same for the query
        changed += any(k != v for k, v in perm.items())
    assert changed >= 5
    chex.assert_trees_all_equal(out.support_x, episodes.support_x)


def test_metamix_classification_mixes_the_two_cross_entropies():
    from metareg.losses import cross_entropy
    from metareg.regularizers.metamix import mixup_loss

    model = _model()
    learner = metareg.MAML(model, "cross_entropy", inner_lr=0.1)
    ep = metareg.types.task(_episodes(jax.random.key(8)), 0)
    params = metareg.MetaObjective(learner).init(jax.random.key(9), ep)
    perm = jnp.array([5, 0, 3, 2, 1, 4])
    for layer in (0, 2):
        h_s = model.apply(params["model"], ep.support_x, 0, layer)[perm]
        h_q = model.apply(params["model"], ep.query_x, 0, layer)
        out = model.apply(params["model"], 0.3 * h_s + 0.7 * h_q, layer, None)
        want = 0.3 * cross_entropy(out, ep.support_y[perm]) + 0.7 * cross_entropy(out, ep.query_y)
        np.testing.assert_allclose(
            mixup_loss(learner, params["model"], ep, jnp.float32(0.3), layer, perm), want, rtol=1e-5
        )


def _omniglot(**changes):
    c = with_overrides(
        default_config(),
        {
            "task.name": "omniglot",
            "model.name": "conv4",
            "eval.metric": "accuracy",
            "task.num_queries": 5,
            "meta_batch_size": 4,
        },
    )
    return with_overrides(c, changes)


@pytest.mark.parametrize(
    "config, message",
    [
        (
            _omniglot(**{"task.num_shots": 5, "task.num_queries": 16}),
            "an Omniglot character has only 20 drawings",
        ),
        (
            _omniglot(**{"task.setting": "shuffled"}),
            "unknown Omniglot setting 'shuffled' (task.setting)",
        ),
        (
            _omniglot(**{"model.name": "mlp"}),
            "task.name = 'omniglot' needs model.name in ['conv4']",
        ),
        (
            _omniglot(**{"eval.metric": "mse_clean"}),
            "unknown eval.metric (for the cross_entropy task 'omniglot') 'mse_clean'",
        ),
        (
            _omniglot(**{"learner.name": "protonet", "regularizers": ("metamix",)}),
            "metamix re-runs a model's later blocks",
        ),
        (
            with_overrides(default_config(), {"learner.name": "protonet"}),
            "is a classifier (class prototypes)",
        ),
        (
            with_overrides(default_config(), {"model.name": "conv4"}),
            "task.name = 'sinusoid' needs model.name in ['mlp']",
        ),
        (
            with_overrides(default_config(), {"learner.frozen_blocks": 3}),
            "freezes every block of a 3-block model",
        ),
        (
            with_overrides(default_config(), {"task.name": "chembl", "task.group": 7}),
            "unknown task.group (evaluation group) 7",
        ),
        (
            with_overrides(
                default_config(),
                {
                    "task.name": "pose",
                    "model.name": "pose_net",
                    "task.num_shots": 60,
                    "task.num_queries": 60,
                },
            ),
            "exceeds the 100 rendered views",
        ),
    ],
)
def test_classification_and_new_task_config_errors(config, message):
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert message in str(err.value)


def test_more_ways_than_classes_is_a_config_error(tmp_path):
    from metareg.assemble import build
    from metareg.data import omniglot

    if not all((omniglot.omniglot_dir() / f).is_file() for f in omniglot.ARCHIVE_FILES.values()):
        pytest.skip("the Omniglot zips are not in ../shared/data")

    c = _omniglot(**{"task.split": "lake", "task.ways": 700, "task.setting": "mutually_exclusive"})
    validate_config(c)
    with pytest.raises(
        ConfigError, match="700-way mutually-exclusive tasks need 700 distinct classes"
    ):
        build(c)
