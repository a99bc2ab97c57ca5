"""Shared by the benchmarks: build a run's outer step from config overrides, compile it, time it."""

from __future__ import annotations

import functools
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

import jax

from metareg.assemble import build, validate_config
from metareg.config import default_config, with_overrides
from metareg.meta_step import init_train_state, meta_train_step
from metareg.rng import named_key


def configured(overrides: dict):
    """The default (sinusoid) config with dotted-key overrides, validated."""
    c = with_overrides(default_config(), overrides)
    validate_config(c)
    return c


def compile_variant(config, warmup: int = 10) -> dict:
    """The jitted outer step of a config, exactly as a run builds it: compile time, XLA's memory and
    cost analyses, and a warmed-up state to time from."""
    family, objective, optimizer, root = build(config)
    state = init_train_state(
        named_key(root, "init"), objective, optimizer, family.example_episode()
    )
    step = jax.jit(
        functools.partial(
            meta_train_step,
            objective=objective,
            optimizer=optimizer,
            meta_batch_size=config.meta_batch_size,
        ),
        donate_argnums=0,
    )
    return compile_step(step, state, family, named_key(root, "train"), warmup)


def compile_step(step, state, family, key, warmup: int = 10) -> dict:
    """Lower and compile a jitted outer step, record XLA's memory and cost analyses, warm it up."""
    t = time.perf_counter()
    compiled = step.lower(state, family, key).compile()
    compile_s = time.perf_counter() - t
    mem = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    for _ in range(warmup):
        state, _ = compiled(state, family, key)
    jax.block_until_ready(state)
    return {
        "fn": compiled,
        "state": state,
        "family": family,
        "key": key,
        "compile_s": compile_s,
        "times": [],
        # XLA's static analysis of the compiled step: buffers live at its peak (temporaries +
        # arguments + outputs)
        "peak_bytes": None
        if mem is None
        else int(mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes),
        "flops": None if not cost else float(cost.get("flops", 0.0)),
    }


def time_interleaved(variants: dict, steps: int, rounds: int):
    """Time `steps` single steps per variant, interleaved over `rounds` rounds so that a slow phase
    of the machine hits every variant alike."""
    for _ in range(rounds):
        for v in variants.values():
            state = v["state"]
            for _ in range(max(1, steps // rounds)):
                t = time.perf_counter()
                state, _ = v["fn"](state, v["family"], v["key"])
                jax.block_until_ready(state)
                v["times"].append(time.perf_counter() - t)
            v["state"] = state


def summary(v: dict) -> dict:
    return {
        "compile_s": v["compile_s"],
        "median_step_s": statistics.median(v["times"]),
        "min_step_s": min(v["times"]),
        "steps_timed": len(v["times"]),
        "peak_bytes": v["peak_bytes"],
        "flops": v["flops"],
    }


ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "anchors"


def learn2learn_python() -> tuple[str, dict] | str:
    """(python, env) of learn2learn's venv, built beside the project by ../shared/anchors (cached),
    or an error."""
    setup = ANCHORS / "setup_learn2learn.sh"
    if not setup.exists():
        return f"no anchor script at {setup}"
    out = subprocess.run(["bash", str(setup)], capture_output=True, text=True)
    py = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    if not py or not Path(py).exists():
        return f"learn2learn set-up failed: {out.stderr[-500:]}"
    return py, {**os.environ, "PYTHONPATH": str(Path(py).parents[1] / "stubs")}


def anchor_step(kind: str, steps: int, *extra: str, env_extra: dict | None = None) -> dict:
    """learn2learn's MAML step time from ../shared/anchors/l2l_maml.py (`kind` sinusoid or
    omniglot)."""
    found = learn2learn_python()
    if isinstance(found, str):
        return {"error": found}
    py, env = found
    env = {**env, **(env_extra or {})}
    run = subprocess.run(
        [py, str(ANCHORS / "l2l_maml.py"), kind, str(steps), *extra],
        capture_output=True,
        text=True,
        env=env,
    )
    m = re.search(r"median_step_s=([\d.]+) min=([\d.]+)", run.stdout)
    if not m:
        return {"error": run.stdout[-300:] + run.stderr[-500:]}
    return {
        "median_step_s": float(m.group(1)),
        "min_step_s": float(m.group(2)),
        "steps_timed": steps,
    }
