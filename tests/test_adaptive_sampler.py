"""The adaptive task sampler (TRLearner's Algorithm 1): scores against closed forms, the
probabilities, the Gumbel top-k draw, the unchanged uniform path, and quick runs with the sampler
on."""

import dataclasses
import functools
import json
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import metareg
from metareg.assemble import validate_config
from metareg.config import ConfigError, default_config, with_overrides
from metareg.regularizers import make_regularizers
from metareg.rng import named_key
from metareg.samplers import (
    AdaptiveSampler,
    make_sampler,
    probability_entropy,
    sampling_probabilities,
    select_examples,
    select_tasks,
    task_difficulty,
    task_diversity,
    task_entropy,
)
from metareg.train import train_and_evaluate
from metareg.types import Episode
from metareg.workdir import WorkdirError, check_resume, config_dict
from tests.conftest import linear_model, needs_data, random_episodes, run_traced_steps

# ---------------------------------------------------------------- the three scores, by hand


def test_diversity_closed_form_on_orthogonal_rows_both_gram_forms():
    """Rows a e1, b e2 (n = 2 < d = 3, the n x n form): ZᵀZ = diag(a², b², 0), so the
    log-det is a sum of logs."""
    a, b, sigma = 2.0, 3.0, 0.5
    z = jnp.array([[a, 0.0, 0.0], [0.0, b, 0.0]])
    want = 0.5 * 2 * (math.log(1 + a * a / (2 * sigma**2)) + math.log(1 + b * b / (2 * sigma**2)))
    np.testing.assert_allclose(float(task_diversity(z, sigma)), want, rtol=1e-5)
    # n = 4 > d = 2 (the d x d form): rows a e1, b e2, c e1, 0 -> ZᵀZ = diag(a² + c², b²)
    c = 1.5
    z = jnp.array([[a, 0.0], [0.0, b], [c, 0.0], [0.0, 0.0]])
    want = (
        0.5
        * 4
        * (math.log(1 + (a * a + c * c) / (4 * sigma**2)) + math.log(1 + b * b / (4 * sigma**2)))
    )
    np.testing.assert_allclose(float(task_diversity(z, sigma)), want, rtol=1e-5)


def test_diversity_default_sigma_and_padding():
    z = jax.random.normal(jax.random.key(0), (5, 7))
    n, zz = 5, np.asarray(z, np.float64)
    want = 0.5 * n * np.linalg.slogdet(np.eye(7) + zz.T @ zz / (n * 0.1**2))[1]
    np.testing.assert_allclose(float(task_diversity(z)), want, rtol=1e-4)
    padded = jnp.concatenate(
        [z, 100.0 * jnp.ones((3, 7))]
    )  # padding rows with garbage: masked out, n stays 5
    mask = jnp.array([1.0] * 5 + [0.0] * 3)
    np.testing.assert_allclose(float(task_diversity(padded, mask=mask)), want, rtol=1e-4)


def test_entropy_closed_form_per_class():
    """Classes {a e1, c e1} and {b e2}:
    Σ_j (tr C_j / 2n) log(1 + |class j|² / (tr C_j ε²)), n = 3."""
    a, b, c, eps = 2.0, 3.0, 1.5, 0.4
    z = jnp.array([[a, 0.0, 0.0], [0.0, b, 0.0], [c, 0.0, 0.0]])
    labels = jax.nn.one_hot(jnp.array([0, 1, 0]), 3)  # class 2 is empty: contributes 0
    want = (2 / 6) * math.log(1 + (a * a + c * c) / (2 * eps**2)) + (1 / 6) * math.log(
        1 + b * b / (1 * eps**2)
    )
    np.testing.assert_allclose(float(task_entropy(z, labels, eps)), want, rtol=1e-5)
    # a zero label row (padding) belongs to no class: the same value with a garbage padded row
    padded_z = jnp.concatenate([z, jnp.full((1, 3), 50.0)])
    padded_labels = jnp.concatenate([labels, jnp.zeros((1, 3))])
    np.testing.assert_allclose(float(task_entropy(padded_z, padded_labels, eps)), want, rtol=1e-5)


