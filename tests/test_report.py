"""Tables, sweeps and figures from runs' files: synthetic results.json trees with known answers."""

import argparse
import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from metareg import sweep
from metareg.analysis import paper, report, runs
from metareg.analysis.figures import relation_heatmaps
from metareg.train import train_and_evaluate
from metareg.workdir import load_run_config, restore_run

METRIC = "mse_clean@1"


def write_run(
    root: Path, family: str, k: int, method: str, seed: int, value: float, steps: int = 5000
):
    d = root / family / f"k{k}" / method / f"seed_{seed}"
    d.mkdir(parents=True)
    metrics = {
        METRIC: {"mean": value, "ci95": 0.01, "median": value, "num_tasks": 600, "num_nonfinite": 0}
    }
    d.joinpath("results.json").write_text(
        json.dumps({"metric": METRIC, "metrics": metrics, "steps": steps, "step_time_s": 1e-3})
    )


def test_paper_numbers_and_names():
    assert paper.paper_mse("maml", "sinusoid_w1", 5) == 0.593
    assert paper.paper_mse("metasgd+trlearner", "sinusoid", 10) == 0.024
    assert paper.paper_mse("tnet+trlearner", "harmonic", 10) == 0.144
    assert paper.paper_mse("maml+mr_maml", "harmonic", 5) == 0.590
    assert paper.paper_mse("anil+metamix+trlearner", "sinusoid_w1", 10) == 0.070
    assert (
        paper.paper_mse("anil+metamix+trlearner", "harmonic", 10) is None
    )  # Table 9 is sinusoid only
    assert paper.paper_mse("metasgd+mr_maml", "sinusoid_w1", 5) is None
    assert paper.label("tnet+metamix+trlearner") == "T-Net+MetaMix+TRLearner"


def test_one_spelling_of_a_method():
    """Every table reads method directories through runs.method_name: "+" or "_" joins, implicit
    MAML."""
    assert runs.method_name("trlearner_top1") == "maml+trlearner_top1"
    assert runs.method_name("maml_inner4") == "maml_inner4"
    assert runs.method_name("metamix") == "maml+metamix"
    assert runs.method_name("maml_trlearner") == "maml+trlearner"
    assert runs.method_name("maml_mr_maml") == "maml+mr_maml"
    assert runs.method_name("anil+metamix+trlearner") == "anil+metamix+trlearner"
    assert runs.method_name("protonet_trlearner") == "protonet+trlearner"


