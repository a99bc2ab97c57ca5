"""Bad configs are rejected at start with a message that names the field and the fix."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

import metareg
from metareg.assemble import validate_config
from metareg.config import ConfigError, default_config, with_overrides
from tests.conftest import ROOT


def _cfg(**changes):
    return with_overrides(default_config(), changes)


def test_default_config_is_valid_and_holds_the_documented_defaults():
    """validate_config accepts the defaults (it raises otherwise), which are methods.md's (MAML
    sinusoid: inner lr 0.01, one step, Adam 1e-3, meta-batch 25, 480-task pool, 600 test tasks;
    TRLearner lambda = 0.6; MetaMix Beta(0.5, 0.5) at hidden layers (1, 2); Meta-Aug U(-1, 1);
    MR-MAML beta 1e-5, rho -5: chosen on validation tasks, docs/results/mr_maml_beta.json), and
    every regularizer and learner built from the API without
    arguments has the CLI's values: a notebook and a CLI run train the same thing."""
    from metareg import regularizers as r

    c = default_config()
    assert validate_config(c).regularizers == ()  # nothing to build by default
    assert (c.learner.name, c.learner.inner_lr, c.learner.inner_steps) == ("maml", 0.01, 1)
    assert (c.optimizer.name, c.optimizer.learning_rate, c.meta_batch_size) == ("adam", 1e-3, 25)
    assert (c.task.name, c.task.num_shots, c.task.num_queries, c.task.pool_size) == (
        "sinusoid",
        5,
        10,
        480,
    )
    assert c.eval.num_tasks == 600 and tuple(c.regularizers) == ()
    assert (c.trlearner.weight, c.metamix.alpha, tuple(c.metamix.layers)) == (0.6, 0.5, (1, 2))
    assert (c.meta_aug.offset, c.mr_maml.beta, c.mr_maml.scale_init) == (1.0, 1e-5, -5.0)
    plain = lambda v: tuple(v) if isinstance(v, list | tuple) else v  # noqa: E731
    shared = {
        "trlearner": (
            r.TRLearner(),
            "weight num_heads init_noise relation weighting temperature representation "
            "stop_gradient meta_data_fraction",
        ),
        "metamix": (
            r.MetaMix(),
            "alpha layers strategy channel_shuffle cs_layers cs_start_step cs_prob",
        ),
        "meta_aug": (r.MetaAug(), "offset"),
        "mr_maml": (r.MRMAML(), "scale_init scale_init_std min_scale prior_std test_weights"),
    }
    for section, (api, fields) in shared.items():
        for field in fields.split():
            want = plain(c[section][field])  # the config rounds float32 eps to 8 digits
            want = pytest.approx(want, rel=1e-7) if isinstance(want, float) else want
            assert plain(getattr(api, field)) == want, (section, field)
    assert r.MRMAML().weight == c.mr_maml.beta
    learner = metareg.MAML(metareg.mlp())
    assert (learner.inner_lr, learner.num_steps) == (c.learner.inner_lr, c.learner.inner_steps)


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"learner.name": "reptile"},
            "unknown learner.name (learner) 'reptile'; choose from ['anil', 'fomaml', 'maml',",
        ),
        ({"regularizers": ("trlearner", "mixup")}, "unknown regularizer 'mixup'; choose from"),
        ({"regularizers": ("metamix", "metamix")}, "lists a name twice"),
        ({"task.name": "sinus"}, "unknown task.name (task family) 'sinus'"),
        (
            {"task.points_per_task": 12, "task.num_shots": 5, "task.num_queries": 10},
            "exceeds task.points_per_task = 12",
        ),
        ({"meta_batch_size": 500}, "meta_batch_size = 500 exceeds task.pool_size = 480"),
        (
            {"regularizers": ("metamix",), "metamix.layers": (0, 3)},
            "metamix.layers (0, 3) must be non-empty and within [0, 2]",
        ),
        ({"regularizers": ("trlearner",), "meta_batch_size": 1}, "meta_batch_size must be >= 2"),
        (
            {"regularizers": ("trlearner",), "trlearner.relation": "learnt"},
            "unknown trlearner.relation 'learnt'",
        ),
        ({"checkpoint_every": 150, "log_every": 100}, "must be a multiple of log_every"),
        (
            {"eval.primary_inner_steps": 5},
            "eval.primary_inner_steps (5) must be one of eval.inner_steps (1, 10)",
        ),
        ({"task.num_shots": 0}, "task.num_shots (0)"),
        ({"optimizer.clip_norm": -1.0}, "optimizer.clip_norm must be >= 0 (0 turns clipping off)"),
    ],
)
def test_bad_configs_are_rejected_with_a_clear_message(changes, message):
    with pytest.raises(ConfigError) as err:
        validate_config(_cfg(**changes))
    assert message in str(err.value)