def test_entropy_of_one_class_is_diversity_over_n():
    """Regression's single class: entropy = ½ logdet(I + ZᵀZ/(n ε²)) = diversity / n
    when σ = ε."""
    z = jax.random.normal(jax.random.key(1), (6, 4))
    np.testing.assert_allclose(
        float(task_entropy(z, jnp.ones((6, 1)), 0.1)), float(task_diversity(z, 0.1)) / 6, rtol=1e-5
    )


def test_difficulty_is_the_squared_gradient_norm_of_a_linear_model():
    grads = {"a": jnp.array([1.0, 2.0]), "b": {"c": jnp.array([[3.0]])}}
    np.testing.assert_allclose(float(task_difficulty(grads)), 14.0)
    # The sampler's scores of one task, linear f(x) = x w (g = identity, so Z = support_x):
    # difficulty = |(2/K) Xᵀ(Xw - y)|², diversity and entropy from Z = X.
    learner = metareg.MAML(linear_model())
    ep = metareg.types.task(random_episodes(jax.random.key(2), num_tasks=1, k=4, d=3), 0)
    theta = learner.model.init(jax.random.key(3), ep.support_x)
    x, y, w = (
        np.asarray(a, np.float64) for a in (ep.support_x, ep.support_y, theta["blocks_0"]["kernel"])
    )
    g = 2 / 4 * x.T @ (x @ w - y)
    sampler = AdaptiveSampler(sigma=0.3, eps=0.2)
    div, ent, diff = np.asarray(sampler.task_scores(learner, theta, ep))
    np.testing.assert_allclose(diff, np.sum(g * g), rtol=1e-5)
    np.testing.assert_allclose(
        div, 0.5 * 4 * np.linalg.slogdet(np.eye(3) + x.T @ x / (4 * 0.3**2))[1], rtol=1e-5
    )
    np.testing.assert_allclose(
        ent, 0.5 * np.linalg.slogdet(np.eye(3) + x.T @ x / (4 * 0.2**2))[1], rtol=1e-5
    )


def test_classification_scores_use_the_labels_as_classes():
    """A 2-way task on a linear 2-output model: the entropy's classes are the support labels."""
    import flax.linen as nn

    class Linear2(nn.Module):
        @nn.compact
        def __call__(self, x, start=0, end=None):
            end = 1 if end is None else end
            return nn.Dense(2, use_bias=False, name="blocks_0")(x) if start < 1 <= end else x

    learner = metareg.MAML(metareg.BlockModel(Linear2(), 1), loss_name="cross_entropy")
    x = jax.random.normal(jax.random.key(4), (4, 3))
    labels = jnp.array([0, 1, 1, 0])
    ep = Episode(support_x=x, support_y=labels, query_x=x, query_y=labels)
    theta = learner.model.init(jax.random.key(5), x)
    _, ent, _ = np.asarray(AdaptiveSampler().task_scores(learner, theta, ep))
    np.testing.assert_allclose(
        ent, float(task_entropy(x, jax.nn.one_hot(labels, 2), 0.1)), rtol=1e-6
    )


# ---------------------------------------------------------------- probabilities and the draw


def test_probabilities_sum_to_one_and_are_uniform_without_signal():
    scores = jax.random.normal(jax.random.key(6), (7, 3)) * jnp.array([50.0, 1.0, 1e4])
    p = np.asarray(sampling_probabilities(scores, (1.0, 0.5, 2.0), 0.7))
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-6)
    assert np.all(p > 0)
    uniform = np.full(7, 1 / 7)
    np.testing.assert_allclose(
        np.asarray(sampling_probabilities(scores, (0.0, 0.0, 0.0))), uniform, rtol=1e-6
    )
    equal = jnp.tile(jnp.array([[123.4, 5.0, 9e3]]), (7, 1))
    np.testing.assert_allclose(
        np.asarray(sampling_probabilities(equal, (1.0, 1.0, 1.0))), uniform, rtol=1e-6
    )
    np.testing.assert_allclose(
        float(probability_entropy(jnp.asarray(uniform))), math.log(7), rtol=1e-6
    )


