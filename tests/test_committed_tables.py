"""Every committed table regenerates identically from the committed results (results/): the tables'
numbers come from the runs, not from hand edits, and refactoring the analysis cannot change them."""

from __future__ import annotations

import sys

import pytest

from metareg.analysis import committed
from tests.conftest import ROOT

RESULTS = ROOT / "docs" / "results"


@pytest.mark.parametrize("table", sorted(committed.TABLES))
def test_committed_table_regenerates(table, tmp_path, monkeypatch):
    out = tmp_path / table
    monkeypatch.chdir(ROOT)
    committed.regenerate(table, out)
    module, args = committed.arguments(table)
    assert out.read_text() == (RESULTS / table).read_text(), (
        f"docs/results/{table} differs from what its results give: make tables "
        f"(python -m {module} {' '.join(args)})"
    )


def test_the_scorecard_json_holds_the_judgement_of_every_claim(tmp_path, monkeypatch):
    import json

    monkeypatch.chdir(ROOT)
    committed.regenerate("scorecard.md", tmp_path / "scorecard.md")
    assert (tmp_path / "scorecard.json").read_text() == (RESULTS / "scorecard.json").read_text()
    claims = json.loads((RESULTS / "scorecard.json").read_text())["claims"]
    assert claims
    for c in claims:
        assert {"verdict", "paper_effect", "baseline_match", "seeds", "budget"} <= set(c)


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
