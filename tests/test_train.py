"""End-to-end: results files, same seed same numbers, resume, NaN guard, one trace
(SIGKILL: test_faults.py)."""

import json

import chex
import jax
import numpy as np
import pytest

import metareg
from metareg.train import NonFiniteLossError, train_and_evaluate
from tests.conftest import run_traced_steps

REQUIRED = ("experiment", "metric", "mean", "ci95", "num_tasks", "seed", "steps", "wall_time_s")


def _numbers(results):
    return {k: v for k, v in results["metrics"].items()}


def test_quick_run_writes_results_and_config(tmp_path, quick_config):
    results = train_and_evaluate(quick_config, tmp_path)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    for key in REQUIRED:
        assert key in on_disk
    assert on_disk["num_traces"] == 1 and on_disk["steps"] == 60 and on_disk["num_tasks"] == 20
    assert json.loads((tmp_path / "config.json").read_text())["learner"]["name"] == "maml"
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [20, 40, 60]
    assert list((tmp_path / "tensorboard").iterdir())
    assert results["mean"] == on_disk["mean"]
    # the machine it ran on: bit-identity holds only on the same CPU features and JAX build
    machine = on_disk["machine"]
    assert (
        machine["jax"] == jax.__version__ and machine["device_kind"] == jax.devices()[0].device_kind
    )
    assert machine["cpu"] and len(machine["cpu_flags_sha256"]) == 16


def test_same_seed_same_numbers_and_other_seed_differs(tmp_path, quick_config):
    quick_config.regularizers = ("trlearner", "metamix")
    a = train_and_evaluate(quick_config, tmp_path / "a")
    b = train_and_evaluate(quick_config, tmp_path / "b")
    assert _numbers(a) == _numbers(b)
    quick_config.seed = 1
    c = train_and_evaluate(quick_config, tmp_path / "c")
    assert _numbers(a) != _numbers(c)


def test_resume_continues_to_the_same_numbers(tmp_path, quick_config):
    quick_config.regularizers = ("trlearner", "metamix")
    straight = train_and_evaluate(quick_config, tmp_path / "straight")
    quick_config.num_steps = 40
    train_and_evaluate(quick_config, tmp_path / "resumed")
    quick_config.num_steps = 60
    resumed = train_and_evaluate(quick_config, tmp_path / "resumed")
    assert resumed["resumed_from_step"] == 40
    assert _numbers(straight) == _numbers(resumed)
    rows = [
        json.loads(r)["step"]
        for r in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    ]
    assert rows == [20, 40, 60]


def test_non_finite_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path, quick_config):
    quick_config.num_steps = 20
    train_and_evaluate(quick_config, tmp_path)
    quick_config.num_steps = 60
    quick_config.optimizer.learning_rate = 1e30  # parameters overflow on the next step
    # the workdir refuses a changed learning rate (tests/test_workdir.py): make it the run's own
    saved = json.loads((tmp_path / "config.json").read_text())
    saved["optimizer"]["learning_rate"] = 1e30
    (tmp_path / "config.json").write_text(json.dumps(saved))
    with pytest.raises(
        NonFiniteLossError, match=r"at step 2[1-9].*last good checkpoint \(step 20\)"
    ):
        train_and_evaluate(quick_config, tmp_path)
    saved = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert saved == [20]
    assert (
        not (tmp_path / "results.json").exists()
        or json.loads((tmp_path / "results.json").read_text())["steps"] == 20
    )


def test_outer_step_traces_once():
    learner = metareg.MAML(metareg.mlp(), inner_lr=0.01)
    objective = metareg.MetaObjective(learner, (metareg.TRLearner(), metareg.MetaMix()))
    state, _ = run_traced_steps(objective, 4)
    assert int(state.step) == 4


def test_reevaluate_a_finished_run_with_other_test_steps(tmp_path, quick_config):
    from metareg.train import reevaluate

    first = train_and_evaluate(quick_config, tmp_path)
    quick_config.eval.inner_steps = (1, 4)
    quick_config.eval.primary_inner_steps = 4
    again = reevaluate(quick_config, tmp_path)
    assert again["metrics"]["mse_clean@1"] == first["metrics"]["mse_clean@1"]
    assert "mse_clean@4" in again["metrics"] and again["metric"] == "mse_clean@4"
    assert again["evaluated_step"] == 60 and again["written_to"].startswith(str(tmp_path / "eval"))
    # the training's results are its own: untouched by a later evaluation
    assert json.loads((tmp_path / "results.json").read_text())["metric"] == "mse_clean@1"


