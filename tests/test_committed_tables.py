"""Every committed table regenerates identically from the committed results (results/): the tables'
numbers come from the runs, not from hand edits, and refactoring the analysis cannot change them."""

from __future__ import annotations

import re
import sys

import pytest

from metareg.analysis import report, tables
from tests.conftest import ROOT

RESULTS = ROOT / "docs" / "results"


def _title(table: str) -> str:
    """A regime table's --title, read back from its heading."""
    return re.match(r"## (.*?): test ", (RESULTS / table).read_text()).group(1)


def _regime(root: str, table: str, *extra: str) -> list[str]:
    return ["regime", "--root", root, *extra, "--title", _title(table)]


TABLES = {  # committed table -> (module, its command-line arguments but --out)
    "omniglot.md": (tables, ["omniglot", "--root", "results/omniglot"]),
    "chembl.md": (
        tables,
        ["chembl", "--root", "results/chembl", "--reference", "docs/results/chembl_reference.json"],
    ),
    "pose.md": (tables, ["pose", "--root", "results/pose"]),
    "sinusoid_nme.md": (tables, ["nme", "--root", "results/sinusoid_nme"]),
    "adaptive_sampler.md": (
        tables,
        lambda: _regime("results/adaptive_sampler", "adaptive_sampler.md"),
    ),
    "omniglot_norot.md": (tables, lambda: _regime("results/omniglot_norot", "omniglot_norot.md")),
    "table1_budget.md": (
        tables,
        lambda: _regime("results/table1_budget/sinusoid_w1", "table1_budget.md"),
    ),
    "omniglot_reference_gpu.md": (
        tables,
        lambda: _regime(
            "results/omniglot_reference_gpu", "omniglot_reference_gpu.md", "--at-step", "500"
        ),
    ),
    "omniglot_strategies.md": (
        tables,
        lambda: _regime(
            "results/omniglot_norot,results/omniglot_strategies",
            "omniglot_strategies.md",
            "--at-step",
            "2000",
        ),
    ),
    "table1.md": (report, ["--root", "results/table1_budget", "--layout", "table1"]),
    "table1_5k.md": (report, ["--root", "results/table1_full", "--layout", "table1"]),
    "table9.md": (report, ["--root", "results/table1_full", "--layout", "table9"]),
    "table1_sinusoid.md": (report, ["--root", "results/table1_sinusoid"]),
}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_committed_table_regenerates(table, tmp_path, monkeypatch, capsys):
    module, args = TABLES[table]
    args = args() if callable(args) else args
    out = tmp_path / table
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", [module.__name__, *args, "--out", str(out)])
    module.main()
    assert out.read_text() == (RESULTS / table).read_text(), (
        f"docs/results/{table} differs from what its results give: "
        f"python -m {module.__name__} {' '.join(args)} --out docs/results/{table}"
    )


def test_committed_trlearner_studies_regenerate(tmp_path, monkeypatch):
    from metareg.analysis import figures

    monkeypatch.chdir(ROOT)
    args = ["studies", "--root", "results/trlearner_studies", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", ["metareg.analysis.figures", *args])
    figures.main()
    for name in ("trlearner_studies.md", "trlearner_studies.json"):
        assert (tmp_path / name).read_text() == (RESULTS / name).read_text(), (
            f"docs/results/{name} differs from what its results give: "
            f"python -m metareg.analysis.figures studies --root results/trlearner_studies "
            "--out docs/results"
        )