def test_probabilities_closed_form_and_monotone_in_the_weighted_score():
    # Two candidates: standardized scores are -1 and +1 (population std), so
    # p = softmax([-w, w] / T).
    p = np.asarray(
        sampling_probabilities(jnp.array([[0.0, 0.0, 3.0], [2.0, 0.0, 3.0]]), (1.5, 1.0, 1.0), 0.5)
    )
    np.testing.assert_allclose(p[1], math.exp(3) / (math.exp(3) + math.exp(-3)), rtol=1e-5)
    # Many candidates: the order of p is the order of the weighted standardized score.
    scores = jax.random.normal(jax.random.key(7), (9, 3)) * jnp.array([10.0, 0.1, 1000.0])
    weights = jnp.array([1.0, 2.0, 0.5])
    p = np.asarray(sampling_probabilities(scores, weights))
    s = np.asarray(scores)
    weighted = ((s - s.mean(0)) / s.std(0)) @ np.asarray(weights)
    np.testing.assert_array_equal(np.argsort(p), np.argsort(weighted))
    # A non-finite score counts as average: p stays a distribution.
    bad = scores.at[2, 1].set(jnp.nan).at[4, 2].set(jnp.inf)
    assert np.all(np.isfinite(np.asarray(sampling_probabilities(bad, weights))))


def test_select_tasks_distinct_and_follows_the_probabilities():
    probs = jnp.array([0.1, 0.2, 0.3, 0.4])
    keys = jax.random.split(jax.random.key(8), 20_000)
    for k in (1, 2, 4):
        idx = np.asarray(jax.vmap(lambda key, k=k: select_tasks(key, probs, k))(keys))
        assert idx.shape == (20_000, k) and all(len(set(row)) == k for row in idx[:500])
        if k == 1:  # the first draw is exactly in proportion to p
            np.testing.assert_allclose(
                np.bincount(idx[:, 0], minlength=4) / 20_000, np.asarray(probs), atol=0.015
            )
        if (
            k == 2
        ):  # inclusion: P(i among 2) = p_i + Σ_{j != i} p_j p_i / (1 - p_j) (successive draws)
            p = np.asarray(probs, np.float64)
            want = [
                p[i] + sum(p[j] * p[i] / (1 - p[j]) for j in range(4) if j != i) for i in range(4)
            ]
            np.testing.assert_allclose(
                np.bincount(idx.ravel(), minlength=4) / 20_000, want, atol=0.015
            )
    assert np.asarray(
        jax.jit(select_tasks, static_argnums=2)(jax.random.key(9), probs, 3)
    ).shape == (3,)


# ---------------------------------------------------------------- in the outer step


def test_select_returns_candidates_by_index_and_diagnostics():
    learner = metareg.MAML(metareg.mlp((8,)))
    candidates = random_episodes(jax.random.key(10), num_tasks=6, k=5, d=1)
    theta = learner.model.init(jax.random.key(11), candidates.support_x[0])
    sampler = AdaptiveSampler(
        weights=(0.0, 0.0, 1.0), temperature=1e-3
    )  # nearly greedy on difficulty
    chosen, diag = sampler.select({"model": theta}, learner, candidates, jax.random.key(12), 3)
    scores = np.asarray(sampler.scores({"model": theta}, learner, candidates))
    top3 = np.argsort(-scores[:, 2])[:3]
    np.testing.assert_array_equal(
        np.sort(np.asarray(chosen.support_x)[:, 0, 0]),
        np.sort(np.asarray(candidates.support_x)[top3, 0, 0]),
    )
    assert set(diag) == {
        "sampler/diversity",
        "sampler/entropy",
        "sampler/difficulty",
        "sampler/prob_entropy",
    }
    np.testing.assert_allclose(float(diag["sampler/difficulty"]), scores[:, 2].mean(), rtol=1e-6)


