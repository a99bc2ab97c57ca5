"""Workdirs that cannot lie: run identity on resume, one writer, a failed attempt changes nothing,
torn lines, unreadable checkpoints set aside, TensorBoard rebuilt."""

import errno
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from metareg.assemble import validate_config
from metareg.config import ConfigError
from metareg.train import train_and_evaluate
from metareg.workdir import WorkdirError, check_resume, exclusive
from tests.conftest import ROOT


def _snapshot(workdir):
    return {
        p.relative_to(workdir): p.read_bytes()
        for p in sorted(workdir.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", 1),
        ("learner.name", "fomaml"),
        ("task.name", "harmonic"),
        ("learner.inner_lr", 0.02),
        ("regularizers", ("trlearner",)),
    ],
)
def test_resume_with_another_config_is_refused_naming_the_field(
    tmp_path, quick_config, field, value
):
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


def test_raising_num_steps_is_a_resume_and_is_recorded_shortening_is_refused(
    tmp_path, quick_config
):
    quick_config.num_steps = 40
    train_and_evaluate(quick_config, tmp_path)
    quick_config.num_steps, quick_config.eval.num_tasks = 60, 30
    r = train_and_evaluate(quick_config, tmp_path)
    assert r["resumed_from_step"] == 40 and r["num_resumes"] == 1
    assert {"field": "num_steps", "old": 40, "new": 60} in r["config_changes_on_resume"]
    assert (
        r["train_time_s"] > r["train_time_s_this_process"] > 0
    )  # times accumulate over the processes
    quick_config.num_steps = 20
    with pytest.raises(WorkdirError, match="checkpoint at step 60, beyond num_steps = 20"):
        train_and_evaluate(quick_config, tmp_path)


