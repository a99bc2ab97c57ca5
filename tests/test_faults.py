"""Fault injection: a run killed with SIGKILL again and again, at start-up, while compiling, while
training, during a checkpoint save and during evaluation, finishes with the numbers of the run never
killed."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT

STEPS = 600
MIN_KILLS = 20


def _cmd(workdir):
    return [
        sys.executable,
        "-m",
        "metareg.main",
        "--config=experiments/sinusoid_trlearner.py:quick",
        f"--workdir={workdir}",
        f"--config.num_steps={STEPS}",
        "--config.log_every=10",
        "--config.checkpoint_every=20",
        "--config.eval.every=50",
        "--config.eval.curve_tasks=10",
        "--config.eval.num_tasks=20",
        "--config.eval.batch_size=20",
        "--config.meta_batch_size=5",
        "--config.progress_bar=False",
    ]


# Not the suite's shared compilation cache (tests/conftest.py): a run killed while compiling
# compiles cold, without any cache, so "compiling" is a real stage to kill in, as for a user's run.
COLD = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}


def _cached(cache):
    """The environment of a run that reads and writes every program in the cache folder `cache`."""
    return {
        **COLD,
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }


def _warm(cache, copy_to):
    """The environment of every other run: a private copy of the compilation cache the uninterrupted
    run wrote, so that a kill while a restart writes a new entry (a resumed run compiles a few
    programs of its own) tears only that copy."""
    shutil.copytree(cache, copy_to)
    return _cached(copy_to)


def _steps_on_disk(ckpt):
    return {p.name for p in ckpt.iterdir()} if ckpt.exists() else set()


def _wait_for(proc, condition, timeout=120):
    """Poll every 2 ms until `condition()` or the process ends; True if the condition came first."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if condition():
            return True
        time.sleep(0.002)
    return False


def _start(workdir, env):
    """The run as a process, and its stderr lines as they come (status lines:
    compiling, evaluating)."""
    proc = subprocess.Popen(
        _cmd(workdir),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    return proc, lines


def _kill_at(moment, proc, lines, workdir, rng):
    """Wait for `moment` in the run's life, then SIGKILL it; True if it was
    killed while still running."""
    ckpt, metrics = workdir / "checkpoints", workdir / "metrics.jsonl"
    if moment == "start-up":  # interpreter, imports, data, build
        time.sleep(rng.uniform(0.0, 2.0))
    elif moment == "compiling":
        _wait_for(proc, lambda: any("compiling" in line for line in lines))
        time.sleep(rng.uniform(0.0, 1.0))
    elif moment == "training":
        rows = len(metrics.read_text().splitlines()) if metrics.exists() else 0
        _wait_for(proc, lambda: metrics.exists() and len(metrics.read_text().splitlines()) > rows)
        time.sleep(rng.uniform(0.0, 0.2))
    elif (
        moment == "checkpoint save"
    ):  # a new step directory (or orbax's temporary one) before its digest
        before = _steps_on_disk(ckpt)
        _wait_for(
            proc,
            lambda: any(
                s not in before and not (ckpt / s / "digest.sha256").exists()
                for s in _steps_on_disk(ckpt)
            ),
        )
    elif moment == "evaluation":
        _wait_for(proc, lambda: any("evaluating on" in line for line in lines))
    alive = proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return alive


@pytest.mark.slow
def test_twenty_kills_at_every_stage_end_bit_identical(tmp_path):
    cache = tmp_path / "jax-cache"
    subprocess.run(
        _cmd(tmp_path / "straight"),
        cwd=ROOT,
        env=_cached(cache),
        check=True,
        capture_output=True,
        timeout=600,
    )
    straight = json.loads((tmp_path / "straight" / "results.json").read_text())

    workdir, rng = tmp_path / "killed", random.Random(0)
    kills = []
    # While training: start-up, compiling, training, checkpoint save in turn; then kills
    # during the final evaluation.
    for moments, wanted in (
        (["start-up", "compiling", "training", "checkpoint save"], MIN_KILLS - 4),
        (["evaluation"], 4),
    ):
        for attempt in range(3 * wanted):
            if sum(alive for m, alive in kills if m in moments) >= wanted:
                break
            assert not (workdir / "results.json").exists(), (
                f"the run finished before the kills were done: {kills}"
            )
            moment = moments[attempt % len(moments)]
            env = COLD if moment == "compiling" else _warm(cache, tmp_path / f"cache-{len(kills)}")
            proc, lines = _start(workdir, env)
            kills.append((moment, _kill_at(moment, proc, lines, workdir, rng)))
    print("kills (moment, process still running):", kills)
    assert sum(alive for _, alive in kills) >= MIN_KILLS, kills
    assert {m for m, alive in kills if alive} == {
        "start-up",
        "compiling",
        "training",
        "checkpoint save",
        "evaluation",
    }, kills

    out = subprocess.run(
        _cmd(workdir),
        cwd=ROOT,
        env=_warm(cache, tmp_path / "cache-final"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    resumed = json.loads((workdir / "results.json").read_text())
    assert resumed["metrics"] == straight["metrics"] and resumed["num_resumes"] > 0
    assert (workdir / "metrics.jsonl").read_text() == (
        tmp_path / "straight" / "metrics.jsonl"
    ).read_text()
