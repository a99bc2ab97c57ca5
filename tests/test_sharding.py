"""The task axis sharded over 8 virtual CPU devices gives the single-device
numbers; checkpoints move.

Each check runs in a subprocess, since the device count is fixed when JAX starts
(XLA_FLAGS=--xla_force_host_platform_device_count=8).
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

SHARDED_EQUALS_SINGLE = textwrap.dedent(
    """
    import functools, json, sys
    import jax, numpy as np, optax
    import metareg
    from metareg.sharding import replicate, task_mesh, task_sharding

    assert len(jax.devices()) == 8, jax.devices()
    regs = {
        "maml": (),
        "maml+trlearner+metamix": (metareg.TRLearner(), metareg.MetaMix()),
    }[sys.argv[1]]
    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    objective = metareg.MetaObjective(metareg.MAML(metareg.mlp(), inner_lr=0.01), regs)
    optimizer = optax.adam(1e-3)
    state0 = metareg.init_train_state(
        jax.random.key(1), objective, optimizer, family.example_episode()
    )
    key = jax.random.key(2)

    def run(sharding, state, family):
        step = jax.jit(functools.partial(metareg.meta_train_step, objective=objective,
                                         optimizer=optimizer, meta_batch_size=16,
                                         task_sharding=sharding))
        losses = []
        for _ in range(5):
            state, m = step(state, family, key)
            losses.append(float(m["loss"]))
        return state, losses

    single, l1 = run(None, state0, family)
    mesh = task_mesh(0)
    sharded, l8 = run(task_sharding(mesh), replicate(state0, mesh), replicate(family, mesh))
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(jax.tree_util.tree_leaves(single.meta_params),
                               jax.tree_util.tree_leaves(sharded.meta_params)))
    print(json.dumps({
        "losses_single": l1,
        "losses_sharded": l8,
        "max_param_diff": diff,
        "sharded_on": len(sharded.meta_params["model"]["blocks_0"]["kernel"].sharding.device_set),
    }))
    """
)


def _python(code_or_args, devices, *args):
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "JAX_PLATFORMS": "cpu",
    }
    cmd = (
        [sys.executable, "-c", code_or_args, *args] if devices else [sys.executable, *code_or_args]
    )
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("objective", ["maml", "maml+trlearner+metamix"])
def test_sharded_step_equals_single_device_step(objective):
    r = _python(SHARDED_EQUALS_SINGLE, 8, objective)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["sharded_on"] == 8
    assert out["max_param_diff"] < 1e-5, out
    for a, b in zip(out["losses_single"], out["losses_sharded"], strict=True):
        assert abs(a - b) <= 1e-5 * max(1.0, abs(a)), out


def _train(workdir, devices, steps, task_devices):
    args = [
        "-m",
        "metareg.main",
        "--config=experiments/sinusoid_trlearner.py:quick",
        f"--workdir={workdir}",
        f"--config.num_steps={steps}",
        "--config.log_every=20",
        "--config.checkpoint_every=20",
        "--config.meta_batch_size=8",
        f"--config.mesh.task_devices={task_devices}",
        "--config.eval.num_tasks=20",
        "--config.progress_bar=False",
    ]
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "JAX_PLATFORMS": "cpu",
    }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_checkpoint_written_on_8_devices_restores_on_1(tmp_path):
    r = _train(tmp_path / "run", 8, 40, 0)
    assert r.returncode == 0, r.stderr[-3000:]
    r = _train(tmp_path / "run", 1, 60, 1)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["resumed_from_step"] == 40 and results["steps"] == 60


def test_more_devices_than_visible_is_a_clear_error(tmp_path):
    r = _train(tmp_path / "run", 1, 20, 4)
    assert r.returncode != 0
    assert "config error: mesh.task_devices = 4 but only 1 cpu device(s) are visible" in r.stderr
    assert "Traceback" not in r.stderr


def test_two_processes_of_four_devices_equal_one_process_of_eight(tmp_path):
    """A multi-host run rehearsed on localhost (jax.distributed, gloo): same results as one host."""
    single = _train(tmp_path / "single", 8, 40, 0)
    assert single.returncode == 0, single.stderr[-3000:]
    port = 20000 + os.getpid() % 20000
    procs = []
    for pid in range(2):
        args = [
            "-m",
            "metareg.main",
            "--config=experiments/sinusoid_trlearner.py:quick",
            f"--workdir={tmp_path / 'multi'}",
            "--config.num_steps=40",
            "--config.log_every=20",
            "--config.checkpoint_every=20",
            "--config.meta_batch_size=8",
            "--config.mesh.task_devices=0",
            "--config.eval.num_tasks=20",
            "--config.progress_bar=False",
            "--config.distributed.enabled=True",
            f"--config.distributed.coordinator_address=127.0.0.1:{port}",
            "--config.distributed.num_processes=2",
            f"--config.distributed.process_id={pid}",
        ]
        env = {
            **os.environ,
            "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
            "JAX_PLATFORMS": "cpu",
        }
        pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, **pipes))
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    multi = json.loads((tmp_path / "multi" / "results.json").read_text())
    one = json.loads((tmp_path / "single" / "results.json").read_text())
    assert multi["num_processes"] == 2 and multi["num_devices"] == 8
    for name, value in one["metrics"].items():
        assert abs(value["mean"] - multi["metrics"][name]["mean"]) <= 1e-4 * abs(value["mean"]), (
            name,
            value,
            multi["metrics"][name],
        )
    rows = (tmp_path / "multi" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == [20, 40]  # written once, by process 0
