r"""Outer-step speed on the sinusoid MLP, ours beside learn2learn's, written as JSON.

Configuration (the issue's and ../shared/anchors' l2l_maml.py): MLP 1-40-40-1, meta-batch 25,
10 support + 10 query points, 1 inner step, second-order MAML, Adam 1e-3. For each variant we
report compile time (lower + compile) and the median / min wall time of one jitted outer step
(episode sampling included, blocked until done), and the learn2learn anchor measured in the same
run on the same machine.

    python benchmarks/bench_step.py --out benchmarks/results/sinusoid_step.json \
        [--no-l2l] [--steps 300]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import optax
from common import anchor_step

import metareg

VARIANTS = {
    "maml": dict(regs=()),
    "fomaml": dict(regs=(), first_order=True),
    "maml+metamix": dict(regs=("metamix",)),
    "maml+trlearner": dict(regs=("trlearner",)),
    "maml+trlearner(top1)": dict(regs=("trlearner",), num_related=1),
    "maml+trlearner(top2)": dict(regs=("trlearner",), num_related=2),
    "maml+trlearner+metamix": dict(regs=("trlearner", "metamix")),
}


def compile_step(regs=(), first_order=False, num_related=None, meta_batch=25, shots=10, queries=10):
    """(compiled step, state, family, key, compile seconds) for one variant."""
    family = metareg.regression_family(
        "sinusoid", jax.random.key(0), num_shots=shots, num_queries=queries
    )
    learner = metareg.MAML(metareg.mlp(), inner_lr=0.01, num_steps=1, first_order=first_order)
    built = []
    for r in regs:
        built.append(
            metareg.TRLearner(num_related=num_related) if r == "trlearner" else metareg.MetaMix()
        )
    objective = metareg.MetaObjective(learner, tuple(built))
    optimizer = optax.adam(1e-3)
    state = metareg.init_train_state(
        jax.random.key(1), objective, optimizer, family.example_episode()
    )
    step = jax.jit(
        functools.partial(
            metareg.meta_train_step,
            objective=objective,
            optimizer=optimizer,
            meta_batch_size=meta_batch,
        ),
        donate_argnums=0,
    )
    key = jax.random.key(2)
    t = time.perf_counter()
    compiled = step.lower(state, family, key).compile()
    compile_s = time.perf_counter() - t
    for _ in range(20):  # warm-up
        state, _ = compiled(state, family, key)
    jax.block_until_ready(state)
    return {
        "fn": compiled,
        "state": state,
        "family": family,
        "key": key,
        "compile_s": compile_s,
        "times": [],
    }


def time_round(v: dict, steps: int):
    """Time `steps` single outer steps of a compiled variant, appending to its samples."""
    state = v["state"]
    for _ in range(steps):
        t = time.perf_counter()
        state, _ = v["fn"](state, v["family"], v["key"])
        jax.block_until_ready(state)
        v["times"].append(time.perf_counter() - t)
    v["state"] = state


def time_variants(steps: int, rounds: int) -> dict:
    """Compile every variant, then time them interleaved over `rounds` rounds, so that a slow
    phase of the machine affects all variants alike and the ratios stay honest."""
    variants = {name: compile_step(**kw) for name, kw in VARIANTS.items()}
    for _ in range(rounds):
        for v in variants.values():
            time_round(v, max(1, steps // rounds))
    return {
        name: {
            "compile_s": v["compile_s"],
            "median_step_s": statistics.median(v["times"]),
            "min_step_s": min(v["times"]),
            "steps_timed": len(v["times"]),
        }
        for name, v in variants.items()
    }


def learn2learn_step(steps: int) -> dict:
    """Build learn2learn beside the project (cached) and run its MAML anchor."""
    return anchor_step("sinusoid", steps)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results/sinusoid_step.json")
    parser.add_argument(
        "--steps", type=int, default=600, help="timed steps per variant, spread over the rounds"
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--l2l-steps", type=int, default=100)
    parser.add_argument("--no-l2l", action="store_true")
    args = parser.parse_args()

    l2l_before = None if args.no_l2l else learn2learn_step(args.l2l_steps)
    ours = time_variants(args.steps, args.rounds)
    for name, r in ours.items():
        print(
            f"{name:26s} compile {r['compile_s']:.2f}s  median {r['median_step_s'] * 1e3:.3f} ms",
            flush=True,
        )
    result = {
        "config": (
            "sinusoid MLP 1-40-40-1, meta-batch 25, 10 support + 10 query, 1 inner step, "
            "second order, Adam"
        ),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "jax": jax.__version__,
            "backend": jax.default_backend(),
        },
        "metareg": ours,
        "ratios": {
            name: ours[name]["median_step_s"] / ours["maml"]["median_step_s"]
            for name in ours
            if name != "maml"
        },
    }
    if not args.no_l2l:
        l2l = learn2learn_step(args.l2l_steps)
        if (
            "median_step_s" in l2l and "median_step_s" in l2l_before
        ):  # measured before and after ours
            l2l["runs_median_step_s"] = [l2l_before["median_step_s"], l2l["median_step_s"]]
            l2l["median_step_s"] = statistics.median(l2l["runs_median_step_s"])
        result["learn2learn"] = l2l
        if "median_step_s" in l2l:
            result["speedup_vs_learn2learn"] = {
                name: l2l["median_step_s"] / v["median_step_s"] for name, v in ours.items()
            }
            print(
                f"learn2learn median {l2l['median_step_s'] * 1e3:.2f} ms; "
                f"MAML speed-up x{result['speedup_vs_learn2learn']['maml']:.1f}"
            )
        else:
            print("learn2learn:", l2l["error"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