def test_uniform_step_draws_the_same_meta_batch_as_before():
    """sampler=None: the meta-batch is
    family.sample_train(named_key(fold_in(key, step), "tasks"), T), as always."""
    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    objective = metareg.MetaObjective(
        metareg.MAML(metareg.mlp((8,)), inner_lr=0.01), (metareg.TRLearner(),)
    )
    optimizer = optax.adam(1e-3)
    state = metareg.init_train_state(
        jax.random.key(1), objective, optimizer, family.example_episode()
    )

    @jax.jit
    def by_hand(state, family, key):  # the step's draw and loss, written out
        step_key = jax.random.fold_in(key, state.step)
        episodes = family.sample_train(named_key(step_key, "tasks"), 6)
        return jax.value_and_grad(metareg.meta_loss, has_aux=True)(
            state.meta_params, episodes, named_key(step_key, "regularizers"), objective, state.step
        )

    step = jax.jit(
        functools.partial(
            metareg.meta_train_step, objective=objective, optimizer=optimizer, meta_batch_size=6
        )
    )
    _, metrics = step(state, family, jax.random.key(2))
    (_, want), grads = by_hand(state, family, jax.random.key(2))
    chex.assert_trees_all_close({k: metrics[k] for k in want}, want, rtol=1e-6)
    assert not any(k.startswith("sampler/") for k in metrics)
    np.testing.assert_allclose(
        float(metrics["grad_norm"]), float(optax.tree.norm(grads)), rtol=1e-6
    )


def test_default_and_explicit_uniform_runs_are_identical(tmp_path, quick_config):
    default = train_and_evaluate(quick_config, tmp_path / "default")
    quick_config.sampler.name = "uniform"
    explicit = train_and_evaluate(quick_config, tmp_path / "uniform")
    assert default["metrics"] == explicit["metrics"]
    assert (tmp_path / "default" / "metrics.jsonl").read_text() == (
        tmp_path / "uniform" / "metrics.jsonl"
    ).read_text()


def test_adaptive_step_traces_once():
    """A trace-count test (the full Algorithm 1 jits once): its metrics are only required to be
    finite and the entropy within [0, log C]; the scores, probabilities and draws it combines are
    pinned by the closed-form tests above."""
    learner = metareg.MAML(metareg.mlp(), inner_lr=0.01)
    objective = metareg.MetaObjective(
        learner, (metareg.TRLearner(meta_data="adaptive"),), sampler=AdaptiveSampler()
    )
    state, metrics = run_traced_steps(
        objective, 3
    )  # the full Algorithm 1: tasks and meta-data by the sampler
    assert int(state.step) == 3 and all(np.isfinite(float(v)) for v in metrics.values())
    assert 0 < float(metrics["sampler/prob_entropy"]) <= math.log(16) + 1e-5


