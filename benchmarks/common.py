"""Shared by the benchmarks: build a run's outer step from config overrides, compile it, time it."""

from __future__ import annotations

import functools
import statistics
import time

import jax

from metareg.config import default_config, validate_config
from metareg.meta_step import init_train_state, meta_train_step
from metareg.rng import named_key
from metareg.train import build


def configured(overrides: dict):
    """The default (sinusoid) config with dotted-key overrides, validated."""
    c = default_config()
    for key, value in overrides.items():
        node = c
        *path, leaf = key.split(".")
        for p in path:
            node = node[p]
        node[leaf] = value
    validate_config(c)
    return c


def compile_variant(config, warmup: int = 10) -> dict:
    """The jitted outer step of a config, exactly as a run builds it: compile time, XLA's memory and
    cost analyses, and a warmed-up state to time from."""
    family, objective, optimizer, root = build(config)
    state = init_train_state(named_key(root, "init"), objective, optimizer, family.example_episode())
    step = jax.jit(functools.partial(meta_train_step, objective=objective, optimizer=optimizer,
                                     meta_batch_size=config.meta_batch_size), donate_argnums=0)
    key = named_key(root, "train")
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
        "fn": compiled, "state": state, "family": family, "key": key, "compile_s": compile_s, "times": [],
        # XLA's static analysis of the compiled step: buffers live at its peak (temporaries + arguments + outputs)
        "peak_bytes": None if mem is None else int(mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes),
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
    return {"compile_s": v["compile_s"], "median_step_s": statistics.median(v["times"]), "min_step_s": min(v["times"]),
            "steps_timed": len(v["times"]), "peak_bytes": v["peak_bytes"], "flops": v["flops"]}
