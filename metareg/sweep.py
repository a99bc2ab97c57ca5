"""Run a grid of experiments (cells x seeds), resumable, skipping finished runs.

The grid is data in an experiment-grid file (experiments/grids/NAME.py) whose `get_grid()`
returns {"cells": {cell_name: (experiment_file, {override: value})}, "seeds": (...)}. Each run
is `python -m metareg.main` in ROOT/cell/seed_S; a run with results.json is skipped, a killed run
resumes from its checkpoint.

    python -m metareg.sweep --grid experiments/grids/table1_sinusoid.py --root runs/table1 [--workers 2]
    python -m metareg.sweep ... --evaluate   # evaluate every trained run again (e.g. after changing eval settings)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import subprocess
import sys
import time
from pathlib import Path


def load_grid(path: str) -> dict:
    spec = importlib.util.spec_from_file_location("grid", path)
    if spec is None or not Path(path).is_file():
        sys.exit(f"error: no grid file {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_grid()


def runs_of(grid: dict, root: Path):
    """(workdir, command) for every cell and seed, in grid order."""
    for cell, (experiment, overrides) in grid["cells"].items():
        for seed in grid["seeds"]:
            workdir = root / cell / f"seed_{seed}"
            cmd = [sys.executable, "-m", "metareg.main", f"--config={experiment}", f"--workdir={workdir}",
                   f"--config.seed={seed}", "--config.progress_bar=False"]
            cmd += [f"--config.{k}={v}" for k, v in overrides.items()]
            yield workdir, cmd


def run_one(workdir: Path, cmd: list[str], evaluate_only: bool = False) -> str:
    if evaluate_only:
        if not (workdir / "checkpoints").exists():
            return f"skip (not trained) {workdir}"
        cmd = cmd + ["--mode=evaluate"]
    elif (workdir / "results.json").exists():
        return f"skip {workdir}"
    workdir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    with open(workdir / "log.txt", "a") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    status = "done" if rc == 0 else f"FAILED rc={rc} (see {workdir / 'log.txt'})"
    return f"{status} {workdir} {time.perf_counter() - t:.0f}s"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--evaluate", action="store_true", help="re-evaluate trained runs (latest checkpoint), no training")
    args = parser.parse_args()
    runs = list(runs_of(load_grid(args.grid), Path(args.root)))
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        for line in pool.map(lambda r: run_one(*r, evaluate_only=args.evaluate), runs):
            print(line, flush=True)
            failed += "FAILED" in line
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
