"""The run layout every table and figure reads, and the one spelling of a method.

A run is ROOT/<column>/<method>/seed_<s>/ with results.json (written at the end of training),
config.json and metrics.jsonl. The column is the path between ROOT and the method's directory: one
directory for the classification, drug and pose grids ("20way1shot_norot"), two for the regression
grids ("sinusoid_w1/k5"). A cell is (column, method); its runs are {seed: run}.
"""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import numpy as np

from metareg.regularizers import REGULARIZERS


def labeled_workdirs(text: str) -> dict[str, Path]:
    """{label: workdir} from the command lines' "LABEL=WORKDIR,LABEL=WORKDIR" argument."""
    out = {}
    for item in text.split(","):
        label, sep, workdir = item.partition("=")
        if not sep or not label or not workdir:
            raise SystemExit(
                f"--runs item {item!r} is not LABEL=WORKDIR: write e.g. "
                "--runs maml=runs/maml,trl=runs/maml_trlearner"
            )
        out[label] = Path(workdir)
    return out


def method_name(directory: str) -> str:
    """The canonical name of a method directory: regularizers joined to the backbone by "+", the
    backbone explicit ("maml_trlearner" and "trlearner" -> "maml+trlearner"; "anil+metamix" stays;
    a backbone variant keeps its suffix: "maml_inner4+trlearner")."""
    for r in REGULARIZERS:
        directory = directory.replace(f"_{r}", f"+{r}")
    parts = directory.split("+")
    starts_with_regularizer = any(
        parts[0] == r or parts[0].startswith(r + "_") for r in REGULARIZERS
    )
    return "+".join(["maml", *parts]) if starts_with_regularizer else directory


def cell_of(run_dir: Path, root: Path) -> tuple[tuple[str, str], int]:
    """ROOT/<column>/<method>/seed_<s> -> ((column, method), s)."""
    column = run_dir.parent.parent.relative_to(root).as_posix()
    return (column, method_name(run_dir.parent.name)), int(run_dir.name.split("_")[1])


def load_curve(workdir: str | Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one logged metric from a run's metrics.jsonl (only the rows that carry it:
    curve points, config.eval.every, are in some rows only)."""
    rows = [json.loads(r) for r in (Path(workdir) / "metrics.jsonl").read_text().splitlines() if r]
    rows = [r for r in rows if key in r]
    return np.array([r["step"] for r in rows]), np.array([r[key] for r in rows])


def final_train_loss(metrics_file: Path, steps: int, window: int = 200) -> float | None:
    """Mean training query loss (metrics.jsonl's "query_loss": the clean query loss after the
    training inner steps) over the last `window` outer steps; None without the file."""
    if not metrics_file.exists():
        return None
    logged_steps, values = load_curve(metrics_file.parent, "query_loss")
    last = values[logged_steps > steps - window]
    return float(np.mean(last)) if last.size else None


def _run_dirs(root: Path, file: str) -> list[Path]:
    """Every run directory under root that has `file` and a column (at any depth), sorted."""
    return sorted(f.parent for f in root.glob(f"**/seed_*/{file}") if f.parents[2] != root)


def collect(root: Path, evaluation: str | None = None) -> dict:
    """{(column, method): {seed: run}} of every finished run under root: its results.json, with its
    config.json as "config", the training query loss at the end as "train_query_loss" and its
    directory as "_dir". `evaluation`: a later evaluation's name (`metareg evaluate ...
    --eval_name NAME`, the run's eval/NAME.json): its metrics stand in for the training's, for the
    runs that have it (the others are left out)."""
    root = Path(root)
    cells = collections.defaultdict(dict)
    for run_dir in _run_dirs(root, "results.json"):
        run = json.loads((run_dir / "results.json").read_text())
        if evaluation is not None:
            path = run_dir / "eval" / f"{evaluation}.json"
            if not path.exists():
                continue
            later = json.loads(path.read_text())
            run.update({k: later[k] for k in ("metric", "mean", "ci95", "num_tasks", "metrics")})
            run["evaluated_step"] = later["evaluated_step"]
        config = run_dir / "config.json"
        run["config"] = json.loads(config.read_text()) if config.exists() else {}
        run["train_query_loss"] = final_train_loss(run_dir / "metrics.jsonl", run.get("steps", 0))
        run["_dir"] = str(run_dir)
        key, seed = cell_of(run_dir, root)
        cells[key][seed] = run
    return cells


def collect_at_step(root: Path, step: int, metric: str = "accuracy") -> dict:
    """Like `collect`, for runs stopped before their final evaluation (a wall-clock budget): each
    run's curve point at `step` (metrics.jsonl, config.eval.every) stands in for results.json, its
    fixed test tasks (config.eval.curve_tasks, the same for every method of a seed) for the fresh
    ones. `metric` is the family's ("accuracy", "mse_clean"); the primary is it after
    config.eval.primary_inner_steps."""
    root = Path(root)
    cells = collections.defaultdict(dict)
    prefix = "curve/test/"
    for run_dir in _run_dirs(root, "metrics.jsonl"):
        rows = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines() if r]
        point = next(
            (r for r in rows if r["step"] == step and any(k.startswith(prefix) for k in r)), None
        )
        if point is None:
            continue
        config = json.loads((run_dir / "config.json").read_text())
        tasks = config["eval"]["curve_tasks"]
        run = {
            "metric": f"{metric}@{config['eval']['primary_inner_steps']}",
            "metrics": {
                k[len(prefix) :]: {"mean": v, "ci95": float("nan"), "num_tasks": tasks}
                for k, v in point.items()
                if k.startswith(prefix)
            },
            "steps": step,
            "curve_until": step,  # memorization() reads no curve point after it
            "config": config,
            "_dir": str(run_dir),
        }
        key, seed = cell_of(run_dir, root)
        cells[key][seed] = run
    return cells


def regression_cells(cells: dict) -> dict:
    """{(family, K, method): runs} of the regression grids' cells, whose column is "<family>/k<K>"
    (other columns are left out)."""
    out = {}
    for (column, method), runs in cells.items():
        match = re.fullmatch(r"([^/]+)/k(\d+)", column)
        if match:
            out[(match[1], int(match[2]), method)] = runs
    return out
