"""Run a grid of experiments (cells x seeds), resumable, skipping finished runs.

The grid is data in an experiment-grid file (experiments/grids/NAME.py) whose `get_grid()` returns
{"cells": {cell_name: (experiment_file, {override: value}[, seeds])}, "seeds": (...)}; a cell's own
seeds, if given, replace the grid's. Each run is `python -m metareg.main` in ROOT/cell/seed_S; a run
with results.json is skipped, a killed run resumes from its checkpoint.

    python -m metareg.sweep --grid experiments/grids/table1_sinusoid.py --root runs/table1
        [--workers 2]
    python -m metareg.sweep ... --only "k10/*" --skip "*mr_maml*" --seeds 1,2   # a part of the grid
    python -m metareg.sweep ... --evaluate --eval-name steps16   # every trained run evaluated
        again (new eval settings) into its eval/steps16.json; results.json stays the training's
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

from metareg.runtime import tuned_malloc_env


def load_grid(path: str) -> dict:
    spec = importlib.util.spec_from_file_location("grid", path)
    if spec is None or not Path(path).is_file():
        sys.exit(f"error: no grid file {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_grid()


def matches(name: str, patterns: str) -> bool:
    """Whether `name` matches any of the comma-separated glob `patterns`."""
    return any(fnmatch.fnmatch(name, p.strip()) for p in patterns.split(",") if p.strip())


def runs_of(
    grid: dict, root: Path, only: str = "*", skip: str = "", seeds: tuple[int, ...] | None = None
):
    """(workdir, command) for every cell and seed, seed-major: every cell gets seed 0 before any
    gets seed 1, so a sweep stopped early leaves every cell with about the same number of seeds.
    `only` / `skip` are comma-separated glob patterns on cell names (e.g. "sinusoid_w1/*",
    "*/maml,*/maml_metamix"); `seeds`, if given, keeps only those of the grid's seeds."""
    cells = {
        c: v
        for c, v in grid["cells"].items()
        if matches(c, only) and not (skip and matches(c, skip))
    }
    all_seeds = sorted(
        {s for spec in cells.values() for s in (spec[2] if len(spec) > 2 else grid["seeds"])}
    )
    for seed in all_seeds:
        if seeds is not None and seed not in seeds:
            continue
        for cell, (experiment, overrides, *own) in cells.items():
            if seed not in (own[0] if own else grid["seeds"]):
                continue
            workdir = root / cell / f"seed_{seed}"
            cmd = [
                sys.executable,
                "-m",
                "metareg.main",
                f"--config={experiment}",
                f"--workdir={workdir}",
                f"--config.seed={seed}",
                "--config.progress_bar=False",
            ]
            cmd += [f"--config.{k}={v}" for k, v in overrides.items()]
            yield workdir, cmd


def run_one(
    workdir: Path, cmd: list[str], evaluate_only: bool = False, eval_name: str | None = None
) -> str:
    if evaluate_only:
        if not (workdir / "checkpoints").exists():
            return f"skip (not trained) {workdir}"
        cmd = cmd + ["--mode=evaluate"] + ([f"--eval_name={eval_name}"] if eval_name else [])
    elif (workdir / "results.json").exists():
        return f"skip {workdir}"
    workdir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    with open(workdir / "log.txt", "a") as log:
        # The child gets the huge-page malloc tunable up front, so it need not
        # re-execute itself for it.
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=tuned_malloc_env())
    status = "done" if rc == 0 else f"FAILED rc={rc} (see {workdir / 'log.txt'})"
    return f"{status} {workdir} {time.perf_counter() - t:.0f}s"


def parse_seeds(text: str, parser: argparse.ArgumentParser) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        parser.error(f"--seeds {text!r}: expected comma-separated integers, e.g. --seeds 1,2")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--grid", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--only",
        default="*",
        help="comma-separated globs on cell names: run only the matching cells",
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated globs on cell names: leave the matching cells out",
    )
    parser.add_argument(
        "--seeds", default=None, help="comma-separated seeds: run only these of the grid's seeds"
    )
    parser.add_argument(
        "--evaluate",
        action="store_true",
        help="re-evaluate trained runs (latest checkpoint) into eval/NAME.json, no training",
    )
    parser.add_argument(
        "--eval-name",
        default=None,
        help="--evaluate: the evaluation's name (its file eval/NAME.json in every run; tables "
        "read it with --evaluation NAME)",
    )
    args = parser.parse_args()
    seeds = None if args.seeds is None else parse_seeds(args.seeds, parser)
    runs = list(runs_of(load_grid(args.grid), Path(args.root), args.only, args.skip, seeds))
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        evaluate = lambda r: run_one(*r, evaluate_only=args.evaluate, eval_name=args.eval_name)  # noqa: E731
        for line in pool.map(evaluate, runs):
            print(line, flush=True)
            failed += "FAILED" in line
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
