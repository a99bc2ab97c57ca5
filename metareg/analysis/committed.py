"""Every committed table under docs/results/ and the command that makes it from results/: the one
list `make tables` regenerates and tests/test_committed_tables.py checks (a table's numbers come
from the runs, never from hand edits).

    python -m metareg.analysis.committed            # regenerate them all (make tables)
    python -m metareg.analysis.committed --list     # print the commands
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"


def _title(table: str) -> str:
    """A regime table's --title, read back from its heading."""
    return re.match(r"## (.*?): test ", (RESULTS / table).read_text()).group(1)


def _regime(root: str, table: str, *extra: str) -> list[str]:
    return ["regime", "--root", root, *extra, "--title", _title(table)]


# committed table -> (module name, its command-line arguments but --out, or a function giving them)
TABLES = {
    "omniglot.md": ("tables", ["omniglot", "--root", "results/omniglot"]),
    "chembl.md": (
        "tables",
        ["chembl", "--root", "results/chembl", "--reference", "docs/results/chembl_reference.json"],
    ),
    "pose.md": ("tables", ["pose", "--root", "results/pose"]),
    "sinusoid_nme.md": ("tables", ["nme", "--root", "results/sinusoid_nme"]),
    "adaptive_sampler.md": (
        "tables",
        lambda: _regime("results/adaptive_sampler", "adaptive_sampler.md"),
    ),
    "omniglot_norot.md": ("tables", lambda: _regime("results/omniglot_norot", "omniglot_norot.md")),
    "table1_budget.md": (
        "tables",
        lambda: _regime("results/table1_budget/sinusoid_w1", "table1_budget.md"),
    ),
    "omniglot_reference_gpu.md": (
        "tables",
        lambda: _regime(
            "results/omniglot_reference_gpu", "omniglot_reference_gpu.md", "--at-step", "500"
        ),
    ),
    "omniglot_strategies.md": (
        "tables",
        lambda: _regime(
            "results/omniglot_norot,results/omniglot_strategies",
            "omniglot_strategies.md",
            "--at-step",
            "2000",
        ),
    ),
    "sinusoid_mr_maml.md": (
        "tables",
        lambda: _regime("results/sinusoid_mr_maml", "sinusoid_mr_maml.md"),
    ),
    "table1.md": ("report", ["--root", "results/table1_budget", "--layout", "table1"]),
    "table1_5k.md": ("report", ["--root", "results/table1_full", "--layout", "table1"]),
    "table9.md": ("report", ["--root", "results/table1_full", "--layout", "table9"]),
    "table1_sinusoid.md": ("report", ["--root", "results/table1_sinusoid"]),
    "scorecard.md": ("scorecard", ["--results", "results"]),
}


def arguments(table: str) -> tuple[str, list[str]]:
    """(module, its arguments but --out) of one committed table."""
    module, args = TABLES[table]
    return f"metareg.analysis.{module}", list(args() if callable(args) else args)


def out_argument(table: str, path: Path) -> list[str]:
    """The --out argument: the scorecard takes a stem (it writes .md and .json)."""
    return ["--out", str(path.with_suffix("") if table == "scorecard.md" else path)]


def regenerate(table: str, out: Path) -> None:
    """Write `table` to `out` from the committed results (run from the project root)."""
    import importlib

    module, args = arguments(table)
    argv = sys.argv
    sys.argv = [module, *args, *out_argument(table, out)]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            importlib.import_module(module).main()
    finally:
        sys.argv = argv


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--list", action="store_true", help="print the commands, run nothing")
    args = p.parse_args()
    for table in TABLES:
        module, targs = arguments(table)
        out = RESULTS / table
        if args.list:
            print(f"python -m {module} {' '.join(targs)} {' '.join(out_argument(table, out))}")
            continue
        regenerate(table, out)
        print(f"wrote docs/results/{table}")


if __name__ == "__main__":
    main()
