"""Workdirs that cannot lie: run identity on resume, one writer, a failed attempt changes nothing, torn lines."""

import json
import subprocess
import sys

import pytest

from metareg.config import ConfigError, validate_config
from metareg.train import train_and_evaluate
from metareg.workdir import WorkdirError, check_resume, exclusive
from tests.conftest import ROOT


def _snapshot(workdir):
    return {p.relative_to(workdir): p.read_bytes() for p in sorted(workdir.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize(("field", "value"), [("seed", 1), ("learner.name", "fomaml"), ("task.name", "harmonic"),
                                              ("learner.inner_lr", 0.02), ("regularizers", ("trlearner",))])
def test_resume_with_another_config_is_refused_naming_the_field(tmp_path, quick_config, field, value):
    train_and_evaluate(quick_config, tmp_path)
    before = _snapshot(tmp_path)
    node, *rest = field.split(".")
    if rest:
        quick_config[node][rest[0]] = value
    else:
        quick_config[node] = value
    with pytest.raises(WorkdirError, match=f"{field}: .* -> ") as e:
        train_and_evaluate(quick_config, tmp_path)
    assert "new --workdir" in str(e.value)
    assert _snapshot(tmp_path) == before  # nothing in the workdir changed


def test_raising_num_steps_is_a_resume_and_is_recorded_shortening_is_refused(tmp_path, quick_config):
    quick_config.num_steps = 40
    train_and_evaluate(quick_config, tmp_path)
    quick_config.num_steps, quick_config.eval.num_tasks = 60, 30
    r = train_and_evaluate(quick_config, tmp_path)
    assert r["resumed_from_step"] == 40 and r["num_resumes"] == 1
    assert {"field": "num_steps", "old": 40, "new": 60} in r["config_changes_on_resume"]
    assert r["train_time_s"] > r["train_time_s_this_process"] > 0  # times accumulate over the processes
    quick_config.num_steps = 20
    with pytest.raises(WorkdirError, match="checkpoint at step 60, beyond num_steps = 20"):
        train_and_evaluate(quick_config, tmp_path)


def test_a_second_writer_is_refused_at_once(tmp_path):
    with exclusive(tmp_path):
        code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from pathlib import Path; from metareg.workdir import exclusive\n"
                f"with exclusive(Path({str(tmp_path)!r})): pass")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "in use by another process" in out.stderr
    with exclusive(tmp_path):  # released: the next one gets it
        pass


def test_a_workdir_that_is_a_file_and_bad_values_get_messages(tmp_path, quick_config):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(WorkdirError, match="is a file"):
        train_and_evaluate(quick_config, f)
    for field, value, message in (("max_checkpoints", 0, "max_checkpoints must be >= 1"),
                                  ("learner.inner_lr", -0.1, "learner.inner_lr must be >= 0")):
        c = quick_config.copy_and_resolve_references()
        node, *rest = field.split(".")
        if rest:
            c[node][rest[0]] = value
        else:
            c[node] = value
        with pytest.raises(ConfigError, match=message):
            validate_config(c)


def test_a_torn_last_metrics_line_is_dropped_on_resume(tmp_path, quick_config):
    quick_config.num_steps = 40
    train_and_evaluate(quick_config, tmp_path)
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"step": 60, "loss": 0.1')  # killed mid-write
    quick_config.num_steps = 60
    train_and_evaluate(quick_config, tmp_path)
    rows = [json.loads(r)["step"] for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == [20, 40, 60]


def test_check_resume_allows_only_the_listed_fields():
    saved = {"seed": 0, "num_steps": 10, "eval": {"num_tasks": 5}, "model": {"hidden": [40, 40]}}
    ok = check_resume(ROOT, saved, {**saved, "num_steps": 20, "eval": {"num_tasks": 9}}, 10)
    assert {c["field"] for c in ok} == {"num_steps", "eval.num_tasks"}
    with pytest.raises(WorkdirError, match=r"model.hidden: \[40, 40\] -> \[40\]"):
        check_resume(ROOT, saved, {**saved, "model": {"hidden": [40]}}, 10)


def test_cli_works_from_any_directory_by_experiment_name_and_reports_progress(tmp_path):
    """`--config NAME:quick` from outside the project; without a terminal, status and progress lines on stderr."""
    cmd = [sys.executable, "-m", "metareg.main", "--config", "sinusoid_maml:quick", f"--workdir={tmp_path / 'run'}",
           "--config.num_steps=40", "--config.log_every=20", "--config.checkpoint_every=20", "--config.eval.num_tasks=10"]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "compiling the outer step" in out.stderr and "step 40/40" in out.stderr and "evaluating on 10" in out.stderr
    assert json.loads((tmp_path / "run" / "results.json").read_text())["steps"] == 40
    again = subprocess.run([*cmd[:-1], "--config.seed=3"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "seed: 0 -> 3" in again.stderr and "Traceback" not in again.stderr