def test_paired_differences_and_claim_verdicts(tmp_path):
    base = [1.0, 1.2, 0.9, 1.1, 1.0]
    for s, b in enumerate(base):
        write_run(tmp_path, "sinusoid_w1", 5, "anil", s, b)
        write_run(
            tmp_path, "sinusoid_w1", 5, "anil+trlearner", s, b - 0.1 - 0.01 * s
        )  # always better
        write_run(
            tmp_path, "sinusoid_w1", 5, "anil+metamix", s, b + (0.05 if s % 2 else -0.05)
        )  # noise
    cells = report.collect(tmp_path)
    summary = report.summarize(cells, METRIC)
    d = summary["sinusoid_w1/k5/anil+trlearner"]["vs_backbone"]
    np.testing.assert_allclose(d["delta"]["mean"], -0.12, atol=1e-9)
    assert d["delta"]["n"] == 5 and d["verdict"] == "supported"
    assert summary["sinusoid_w1/k5/anil+metamix"]["vs_backbone"]["verdict"] == "inconclusive"
    np.testing.assert_allclose(
        summary["sinusoid_w1/k5/anil"]["ci95"], 2.776445 * np.std(base, ddof=1) / np.sqrt(5)
    )
    text = report.layout_markdown(cells, "table1", [METRIC])
    assert "| ANIL+TRLearner | " in text and "0.471" in text  # the paper's number beside ours
    assert "not run" in text  # harmonic columns and the missing regularizers
    # no curve points: the regime says so, and the verdict is the CI's all the same
    row = "| ANIL | Sin (w=1), 5-shot | TRLearner improves ANIL | -0.120 ± 0.020 (seeds=5) "
    # the paper's -0.070 lies outside [-0.140, -0.100]: ruled out; its ANIL 0.541 is outside ours
    assert (
        f"{row}| supported | -0.070: ruled out | differs by +0.499 (paper 0.541) "
        "| no curve | no curve |" in text
    )
    assert "| ANIL | Sin (w=1), 5-shot | TRLearner beats MetaMix | " in text

    def curve(method, seed, train_after, test_after):
        d = tmp_path / "sinusoid_w1" / "k5" / method / f"seed_{seed}"
        rows = [{"step": 100, "curve/train/mse_clean@0": 3.0}]
        rows[0] |= {"curve/train/mse_clean@1": train_after, "curve/test/mse_clean@1": test_after}
        d.joinpath("metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    for s in range(5):  # ANIL overfits (test 0.3 above training): shown beside the same verdict
        curve("anil", s, 0.5 + 0.01 * s, 0.8 + 0.01 * s)
    text = report.layout_markdown(report.collect(tmp_path), "table1", [METRIC])
    assert (
        f"{row}| supported | -0.070: ruled out | differs by +0.499 (paper 0.541) | +0.300" in text
    )
    for s in range(5):  # no gap at all: still the CI's verdict
        curve("anil", s, 0.8, 0.8 + 0.001 * (s % 2))
    text = report.layout_markdown(report.collect(tmp_path), "table1", [METRIC])
    assert (
        f"{row}| supported | -0.070: ruled out | differs by +0.499 (paper 0.541) | +0.000" in text
    )


def test_budget_and_seed_count_marked_when_a_cell_differs(tmp_path):
    for s in range(3):
        write_run(tmp_path, "harmonic", 5, "maml", s, 0.6)
    write_run(tmp_path, "harmonic", 5, "maml+trlearner", 0, 0.5, steps=1000)
    text = report.layout_markdown(report.collect(tmp_path), "table1", [METRIC])
    assert "[1000 steps, 1 seeds]" in text


def test_sweep_is_seed_major_with_per_cell_seeds_and_filters(tmp_path):
    grid = {
        "cells": {
            "a/k5/x": ("e.py", {"n": 1}),
            "a/k5/y": ("e.py", {}, (0,)),
            "b/k5/x": ("e.py", {}),
        },
        "seeds": (0, 1),
    }
    runs = [str(w.relative_to(tmp_path)) for w, _ in sweep.runs_of(grid, tmp_path)]
    assert runs == [
        "a/k5/x/seed_0",
        "a/k5/y/seed_0",
        "b/k5/x/seed_0",
        "a/k5/x/seed_1",
        "b/k5/x/seed_1",
    ]
    runs = [
        str(w.relative_to(tmp_path))
        for w, _ in sweep.runs_of(grid, tmp_path, only="a/*", skip="*y")
    ]
    assert runs == ["a/k5/x/seed_0", "a/k5/x/seed_1"]
    runs = [
        str(w.relative_to(tmp_path))
        for w, _ in sweep.runs_of(grid, tmp_path, only="a/k5/y, b/*", seeds=(0,))
    ]
    assert runs == ["a/k5/y/seed_0", "b/k5/x/seed_0"]
    runs = [str(w.relative_to(tmp_path)) for w, _ in sweep.runs_of(grid, tmp_path, seeds=(1,))]
    assert runs == ["a/k5/x/seed_1", "b/k5/x/seed_1"]
    _, cmd = next(sweep.runs_of(grid, tmp_path))
    assert "--config.seed=0" in cmd and "--config.n=1" in cmd


def test_sweep_seeds_typo_names_the_expected_form(capsys):
    parser = argparse.ArgumentParser()
    assert sweep.parse_seeds("1,2", parser) == (1, 2)
    with pytest.raises(SystemExit):
        sweep.parse_seeds("1;2", parser)
    assert "comma-separated integers" in capsys.readouterr().err


GRIDS = sorted(
    p.stem for p in (Path(__file__).resolve().parents[1] / "experiments" / "grids").glob("*.py")
)


@pytest.mark.parametrize("grid_name", GRIDS)
def test_grid_files_name_valid_configs(grid_name):
    """Every cell names an experiment file whose config, with the cell's overrides, passes
    validation (a typo fails here, not hours into a sweep)."""
    from metareg.assemble import validate_config
    from metareg.config import with_overrides

    root = Path(__file__).resolve().parents[1]
    grid = sweep.load_grid(str(root / "experiments" / "grids" / f"{grid_name}.py"))
    assert grid["cells"] and grid["seeds"]
    for experiment, overrides, *_ in grid["cells"].values():
        module = importlib.import_module("experiments." + Path(experiment).stem)
        validate_config(with_overrides(module.get_config(), overrides))


def test_restore_run_and_relation_figure(tmp_path, quick_config):
    quick_config.regularizers = ("trlearner",)
    train_and_evaluate(quick_config, tmp_path / "run")
    assert load_run_config(tmp_path / "run").to_dict() == quick_config.to_dict()
    config, family, objective, params = restore_run(tmp_path / "run")
    assert family.name == quick_config.task.name and "trlearner" in params["regularizers"]
    relation_heatmaps(tmp_path / "run", tmp_path / "fig.png", num_tasks=8)
    assert (tmp_path / "fig.png").stat().st_size > 1000


def test_bayes_floor_read_from_the_computed_file_else_methods_md(tmp_path, monkeypatch):
    f = tmp_path / "floor.json"
    f.write_text(
        json.dumps(
            {
                "results": [
                    {"family": "harmonic", "num_shots": 10, "mse_clean_mean_over_seeds": 0.0125}
                ]
            }
        )
    )
    monkeypatch.setattr(report, "BAYES_FLOOR_FILE", f)
    assert report.bayes_floor("harmonic", 10) == (0.0125, "computed")
    assert report.bayes_floor("sinusoid_w1", 5) == (0.049, "methods.md")
    assert report.bayes_floor("harmonic", 5) is None