def test_quick_sinusoid_run_with_the_adaptive_sampler(tmp_path, quick_config):
    """A smoke run through the CLI's path: a trained model's numbers have no value to derive, so
    only one trace and finite logs are required (the pieces are pinned above)."""
    quick_config.sampler.name = "adaptive"
    quick_config.regularizers = ("trlearner",)
    quick_config.num_steps = 40
    results = train_and_evaluate(quick_config, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert results["num_traces"] == 1 and math.isfinite(results["mean"])
    assert all(math.isfinite(r["loss"]) and math.isfinite(r["sampler/difficulty"]) for r in rows)


def _omniglot_ready() -> bool:
    from metareg.data import omniglot as og

    return all((og.omniglot_dir(None) / f).exists() for f in og.ARCHIVE_FILES.values())


@needs_data(_omniglot_ready, "Omniglot archives not in ../shared/data/omniglot")
def test_quick_omniglot_trlearner_steps_with_the_adaptive_sampler():
    """omniglot_maml:quick with TRLearner: the objective as train.py builds it, a few jitted
    steps (no evaluation). A smoke test of the wiring on real images: the metrics are only
    required to be finite (their pieces are pinned on synthetic tasks above)."""
    from experiments import omniglot_maml
    from metareg.assemble import build

    c = omniglot_maml.get_config("quick")
    c.regularizers, c.sampler.name = ("trlearner",), "adaptive"
    validate_config(c)
    family, objective, optimizer, root = build(c)
    assert objective.sampler == AdaptiveSampler(num_candidates=2 * c.meta_batch_size)
    assert (
        objective.regularizers[0].meta_data == "adaptive"
    )  # trlearner.meta_data = "sampler" follows sampler.name
    state = metareg.init_train_state(
        named_key(root, "init"), objective, optimizer, family.example_episode()
    )
    step = jax.jit(
        functools.partial(
            metareg.meta_train_step,
            objective=objective,
            optimizer=optimizer,
            meta_batch_size=c.meta_batch_size,
        )
    )
    for _ in range(3):
        state, metrics = step(state, family, named_key(root, "train"))
    assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    assert {"trlearner_loss", "sampler/entropy"} <= set(metrics)


# ---------------------------------------------------------------- config


def _adaptive(**changes):
    return with_overrides(default_config(), {"sampler.name": "adaptive", **changes})


def test_config_builds_the_sampler_and_rejects_what_cannot_run():
    assert make_sampler(default_config()) is None
    validate_config(_adaptive())
    s = make_sampler(_adaptive(**{"sampler.weights": (1, 0, 2), "sampler.temperature": 0.5}))
    assert s == AdaptiveSampler(
        num_candidates=50, weights=(1.0, 0.0, 2.0), temperature=0.5
    ) and hash(s) == hash(dataclasses.replace(s))
    assert make_sampler(_adaptive(**{"sampler.num_candidates": 30})).num_candidates == 30
    for changes, match in (
        ({"sampler.name": "greedy"}, "unknown sampler.name"),
        ({"sampler.num_candidates": 10}, "at least that many"),
        ({"sampler.weights": (1.0, 1.0)}, "3 numbers"),
        ({"sampler.temperature": 0.0}, "temperature must be > 0"),
        (
            {"task.pool_size": 40},
            "more than task.pool_size = 40",
        ),  # 2 x 25 candidates from 40 pool tasks
    ):
        with pytest.raises(ConfigError, match=match):
            validate_config(_adaptive(**changes))


def test_resume_with_another_sampler_is_refused(tmp_path):
    saved = config_dict(default_config())
    with pytest.raises(WorkdirError, match="sampler.name: 'uniform' -> 'adaptive'"):
        check_resume(tmp_path, saved, config_dict(_adaptive()), 100)
    with pytest.raises(WorkdirError, match="sampler.temperature"):
        check_resume(
            tmp_path,
            config_dict(_adaptive()),
            config_dict(_adaptive(**{"sampler.temperature": 2.0})),
            100,
        )


def test_sampler_is_a_static_part_of_the_objective():
    objective = metareg.MetaObjective(
        metareg.MAML(metareg.mlp()), sampler=AdaptiveSampler(num_candidates=8)
    )
    assert hash(objective) == hash(dataclasses.replace(objective))
    with pytest.raises(ValueError, match="at least|>= meta_batch_size"):
        objective.sampler.candidates_for(10)
    step = functools.partial(
        metareg.meta_train_step, objective=objective, optimizer=optax.sgd(0.1), meta_batch_size=4
    )
    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    state = metareg.init_train_state(
        jax.random.key(1), objective, optax.sgd(0.1), family.example_episode()
    )
    state, metrics = jax.jit(step)(state, family, jax.random.key(2))
    assert "sampler/diversity" in metrics


# -------------------------------------------------------------- TRLearner's meta-data (Section 4.1)


def test_select_examples_keeps_a_fraction_of_each_class_and_never_padding():
    labels = jnp.array([0, 0, 0, 0, 0, 1, 1, 2, 0, 0])
    real = jnp.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], jnp.float32)
    classes = jax.nn.one_hot(labels, 3) * real[:, None]
    for seed in range(20):
        for fraction, per_class in ((0.5, (3, 1, 1)), (0.2, (1, 1, 1)), (1.0, (5, 2, 1))):
            m = np.asarray(
                select_examples(
                    jax.random.key(seed),
                    jax.random.normal(jax.random.key(99 + seed), (10,)),
                    classes,
                    fraction,
                )
            )
            assert set(np.unique(m)) <= {0.0, 1.0} and m[8:].sum() == 0  # padding never kept
            assert (
                tuple(
                    int(m[np.asarray(labels) == j][: 8 if j == 0 else None].sum()) for j in range(3)
                )
                == per_class
            )


