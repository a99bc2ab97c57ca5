"""Choose a hyper-parameter the papers do not give on validation tasks, never on the test tasks.

A tuning grid trains one cell per candidate value, ROOT/<column>/<value name>/seed_<s> (e.g.
experiments/grids/anil_inner_lr.py). Each trained run is scored on its own validation tasks: fresh
tasks drawn from the run seed's `validation` key, disjoint in randomness from the `test` key that
results.json reports. Per column the value with the best mean validation metric over seeds wins.
Beside it, for each value: how many validation tasks diverge at the largest test step count, and the
share of tasks whose inner-loss sharpness times the inner lr exceeds 2 (metareg.curvature), the
condition under which more inner steps diverge.

    python -m metareg.tune --root runs/anil_inner_lr --field learner.inner_lr
        --out docs/results/anil_inner_lr.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np

from metareg.curvature import inner_sharpness
from metareg.evaluate import evaluate, sample_test_episodes
from metareg.metrics import HIGHER_IS_BETTER
from metareg.rng import named_key, root_key
from metareg.types import Episode
from metareg.workdir import restore_run


def validation_episodes(config, family, num_tasks: int):
    """The run seed's validation tasks (key `validation`; the test tasks come from key `test`)."""
    return sample_test_episodes(family, named_key(root_key(config.seed), "validation"), num_tasks)


def validate_run(workdir: Path, num_tasks: int = 600) -> dict:
    """Validation metrics of a trained run, and its inner-loss sharpness x inner lr per
    validation task."""
    config, family, objective, meta_params = restore_run(workdir)
    learner = objective.learner
    episodes = validation_episodes(config, family, num_tasks)
    metrics = evaluate(
        meta_params, learner, episodes, tuple(config.eval.inner_steps), config.eval.batch_size
    )
    out = {"value": None, "metrics": metrics}
    # a materialized batch (the regression families), not IndexedEpisodes
    if isinstance(episodes, Episode):
        sharp = jax.vmap(lambda x, y: inner_sharpness(learner, meta_params, x, y))(
            episodes.support_x, episodes.support_y
        )
        lr_sharp = np.asarray(sharp) * config.learner.inner_lr
        out["lr_times_sharpness"] = {
            "median": float(np.median(lr_sharp)),
            "fraction_above_2": float(np.mean(lr_sharp > 2)),
        }
    return out


def _get(config: dict, dotted: str):
    for part in dotted.split("."):
        config = config[part]
    return config


def select(root: Path, field: str, metric: str | None = None, num_tasks: int = 600) -> dict:
    """{column: {"values": {value: summary}, "best": value}} over ROOT/<column>/<name>/seed_<s>."""
    out = {}
    for column in sorted(p for p in root.iterdir() if p.is_dir()):
        values = {}
        for run in sorted(column.glob("*/seed_*")):
            if not (run / "results.json").exists():
                continue
            config = json.loads((run / "config.json").read_text())
            v = validate_run(run, num_tasks)
            name = metric or f"{config['eval']['metric']}@{config['eval']['primary_inner_steps']}"
            last = f"{config['eval']['metric']}@{max(config['eval']['inner_steps'])}"
            entry = values.setdefault(
                str(_get(config, field)),
                {
                    "validation": [],
                    "last_mean": [],
                    "last_median": [],
                    "nonfinite_last": [],
                    "fraction_above_2": [],
                },
            )
            entry["validation"].append(v["metrics"][name]["mean"])
            entry["last_mean"].append(v["metrics"][last]["mean"])
            entry["last_median"].append(v["metrics"][last]["median"])
            entry["nonfinite_last"].append(v["metrics"][last]["num_nonfinite"])
            entry["fraction_above_2"].append(
                v.get("lr_times_sharpness", {}).get("fraction_above_2")
            )
            entry["metric"], entry["last"] = name, last
        if not values:
            continue
        for entry in values.values():
            entry["mean"] = float(np.mean(entry["validation"]))
        higher = next(iter(values.values()))["metric"].split("@")[0] in HIGHER_IS_BETTER
        pick = max if higher else min
        out[column.name] = {"values": values, "best": pick(values, key=lambda k: values[k]["mean"])}
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--root", required=True, help="the tuning grid's root: ROOT/<column>/<value name>/seed_<s>"
    )
    p.add_argument("--field", required=True, help="the tuned config field, e.g. learner.inner_lr")
    p.add_argument("--metric", help="validation metric (default: each run's primary)")
    p.add_argument("--num-tasks", type=int, default=600)
    p.add_argument("--out", required=True, help="JSON path")
    args = p.parse_args()
    root = Path(args.root)
    if not root.is_dir():
        raise SystemExit(
            f"error: no tuning grid at {root}: train it first (python -m metareg.sweep "
            f"--grid ... --root {root})"
        )
    result = select(root, args.field, args.metric, args.num_tasks)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"field": args.field, "columns": result}, indent=2) + "\n")
    for column, r in result.items():
        print(f"{column}: best {args.field} = {r['best']}")
        for value, e in r["values"].items():
            print(
                f"  {value}: validation {e['metric']} {e['mean']:.4f} over {len(e['validation'])} "
                f"seeds; {e['last']} mean {np.round(e['last_mean'], 3).tolist()} median "
                f"{np.round(e['last_median'], 3).tolist()}, non-finite {e['nonfinite_last']}; "
                f"share of tasks with lr x sharpness > 2: {e['fraction_above_2']}"
            )


if __name__ == "__main__":
    main()
