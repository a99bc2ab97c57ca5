"""The workdir is the run (issue 37): commands read the run's own config, refuse a mismatch without
touching results.json, write evaluations beside it, check episode shapes at the door, save and load
API-trained states, print the config reference, and stop cleanly on a signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import chex
import jax
import jax.numpy as jnp
import optax
import pytest

import metareg
from metareg.config import with_overrides
from metareg.train import reevaluate, train_and_evaluate
from metareg.types import Episode, check_episode
from metareg.workdir import WorkdirError
from tests.conftest import ROOT


def test_evaluate_refuses_a_config_that_is_not_the_runs_and_leaves_results_json_as_it_was(
    tmp_path, quick_config
):
    quick_config.learner.name = "fomaml"
    train_and_evaluate(quick_config, tmp_path)
    before = (tmp_path / "results.json").read_bytes()
    other = with_overrides(quick_config.copy_and_resolve_references(), {"learner.name": "maml"})
    with pytest.raises(WorkdirError, match=r"learner.name: 'fomaml' -> 'maml'"):
        reevaluate(other, tmp_path)
    other = with_overrides(quick_config.copy_and_resolve_references(), {"learner.inner_lr": 0.05})
    with pytest.raises(WorkdirError, match=r"learner.inner_lr: 0.01 -> 0.05"):
        reevaluate(other, tmp_path)
    assert (tmp_path / "results.json").read_bytes() == before


def test_evaluate_writes_its_own_file_and_never_replaces_the_trainings_results(
    tmp_path, quick_config
):
    first = train_and_evaluate(quick_config, tmp_path)
    before = (tmp_path / "results.json").read_bytes()
    quick_config.eval.inner_steps, quick_config.eval.primary_inner_steps = (1, 4), 4
    again = reevaluate(quick_config, tmp_path, name="steps4")
    assert (tmp_path / "results.json").read_bytes() == before
    saved = json.loads((tmp_path / "eval" / "steps4.json").read_text())
    assert saved["metric"] == "mse_clean@4" and saved["eval"]["inner_steps"] == [1, 4]
    assert saved["metrics"]["mse_clean@1"] == first["metrics"]["mse_clean@1"]
    assert again["written_to"].endswith("eval/steps4.json")
    # a lost results.json comes back from the training's own evaluation, and only from it
    (tmp_path / "results.json").unlink()
    quick_config.eval.inner_steps, quick_config.eval.primary_inner_steps = (1, 10), 1
    back = reevaluate(quick_config, tmp_path)
    assert back["written_to"].endswith("results.json")
    restored = json.loads((tmp_path / "results.json").read_text())
    assert restored["metrics"] == json.loads(before)["metrics"]


def test_results_json_says_what_ran(tmp_path, quick_config):
    quick_config.regularizers = ("trlearner",)
    spec = {"experiment": "sinusoid_maml:quick", "overrides": {"regularizers": ["trlearner"]}}
    results = train_and_evaluate(quick_config, tmp_path, spec=spec)
    assert results["method"] == "maml+trlearner"
    assert results["run"] == spec
    assert json.loads((tmp_path / "run.json").read_text()) == spec


def test_flat_targets_are_refused_with_the_fix_named():
    ok = Episode(jnp.zeros((5, 1)), jnp.zeros((5, 1)), jnp.zeros((10, 1)), jnp.zeros((10, 1)))
    check_episode(ok, "mse", 1)
    flat = ok.replace(query_y=jnp.zeros((10,)))
    with pytest.raises(ValueError, match=r"query targets \[10, 1\].*y\[\.\.\., None\]"):
        check_episode(flat, "mse", 1)
    labels = Episode(
        jnp.zeros((6, 8, 8, 1)), jnp.zeros((6, 3)), jnp.zeros((6, 8, 8, 1)), jnp.zeros((6,), int)
    )
    with pytest.raises(ValueError, match="integer class labels of shape"):
        check_episode(labels, "cross_entropy", 3)
    with pytest.raises(ValueError, match=r"support_mask has shape \(4,\)"):
        check_episode(ok.replace(support_mask=jnp.ones(4)), "mse", 1)
    # evaluate() refuses a flat batch instead of scoring a broadcast loss
    learner = metareg.MAML(metareg.mlp(), inner_lr=0.01)
    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    params = metareg.MetaObjective(learner).init(jax.random.key(1), family.example_episode())
    episodes = family.sample_test(jax.random.key(2), 4)
    with pytest.raises(ValueError, match="y\\[\\.\\.\\., None\\]"):
        metareg.evaluate(params, learner, episodes.replace(query_y=episodes.query_y[..., 0]))
    # init_train_state refuses a flat example before any parameter is built
    example = family.example_episode()
    with pytest.raises(ValueError, match=r"support targets \[5, O\].*y\[\.\.\., None\]"):
        metareg.init_train_state(
            jax.random.key(1),
            metareg.MetaObjective(learner),
            optax.adam(1e-3),
            example.replace(support_y=example.support_y[:, 0]),
        )


def test_check_family_refuses_a_family_whose_episodes_do_not_fit_its_declared_loss():
    import flax

    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)

    @flax.struct.dataclass
    class Flat(metareg.RegressionFamily):
        def example_episode(self):
            e = super().example_episode()
            return e.replace(support_y=e.support_y[:, 0])

    flat = Flat(**{f: getattr(family, f) for f in family.__dataclass_fields__})
    with pytest.raises(TypeError, match=r"support targets \[5, 1\]"):
        metareg.check_family(flat)


def test_save_and_load_round_trip_a_state_and_parameters(tmp_path, quick_config):
    from metareg.assemble import build

    family, objective, optimizer, root = build(quick_config)
    state = metareg.init_train_state(
        jax.random.key(3), objective, optimizer, family.example_episode()
    )
    step = jax.jit(
        metareg.meta_train_step, static_argnames=("objective", "optimizer", "meta_batch_size")
    )
    state, _ = step(
        state,
        family,
        jax.random.key(4),
        objective=objective,
        optimizer=optimizer,
        meta_batch_size=4,
    )
    metareg.save(tmp_path / "state", state, config=quick_config)
    loaded = metareg.load(tmp_path / "state")
    assert isinstance(loaded.tree, metareg.TrainState)
    chex.assert_trees_all_equal(loaded.tree, state)
    assert loaded.config.to_dict() == quick_config.to_dict()
    metareg.save(tmp_path / "params", state.meta_params)
    params = metareg.load(tmp_path / "params", like=state.meta_params)
    chex.assert_trees_all_equal(params.tree, state.meta_params)
    assert params.config is None
    with pytest.raises(FileExistsError, match="not empty"):
        metareg.save(tmp_path / "params", state.meta_params)
    with pytest.raises(FileNotFoundError, match="nothing metareg.save wrote"):
        metareg.load(tmp_path)


def test_config_reference_gives_every_field_a_value_and_a_reason():
    from metareg import config_reference

    rows = config_reference.reference()
    missing = [r["field"] for r in rows if not r["why"]]
    assert not missing, f"fields without a comment in metareg/config.py's schema: {missing}"
    by = {r["field"]: r for r in rows}
    assert "trlearner" in by["regularizers"]["choices"]
    assert "maml" in by["learner.name"]["choices"]
    assert by["trlearner.weight"]["value"] == 0.6 and "lambda" in by["trlearner.weight"]["why"]


def test_the_config_reference_page_regenerates():
    from metareg import config_reference

    assert config_reference.DOCS_PAGE.read_text() == config_reference.markdown(), (
        "docs/config.md is stale: python -m metareg.config_reference --markdown > docs/config.md"
    )


def _cli(*args, cwd, env=None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "metareg.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        **kw,
    )


QUICK = [
    "--config.num_steps=60",
    "--config.log_every=20",
    "--config.checkpoint_every=20",
    "--config.eval.num_tasks=20",
    "--config.progress_bar=False",
]


@pytest.mark.slow
def test_train_resumes_from_the_workdirs_own_config_and_finishes_with_the_uninterrupted_numbers(
    tmp_path,
):
    overrides = ["--config.learner.name=fomaml", "--config.regularizers=('trlearner',)"]
    whole, part = tmp_path / "whole", tmp_path / "part"
    r = _cli("--config=sinusoid_maml:quick", f"--workdir={whole}", *QUICK, *overrides, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    first = [a.replace("num_steps=60", "num_steps=40") for a in QUICK]
    r = _cli("--config=sinusoid_maml:quick", f"--workdir={part}", *first, *overrides, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    # no experiment and no overrides but the length: the run's own config.json
    r = subprocess.run(
        [sys.executable, "-c", "from metareg.main import cli; cli()", "train",
         f"--workdir={part}", "--config.num_steps=60"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    a = json.loads((whole / "results.json").read_text())
    b = json.loads((part / "results.json").read_text())
    assert a["metrics"] == b["metrics"] and b["method"] == "fomaml+trlearner"
    assert b["run"]["overrides"]["learner.name"] == "fomaml"
    # naming the saved config.json works too, and evaluating from it writes eval/
    r = _cli(f"--config={part}/config.json", f"--workdir={part}", "--mode=evaluate",
             "--eval_name=again", cwd=ROOT)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads((part / "eval" / "again.json").read_text())["metrics"] == b["metrics"]


@pytest.mark.slow
def test_sigint_stops_with_one_line_and_the_run_resumes_to_the_same_numbers(tmp_path):
    args = ["--config=sinusoid_maml:quick", "--config.num_steps=4000", "--config.log_every=20",
            "--config.checkpoint_every=20", "--config.eval.num_tasks=20",
            "--config.progress_bar=False"]  # fmt: skip
    w = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "metareg.main", *args, f"--workdir={w}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 300
    while not (w / "checkpoints" / "40").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    # progress lines, then one line that says where it stopped and how to resume; no traceback
    lines = [line for line in err.splitlines() if line.strip() and "WARNING" not in line]
    assert lines[-1].startswith("interrupted (SIGINT) at step "), err
    assert "run the same command to resume" in lines[-1] and "Traceback" not in err
    assert sum("interrupted" in line for line in lines) == 1
    short = [a.replace("num_steps=4000", "num_steps=100") for a in args]
    r = _cli(*short, f"--workdir={w}", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    fresh = tmp_path / "fresh"
    r = _cli(*short, f"--workdir={fresh}", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    a = json.loads((w / "results.json").read_text())["metrics"]
    assert a == json.loads((fresh / "results.json").read_text())["metrics"]