def test_select_examples_follows_the_logits_within_a_class():
    """One of three examples kept (fraction 1/3): it is example i with
    probability softmax(logits)_i."""
    logits = jnp.log(jnp.array([0.6, 0.3, 0.1]))
    classes = jnp.ones((3, 1))
    draws = jax.vmap(lambda k: select_examples(k, logits, classes, 1 / 3))(
        jax.random.split(jax.random.key(0), 4000)
    )
    assert np.all(np.asarray(draws).sum(axis=1) == 1)
    np.testing.assert_allclose(np.asarray(draws).mean(axis=0), [0.6, 0.3, 0.1], atol=0.03)


def test_example_scores_are_leave_one_out_shares_and_output_gradients():
    """Linear f(x) = x w (Z = support_x): diversity / entropy shares against task_diversity on the
    kept rows, and the difficulty |dl_j/df_j|^2 = (2 (f_j - y_j))^2 of the squared error, checked by
    hand."""
    learner = metareg.MAML(linear_model())
    ep = metareg.types.task(random_episodes(jax.random.key(2), num_tasks=1, k=4, d=3), 0)
    theta = learner.model.init(jax.random.key(3), ep.support_x)
    sampler = AdaptiveSampler(sigma=0.3, eps=0.2)
    scores = np.asarray(sampler.example_scores(learner, {"model": theta, "learner": {}}, ep))
    x = np.asarray(ep.support_x, np.float64)
    residual = x @ np.asarray(theta["blocks_0"]["kernel"], np.float64) - np.asarray(
        ep.support_y, np.float64
    )

    def div(rows, s):
        return (
            0.5 * len(rows) * np.linalg.slogdet(np.eye(3) + rows.T @ rows / (len(rows) * s**2))[1]
        )

    for j in range(4):
        rest = np.delete(x, j, axis=0)
        np.testing.assert_allclose(scores[j, 0], div(x, 0.3) - div(rest, 0.3), rtol=1e-4, atol=1e-5)
        # one class of every example:
        # entropy = (n / 2n) log det(I + Z^T Z / (n eps^2)) = div(., eps) / n
        np.testing.assert_allclose(
            scores[j, 1], div(x, 0.2) / 4 - div(rest, 0.2) / 3, rtol=1e-4, atol=1e-5
        )
        np.testing.assert_allclose(scores[j, 2], np.sum((2 * residual[j]) ** 2), rtol=1e-4)


