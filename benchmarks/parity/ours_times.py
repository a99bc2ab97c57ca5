"""Our outer-step time, curve-point time and final-evaluation time for a parity config, in wall
clock and in this process's CPU time (all threads; on a loaded machine, pinned to one core, the CPU
time is the cost).

    taskset -c 1 python benchmarks/parity/ours_times.py experiments/omniglot_maml.py:reference \
        model.width=32 learner.inner_steps=1 eval.curve_tasks=50 eval.num_tasks=50 \
        --steps 20 --out t.json

The outer step is the jitted step a run compiles (benchmarks/common.compile_variant: metareg.train's
build, then meta_train_step), timed over `--steps` steps after 2 warm-up steps, a new key per step.
A curve point and the final evaluation are called twice through the code a run uses
(metareg.train.CurveEvaluator, evaluate_meta_params): the first call compiles, the second is timed.
Per-task times scale to a run's task counts (the evaluation is chunked by eval.batch_size).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def load_config(spec: str, overrides: list[str]):
    from metareg.assemble import validate_config
    from metareg.config import with_overrides

    path, _, arg = spec.partition(":")
    module_spec = importlib.util.spec_from_file_location("parity_experiment", REPO / path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    c = module.get_config(arg or None)
    values = {}
    for item in overrides:
        key, _, value = item.partition("=")
        try:
            values[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            values[key] = value
    with_overrides(c, values)
    validate_config(c)
    return c


def timed(fn) -> tuple[float, float, float]:
    """(first call's wall time, second call's wall time, second call's CPU time)."""
    import jax

    t = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    return first, time.perf_counter() - t, time.process_time() - c


def time_steps(config, steps: int) -> dict:
    import statistics

    import jax
    from common import compile_variant

    v = compile_variant(config, warmup=2)
    state, walls, cpus = v["state"], [], []
    for i in range(steps):
        key = jax.random.fold_in(v["key"], i)
        t, c = time.perf_counter(), time.process_time()
        state, _ = v["fn"](state, v["family"], key)
        jax.block_until_ready(state)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return {
        "compile_s": v["compile_s"],
        "steps_timed": steps,
        "median_s": statistics.median(walls),
        "mean_s": statistics.fmean(walls),
        "cpu_median_s": statistics.median(cpus),
        "cpu_mean_s": statistics.fmean(cpus),
        "intervals_s": walls,
        "cpu_intervals_s": cpus,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="experiments/NAME.py[:VARIANTS]")
    p.add_argument("overrides", nargs="*", help="FIELD=VALUE config overrides")
    p.add_argument("--steps", type=int, default=20, help="outer steps timed (0: none)")
    p.add_argument("--no-eval", action="store_true", help="time the outer step only")
    p.add_argument("--out", required=True)
    a = p.parse_args()

    from metareg.assemble import build
    from metareg.meta_step import init_train_state
    from metareg.rng import named_key
    from metareg.train import CurveEvaluator, evaluate_meta_params

    c = load_config(a.config, a.overrides)
    result = {"config": a.config, "overrides": a.overrides}
    if a.steps:
        result["step"] = time_steps(c, a.steps)
    if not a.no_eval:
        family, objective, optimizer, root = build(c)
        state = init_train_state(
            named_key(root, "init"), objective, optimizer, family.example_episode()
        )
        curve = CurveEvaluator(c, family, objective, root)
        first, wall, cpu = timed(lambda: curve(state.meta_params))
        # a curve point scores curve_tasks test tasks and as many training tasks
        result["curve"] = {
            "tasks": c.eval.curve_tasks,
            "inner_steps": list(curve.steps),
            "first_call_s": first,
            "point_s": wall,
            "point_cpu_s": cpu,
        }
        first, wall, cpu = timed(
            lambda: evaluate_meta_params(c, family, objective, root, state.meta_params)[1]
        )
        result["final_eval"] = {
            "tasks": c.eval.num_tasks,
            "inner_steps": list(c.eval.inner_steps),
            "first_call_s": first,
            "eval_s": wall,
            "eval_cpu_s": cpu,
        }
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "step"}))
    if "step" in result:
        print({k: v for k, v in result["step"].items() if not k.endswith("intervals_s")})


if __name__ == "__main__":
    main()