def test_clip_norm_clips_the_meta_gradient_before_the_optimizer():
    from metareg.assemble import make_optimizer
    from metareg.config import default_config, with_overrides

    grads = {"w": jax.numpy.array([3.0, 4.0])}  # global norm 5
    for clip, expected in ((0.0, [-3.0, -4.0]), (10.0, [-3.0, -4.0]), (1.0, [-0.6, -0.8])):
        config = with_overrides(
            default_config(),
            {"optimizer.name": "sgd", "optimizer.learning_rate": 1.0, "optimizer.clip_norm": clip},
        )
        opt = make_optimizer(config)
        updates, _ = opt.update(grads, opt.init(grads))
        chex.assert_trees_all_close(updates, {"w": jax.numpy.array(expected)}, rtol=1e-6)


def test_curve_evaluation_changes_nothing_and_logs_both_task_sets(tmp_path, quick_config):
    quick_config.regularizers = ("trlearner", "metamix")
    plain = train_and_evaluate(quick_config, tmp_path / "plain")
    quick_config.eval.every, quick_config.eval.curve_tasks = 20, 12
    curved = train_and_evaluate(quick_config, tmp_path / "curved")
    assert _numbers(plain) == _numbers(curved)  # same final model
    plain_rows = [
        json.loads(r) for r in (tmp_path / "plain" / "metrics.jsonl").read_text().splitlines()
    ]
    curved_rows = [
        json.loads(r) for r in (tmp_path / "curved" / "metrics.jsonl").read_text().splitlines()
    ]
    for p, c in zip(plain_rows, curved_rows, strict=True):  # same trajectory, row for row
        assert {k: v for k, v in c.items() if not k.startswith("curve/")} == p
    # before adaptation (0 steps), after the training's step count (1), on
    # test and on training tasks
    for split in ("test", "train"):
        for steps in (0, 1):
            assert all(f"curve/{split}/mse_clean@{steps}" in r for r in curved_rows)
    # adaptation helps on fresh test tasks, and the curve point at the end is the final model's
    last = curved_rows[-1]
    assert last["curve/test/mse_clean@1"] < last["curve/test/mse_clean@0"]
    assert curved["curve_time_s"] > 0 and plain["curve_time_s"] == 0


def test_curve_requires_a_multiple_of_log_every(quick_config):
    from metareg.assemble import validate_config
    from metareg.config import ConfigError

    quick_config.eval.every = 30  # log_every is 20
    with pytest.raises(ConfigError, match="eval.every"):
        validate_config(quick_config)


def test_restore_run_is_public_at_top_level(tmp_path, quick_config):
    """The public restore path end to end. The re-evaluation is on fresh tasks, so its number has
    no stored value to equal and is only required to be finite; evaluate()'s numbers themselves are
    pinned against NumPy in tests/test_evaluate.py."""
    train_and_evaluate(quick_config, tmp_path)
    config, family, objective, meta_params = metareg.restore_run(tmp_path)
    assert config.seed == quick_config.seed and "model" in meta_params
    results = json.loads((tmp_path / "results.json").read_text())
    again = metareg.evaluate(
        meta_params, objective.learner, family.sample_test(jax.random.key(9), 20), (1,)
    )
    assert np.isfinite(again["mse_clean@1"]["mean"]) and results["num_tasks"] == 20


def test_restore_training_continues_like_the_command_line(tmp_path, quick_config):
    """restore_training gives what a notebook needs to go on training: 20 more jitted steps from a
    step-20 checkpoint end where the CLI's resumed run (to step 40) ends, bit for bit."""
    import chex
    import jax

    import metareg

    quick_config.num_steps = 20
    train_and_evaluate(quick_config, tmp_path / "run")
    run = metareg.restore_training(tmp_path / "run")
    assert int(run.state.step) == 20
    step = jax.jit(metareg.meta_train_step, static_argnums=(3, 4, 5))
    state = run.state
    for _ in range(20):
        state, _ = step(
            state,
            run.family,
            run.train_key,
            run.objective,
            run.optimizer,
            run.config.meta_batch_size,
        )
    quick_config.num_steps = 40
    train_and_evaluate(quick_config, tmp_path / "run")
    _, _, _, cli_params = metareg.restore_run(tmp_path / "run")
    chex.assert_trees_all_equal(state.meta_params, cli_params)