def test_example_scores_mark_padding_and_the_mask_keeps_only_real_examples():
    learner = metareg.MAML(metareg.mlp())
    ep = metareg.types.task(random_episodes(jax.random.key(4), num_tasks=1, k=6, d=1), 0)
    ep = ep.replace(support_mask=jnp.array([1, 1, 1, 1, 0, 0], jnp.float32))
    meta_params = {"model": learner.model.init(jax.random.key(5), ep.support_x), "learner": {}}
    scores = np.asarray(AdaptiveSampler().example_scores(learner, meta_params, ep))
    assert np.all(np.isfinite(scores[:4])) and np.all(np.isnan(scores[4:]))
    m = np.asarray(
        AdaptiveSampler().meta_data_mask(learner, meta_params, ep, jax.random.key(6), 0.5)
    )
    assert m.sum() == 2 and m[4:].sum() == 0


def _trlearner_setup(num_tasks=4, k=6):
    learner = metareg.MAML(metareg.mlp(), inner_lr=0.01)
    episodes = random_episodes(jax.random.key(7), num_tasks=num_tasks, k=k, d=1)
    return learner, episodes


def test_trlearner_meta_data_is_the_relation_of_the_kept_examples():
    """meta_data="adaptive": the weights equal those computed from the kept examples alone (gathered
    into a smaller episode); with fraction 1 every example is kept and the penalty equals the plain
    one."""
    learner, episodes = _trlearner_setup()
    for tr_kind in ("learned", "fixed"):
        plain = metareg.TRLearner(relation=tr_kind)
        chosen = dataclasses.replace(plain, meta_data="adaptive", meta_data_fraction=0.5)
        objective = metareg.MetaObjective(learner, (plain,))
        meta_params = objective.init(jax.random.key(8), metareg.types.task(episodes, 0))
        params = meta_params["regularizers"].get("trlearner", {})
        masks = chosen.meta_data_masks(learner, meta_params, episodes, jax.random.key(9))
        assert np.all(np.asarray(masks).sum(axis=1) == 3)
        kept = jnp.asarray(np.argsort(-np.asarray(masks), axis=1, kind="stable")[:, :3, None])
        small = episodes.replace(
            support_x=jnp.take_along_axis(episodes.support_x, kept, axis=1),
            support_y=jnp.take_along_axis(episodes.support_y, kept, axis=1),
        )
        np.testing.assert_allclose(
            np.asarray(
                chosen.weights(
                    params, learner, meta_params["model"], episodes.replace(support_mask=masks)
                )
            ),
            np.asarray(plain.weights(params, learner, meta_params["model"], small)),
            rtol=1e-5,
            atol=1e-6,
        )
        phi = jax.vmap(learner.adapt, in_axes=(None, 0, 0))(
            meta_params, episodes.support_x, episodes.support_y
        )
        everything = dataclasses.replace(chosen, meta_data_fraction=1.0)
        np.testing.assert_allclose(
            float(
                everything.penalty(meta_params, learner, episodes, phi, key=jax.random.key(1))[0]
            ),
            float(plain.penalty(meta_params, learner, episodes, phi)[0]),
            rtol=1e-6,
        )
    with pytest.raises(ValueError, match="pass penalty"):
        chosen.penalty(meta_params, learner, episodes, phi)


def test_config_meta_data_follows_the_sampler_unless_set():
    def meta_data(**changes):
        c = with_overrides(default_config(), {"regularizers": ("trlearner",), **changes})
        validate_config(c)
        return make_regularizers(c)[0].meta_data

    assert meta_data() == "support"
    assert (
        meta_data(**{"sampler.name": "adaptive"}) == "adaptive"
    )  # one switch: the full Algorithm 1
    assert meta_data(**{"sampler.name": "adaptive", "trlearner.meta_data": "support"}) == "support"
    assert (
        meta_data(**{"trlearner.meta_data": "adaptive"}) == "adaptive"
    )  # uniform tasks, chosen meta-data
    for changes, match in (
        ({"trlearner.meta_data": "best"}, "trlearner.meta_data"),
        ({"trlearner.meta_data_fraction": 0.0}, r"\(0, 1\]"),
    ):
        with pytest.raises(ConfigError, match=match):
            meta_data(**changes)