@pytest.mark.parametrize(
    "changes, build, message",
    [
        ({"metamix.alpha": 0.0}, lambda r: r.MetaMix(alpha=0.0), "metamix.alpha must be > 0"),
        (
            {"metamix.strategy": "query"},
            lambda r: r.MetaMix(strategy="query"),
            "unknown metamix.strategy 'query'",
        ),
        (
            {"mr_maml.beta": -1.0},
            lambda r: r.MRMAML(weight=-1.0),
            "mr_maml.beta is the weight of a KL divergence",
        ),
        (
            {"mr_maml.test_weights": "median"},
            lambda r: r.MRMAML(test_weights="median"),
            "unknown mr_maml.test_weights 'median'",
        ),
        (
            {"mr_maml.blocks": (0, 0)},
            lambda r: r.MRMAML(blocks=(0, 0)),
            "mr_maml.blocks (0, 0) must be distinct",
        ),
        (
            {"trlearner.relation": "learnt"},
            lambda r: r.TRLearner(relation="learnt"),
            "unknown trlearner.relation 'learnt'",
        ),
        (
            {"trlearner.num_heads": 0},
            lambda r: r.TRLearner(num_heads=0),
            "trlearner.num_heads must be >= 1",
        ),
    ],
)
def test_the_api_refuses_a_regularizer_setting_with_the_cli_words(changes, build, message):
    """One rule, one place: the regularizer checks its fields when built, and the CLI's
    config check builds it."""
    from metareg import regularizers

    section = next(iter(changes)).split(".")[0]
    with pytest.raises(ConfigError) as cli:
        validate_config(_cfg(regularizers=(section,), **changes))
    with pytest.raises(ValueError) as api:
        build(regularizers)
    assert message in str(cli.value)
    assert str(api.value) == str(cli.value)


def test_config_typo_in_experiment_field_is_an_error():
    c = default_config()
    with pytest.raises(AttributeError, match="lerner"):
        c.lerner = 1  # locked: no new fields


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "metareg.main", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_rejects_unknown_experiment_and_lists_the_known_ones(tmp_path):
    r = _cli("--config=experiments/sinusoid_trlearnr.py:quick", f"--workdir={tmp_path}")
    assert r.returncode != 0
    assert "unknown experiment 'sinusoid_trlearnr'" in r.stderr and "sinusoid_trlearner" in r.stderr


def test_cli_rejects_override_typo(tmp_path):
    r = _cli(
        "--config=experiments/sinusoid_maml.py:quick",
        f"--workdir={tmp_path}",
        "--config.learner.inner_lrr=0.1",
    )
    assert r.returncode != 0
    assert "inner_lrr" in r.stderr


def test_cli_rejects_unknown_learner_before_training(tmp_path):
    r = _cli(
        "--config=experiments/sinusoid_maml.py:quick",
        f"--workdir={tmp_path}",
        "--config.learner.name=reptile",
    )
    assert r.returncode != 0
    assert "config error: unknown learner.name (learner) 'reptile'" in r.stderr
    assert not (tmp_path / "checkpoints").exists()


def test_cli_override_typo_names_the_field_without_a_traceback(tmp_path):
    r = _cli(
        "--config=experiments/sinusoid_maml.py:quick",
        f"--workdir={tmp_path}",
        "--config.task_chunck=-1",
    )
    assert r.returncode != 0
    assert "'task_chunck' is not a config field; did you mean 'task_chunk'?" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "changes, build, message",
    [
        (
            {"model.mlp_activation": "gelu"},
            lambda: metareg.mlp(activation="gelu").init(jax.random.key(0), jnp.zeros((2, 1))),
            "unknown MLP activation 'gelu' (model.mlp_activation)",
        ),
        (
            {"model.name": "conv4", "task.name": "omniglot", "eval.metric": "accuracy"}
            | {"task.num_queries": 5, "model.pool": "avg"},
            lambda: metareg.models.conv4(5, pool="avg").init(
                jax.random.key(0), jnp.zeros((2, 28, 28, 1))
            ),
            "unknown Conv4 pool 'avg' (model.pool)",
        ),
    ],
)
def test_a_model_refuses_a_field_with_the_cli_words(changes, build, message):
    """The model modules and the CLI's config check share one check per field."""
    with pytest.raises(ConfigError) as cli:
        validate_config(_cfg(**changes))
    with pytest.raises(ValueError) as api:
        build()
    assert message in str(cli.value)
    assert str(api.value) == str(cli.value)