def test_a_second_writer_is_refused_at_once(tmp_path):
    with exclusive(tmp_path):
        code = (
            f"import sys; sys.path.insert(0, {str(ROOT)!r}); from pathlib import Path; "
            "from metareg.workdir import exclusive\n"
            f"with exclusive(Path({str(tmp_path)!r})): pass"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
    assert out.returncode != 0 and "in use by another process" in out.stderr
    with exclusive(tmp_path):  # released: the next one gets it
        pass


def test_a_workdir_that_is_a_file_and_bad_values_get_messages(tmp_path, quick_config):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(WorkdirError, match="is a file"):
        train_and_evaluate(quick_config, f)
    for field, value, message in (
        ("max_checkpoints", 0, "max_checkpoints must be >= 1"),
        ("learner.inner_lr", -0.1, "learner.inner_lr must be >= 0"),
    ):
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
    # the run's length: the checkpoint's own step is a resume (nothing left to train is fine),
    # one step fewer is a shortening
    assert check_resume(ROOT, saved, saved, 10) == []
    with pytest.raises(WorkdirError, match="beyond num_steps = 9: a run cannot be shortened"):
        check_resume(ROOT, saved, {**saved, "num_steps": 9}, 10)
    assert check_resume(ROOT, saved, {**saved, "num_steps": 9}, None) == [
        {"field": "num_steps", "old": 10, "new": 9}
    ]  # no checkpoint yet: nothing to shorten


def test_checkpoint_digest_by_hand_covers_names_and_bytes(tmp_path):
    """sha256 over (relative path, NUL, bytes) of every file in sorted order, the digest file left
    out: a renamed file or a flipped byte changes it, and the check then fails."""
    import hashlib

    from metareg.workdir import (
        DIGEST_FILE,
        check_checkpoint_digest,
        checkpoint_digest,
        record_checkpoint_digest,
    )

    step = tmp_path / "100"
    (step / "state").mkdir(parents=True)
    (step / "state" / "a.bin").write_bytes(b"alpha")
    (step / "meta.json").write_bytes(b"{}")
    h = hashlib.sha256()
    for rel, data in (("meta.json", b"{}"), ("state/a.bin", b"alpha")):
        h.update(rel.encode() + b"\0")
        h.update(data)
    assert checkpoint_digest(step) == h.hexdigest()
    assert check_checkpoint_digest(step) is False  # no digest recorded: left to orbax
    record_checkpoint_digest(step)
    assert (step / DIGEST_FILE).read_text() == h.hexdigest() + "\n"
    assert checkpoint_digest(step) == h.hexdigest() and check_checkpoint_digest(step) is True
    (step / "state" / "a.bin").rename(step / "state" / "b.bin")  # same bytes, another name
    with pytest.raises(ValueError, match="differ from the digest"):
        check_checkpoint_digest(step)
    (step / "state" / "b.bin").rename(step / "state" / "a.bin")
    (step / "state" / "a.bin").write_bytes(b"alphA")
    with pytest.raises(ValueError, match="differ from the digest"):
        check_checkpoint_digest(step)


def test_cli_works_from_any_directory_by_experiment_name_and_reports_progress(tmp_path):
    """`--config NAME:quick` from outside the project; without a terminal, status and
    progress lines on stderr."""
    cmd = [
        sys.executable,
        "-m",
        "metareg.main",
        "--config",
        "sinusoid_maml:quick",
        f"--workdir={tmp_path / 'run'}",
        "--config.num_steps=40",
        "--config.log_every=20",
        "--config.checkpoint_every=20",
        "--config.eval.num_tasks=10",
    ]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (
        "compiling the outer step" in out.stderr
        and "step 40/40" in out.stderr
        and "evaluating on 10" in out.stderr
    )
    assert json.loads((tmp_path / "run" / "results.json").read_text())["steps"] == 40
    again = subprocess.run(
        [*cmd[:-1], "--config.seed=3"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert (
        again.returncode != 0 and "seed: 0 -> 3" in again.stderr and "Traceback" not in again.stderr
    )


def _corrupt(step_dir, how):
    data = max(
        (p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size
    )  # the array file
    if how == "bitflip":  # orbax reads this without error: only the recorded digest finds it
        b = bytearray(data.read_bytes())
        b[len(b) // 2] ^= 0xFF
        data.write_bytes(bytes(b))
    elif how == "truncated":
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    elif how == "partial":  # a step directory without its files, and no digest to check
        for p in step_dir.iterdir():
            shutil.rmtree(p) if p.is_dir() else p.unlink()


@pytest.mark.parametrize("how", ["bitflip", "truncated", "partial"])
def test_an_unreadable_latest_checkpoint_is_set_aside_and_the_older_one_resumed(
    tmp_path, quick_config, how, capsys
):
    straight = train_and_evaluate(quick_config, tmp_path / "straight")
    quick_config.num_steps = 40
    train_and_evaluate(quick_config, tmp_path / "run")
    _corrupt(tmp_path / "run" / "checkpoints" / "40", how)
    quick_config.num_steps = 60
    resumed = train_and_evaluate(quick_config, tmp_path / "run")
    assert resumed["resumed_from_step"] == 20 and resumed["metrics"] == straight["metrics"]
    assert "checkpoint 40 cannot be restored" in capsys.readouterr().err
    assert (tmp_path / "run" / "checkpoints_unreadable" / "40").is_dir()  # kept, not deleted


def _tensorboard_steps(logdir, tag):
    """Steps of `tag` in TFRecord event files (length, crc, event proto, crc),
    read without TensorFlow."""
    from tensorboardX.proto import event_pb2

    steps = []
    for path in sorted(logdir.glob("events.*")):
        data, i = path.read_bytes(), 0
        while i + 12 <= len(data):
            (n,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event.FromString(data[i + 12 : i + 12 + n])
            i += 12 + n + 4
            steps += [event.step for v in event.summary.value if v.tag == tag]
    return steps


def test_tensorboard_is_rebuilt_whole_from_metrics_on_resume(tmp_path, quick_config):
    quick_config.num_steps = 40
    train_and_evaluate(quick_config, tmp_path)
    for p in (tmp_path / "tensorboard").glob("events.*"):
        p.write_bytes(b"")  # a kill lost everything since the last flush
    quick_config.num_steps = 60
    train_and_evaluate(quick_config, tmp_path)
    assert _tensorboard_steps(tmp_path / "tensorboard", "loss") == [20, 40, 60]


def test_an_intact_checkpoint_that_does_not_fit_is_refused_not_set_aside(tmp_path, quick_config):
    quick_config.num_steps = 40
    train_and_evaluate(quick_config, tmp_path)
    before = _snapshot(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    saved["model"]["hidden"] = [
        8,
        8,
    ]  # the same config file, but the model code now builds other shapes
    (tmp_path / "config.json").write_text(json.dumps(saved))
    quick_config.model.hidden, quick_config.num_steps = (8, 8), 60
    with pytest.raises(WorkdirError, match="checkpoint 40 .* is intact but does not fit"):
        train_and_evaluate(quick_config, tmp_path)
    assert not (tmp_path / "checkpoints_unreadable").exists()
    assert {k: v for k, v in _snapshot(tmp_path).items() if k.name != "config.json"} == {
        k: v for k, v in before.items() if k.name != "config.json"
    }


def test_failures_become_one_line_messages_and_bugs_keep_their_traceback():
    from metareg.main import error_message

    try:  # a full disk as orbax reports it: the ENOSPC is the cause of another error
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("handle is closed") from inner
    except RuntimeError as e:
        assert "disk holding runs/x is full" in error_message(e, "runs/x")
    assert error_message(ConfigError("bad"), "w") == "config error: bad"
    assert error_message(WorkdirError("in use"), "w") == "error: in use"
    assert error_message(KeyError("a bug"), "w") is None


def test_console_script_lists_experiments_and_rejects_an_unknown_variant_in_one_line(tmp_path):
    script = Path(sys.executable).with_name(
        "metareg"
    )  # [project.scripts], installed by `make install`
    listing = subprocess.run(
        [script, "list"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert (
        listing.returncode == 0 and "omniglot_maml" in listing.stdout and "norot" in listing.stdout
    )
    bad = subprocess.run(
        [script, "train", "omniglot_maml:5shot,fiveway"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        "error: experiment 'omniglot_maml': unknown config variant 'fiveway'; "
        "use comma-separated tokens from "
        "['1shot', '20way', '5shot', '5way', 'cs', 'me', 'nme', 'norot', 'reference'] and quick"
    ]
    assert not (tmp_path / "runs").exists()
