r"""Tables from runs' results.json files: ours (mean +- 95% CI over seeds) beside the paper.

    python -m metareg.analysis.report --root runs/table1_sinusoid \
        --out docs/results/table1_sinusoid.md                   # per family
    python -m metareg.analysis.report --root runs/table1_budget --layout table1 \
        --out docs/results/table1.md                            # paper's Table 1
    python -m metareg.analysis.report --root runs/table1_full --layout table9 \
        --out docs/results/table9.md                            # regularizers combined

A run directory is ROOT/<family>/k<K>/<method>/seed_<s>/results.json (the layout the grids in
experiments/grids/ write). For each cell: the mean over seeds of the test MSE (600 fresh tasks
per seed) with a t-based 95% CI over seeds, and the paired difference from the cell's backbone
alone on the same seeds (same test tasks), which is what a claim "X improves its backbone" needs.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
from pathlib import Path

import numpy as np

from metareg.analysis import paper, stats, tables
from metareg.analysis.runs import collect as collect_runs
from metareg.analysis.runs import method_name, regression_cells

# Targets are at most ~5 in size, so any sane predictor's MSE is below ~100: a mean above this
# means the test-time adaptation blew up on some tasks.
BLOWUP_MSE = 1e3

# Bayes-optimal MSE quoted by ../shared/docs/methods.md, used only where
# docs/results/bayes_floor.json (computed by `python -m metareg.analysis.bayes`) has no entry.
METHODS_MD_FLOOR = {
    ("sinusoid", 5): 0.33,
    ("sinusoid", 10): 0.041,
    ("sinusoid_w1", 5): 0.049,
    ("sinusoid_w1", 10): 0.019,
}
BAYES_FLOOR_FILE = Path(__file__).resolve().parents[2] / "docs" / "results" / "bayes_floor.json"
FAMILY_LABELS = {"sinusoid_w1": "Sin (w=1)", "sinusoid": "Sin (stated)", "harmonic": "Harmonic"}


def diverged(value: float) -> bool:
    return not math.isfinite(value) or value > BLOWUP_MSE


def collect(root: Path) -> dict:
    """{(family, K, canonical method): {seed: results}} of the regression grids under root."""
    return regression_cells(collect_runs(root))


def _value(run: dict, metric: str) -> float:
    return run["metrics"][metric]["mean"]


def paired_diff(cells: dict, key: tuple, other: tuple, metric: str) -> dict | None:
    """Mean and t-CI over shared seeds of cells[key] - cells[other] (None with < 2 shared seeds)."""
    d = stats.paired_differences(
        cells.get(key, {}), cells.get(other, {}), lambda run: _value(run, metric)
    )
    if len(d) < 2 or not all(math.isfinite(x) for x in d):
        return None
    mean, ci95, n = stats.mean_ci(d)
    return {"mean": mean, "ci95": ci95, "n": n}


def summarize(cells: dict, metric: str) -> dict:
    """{"family/kK/method": row} with mean, CI, budget, divergences and the paired Δ vs the
    backbone."""
    out = {}
    for (family, k, method), runs in cells.items():
        seeds = sorted(runs)
        vals = [_value(runs[s], metric) for s in seeds]
        medians = [runs[s]["metrics"][metric].get("median") for s in seeds]
        first = runs[seeds[0]]
        row = {
            "mean": float(np.mean(vals)),
            "ci95": stats.t_ci95(vals),
            "seeds": seeds,
            "per_seed": vals,
            "diverged_seeds": int(sum(diverged(v) for v in vals)),
            "median": float(np.mean(medians)) if all(m is not None for m in medians) else None,
            "steps": first["steps"],
            "meta_batch_size": first.get("config", {}).get("meta_batch_size", 25),
            "step_time_s": float(np.mean([runs[s]["step_time_s"] for s in seeds])),
            "paper": paper.paper_mse(method, family, k),
        }
        backbone = paper.backbone_of(method)
        if method != backbone:
            diff = paired_diff(cells, (family, k, method), (family, k, backbone), metric)
            if diff:
                row["diff_vs_backbone"] = diff
        out[f"{family}/k{k}/{method}"] = row
    return out


def bayes_floor(family: str, shots: int) -> tuple[float, str] | None:
    """(floor MSE, source) for a column: our computation if present, else methods.md's number."""
    if BAYES_FLOOR_FILE.exists():
        for entry in json.loads(BAYES_FLOOR_FILE.read_text()).get("results", []):
            if entry["family"] == family and entry["num_shots"] == shots:
                return float(entry["mse_clean_mean_over_seeds"]), "computed"
    if (family, shots) in METHODS_MD_FLOOR:
        return METHODS_MD_FLOOR[(family, shots)], "methods.md"
    return None


def format_cell(
    r: dict | None, column_steps: int | None = None, column_seeds: int | None = None
) -> str:
    """ "mean ± CI (Δ ± CI)", or a divergence note, or "not run"; the budget or seed count when
    it differs from the column's."""
    if r is None:
        return "not run"
    if r["diverged_seeds"]:
        s = f"diverges in {r['diverged_seeds']}/{len(r['seeds'])} seeds"
        if r.get("median") is not None:
            s += f" (median task MSE {r['median']:.3f})"
    else:
        s = f"{r['mean']:.3f} ± {r['ci95']:.3f}"
        d = r.get("diff_vs_backbone")
        if d and math.isfinite(d["mean"]):
            s += f" (Δ {d['mean']:+.3f} ± {d['ci95']:.3f})"
    notes = []
    if column_steps is not None and r["steps"] != column_steps:
        notes.append(f"{r['steps']} steps")
    if column_seeds is not None and len(r["seeds"]) != column_seeds:
        notes.append(f"{len(r['seeds'])} seeds")
    return s + (f" [{', '.join(notes)}]" if notes else "")


def _column_budget(summary: dict, family: str, k: int) -> tuple[int | None, int | None]:
    rows = [r for key, r in summary.items() if key.startswith(f"{family}/k{k}/")]
    if not rows:
        return None, None
    steps = collections.Counter(r["steps"] for r in rows).most_common(1)[0][0]
    seeds = collections.Counter(len(r["seeds"]) for r in rows).most_common(1)[0][0]
    return steps, seeds


LEGEND = (
    "± is a t-based 95% CI over seeds (each seed's number is the mean over 600 fresh test tasks); "
    "Δ is the paired difference from the same backbone without regularizers, on the same seeds "
    "and test tasks (negative = better). "
    '"Diverges": the test-time adaptation blew up (non-finite, or a seed\'s mean MSE above '
    f"{BLOWUP_MSE:g}) on some test tasks in that many seeds, so no mean is meaningful; the median "
    "task MSE (mean over seeds of each seed's median) is given instead. "
    '"not run": we have no run for that cell. '
    "A cell trained with another budget or seed count than its column says so in brackets."
)


def by_family_markdown(summary: dict, metrics: list[str]) -> str:
    """One table per family; columns K x metrics (e.g. 1 and 10 test steps), paper beside."""
    lines = []
    first = summary[metrics[0]]
    families = sorted({key.split("/")[0] for key in first}, key=lambda f: f != "sinusoid")
    methods = _ordered_methods({key.split("/", 2)[2] for key in first})
    for family in families:
        lines.append(f"### `{family}`\n")
        head = (
            "| method | "
            + " | ".join(f"K={k}: ours {m}" for k in (5, 10) for m in metrics)
            + " | paper K=5 | paper K=10 |"
        )
        lines += [head, "|" + "---|" * (2 + 2 * len(metrics) + 1)]
        for method in methods:
            cells = [
                format_cell(summary[m].get(f"{family}/k{k}/{method}"))
                for k in (5, 10)
                for m in metrics
            ]
            pap = [paper.paper_mse(method, family, k) for k in (5, 10)]
            lines.append(
                f"| {paper.label(method)} | "
                + " | ".join(cells)
                + " | "
                + " | ".join(_num(p) for p in pap)
                + " |"
            )
        lines.append(_floor_row([(family, k) for k in (5, 10) for _ in metrics], extra=2))
        steps, seeds = _column_budget(first, family, 5)
        lines.append(
            f"\nBudget: {steps} outer steps x meta-batch 25 (the paper does not state its length), "
            f"{seeds} seeds. {LEGEND}\n"
        )
    return "\n".join(lines)


def paper_markdown(
    summary: dict, metric: str, columns: list[tuple[str, int]], methods: list[str], title: str
) -> str:
    """The paper's layout: rows are methods, columns (family, K); each cell ours beside the
    paper's."""
    first = summary[metric]
    budgets = {c: _column_budget(first, *c) for c in columns}
    head = (
        "| method | "
        + " | ".join(f"{FAMILY_LABELS.get(f, f)}, {k}-shot: ours | paper" for f, k in columns)
        + " |"
    )
    lines = [f"### {title} ({metric})\n", head, "|---|" + "---|---|" * len(columns)]
    for method in methods:
        cells = []
        for f, k in columns:
            cells.append(format_cell(first.get(f"{f}/k{k}/{method}"), *budgets[(f, k)]))
            cells.append(_num(paper.paper_mse(method, f, k)))
        lines.append(f"| {paper.label(method)} | " + " | ".join(cells) + " |")
    floor_cells = []
    for f, k in columns:
        fl = bayes_floor(f, k)
        floor_cells += [f"{fl[0]:.3f} ({fl[1]})" if fl else "not computed", "—"]
    lines.append("| Bayes-optimal floor | " + " | ".join(floor_cells) + " |")
    budget = "; ".join(
        f"{FAMILY_LABELS.get(f, f)} {k}-shot: "
        + (f"{s} outer steps x meta-batch 25, {n} seeds" if s else "not run")
        for (f, k), (s, n) in budgets.items()
    )
    lines.append(
        f"\nBudget per column: {budget}. The paper does not state its training length. {LEGEND}\n"
    )
    return "\n".join(lines)


def claims_markdown(
    cells: dict, metric: str, columns: list[tuple[str, int]], backbones=paper.BACKBONES
) -> str:
    """The paper's claims, tested per backbone and column: each regularizer improves its backbone,
    and TRLearner improves it most (paired TRLearner - other regularizer < 0). A claim is judged
    only where its backbone memorizes or overfits (`tables.regime`, from the runs' curve points);
    elsewhere its verdict is "untested regime", whatever the CI says."""
    lines = [
        f"### Claims tested ({metric}; judged only where the backbone memorizes or overfits)\n",
        "| backbone | column | claim | Δ ± 95% CI | backbone's regime "
        "(overfitting gap test@k - train@k) | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for backbone in backbones:
        name = paper.BACKBONE_LABELS[backbone]
        for f, k in columns:
            col = f"{FAMILY_LABELS.get(f, f)}, {k}-shot"
            state, _, fit = tables.regime(cells.get((f, k, backbone), {}), metric.split("@")[0])
            regime = state if fit is None else f"{state} ({fit[0]:+.3f} ± {fit[1]:.3f})"
            pairs = [
                (f"{paper.REGULARIZER_LABELS[reg]} improves {name}", f"{backbone}+{reg}", backbone)
                for reg in paper.REGULARIZER_ORDER
            ] + [
                (
                    f"TRLearner beats {paper.REGULARIZER_LABELS[reg]}",
                    f"{backbone}+trlearner",
                    f"{backbone}+{reg}",
                )
                for reg in paper.REGULARIZER_ORDER[:-1]
            ]
            for claim, method, other in pairs:
                d = paired_diff(cells, (f, k, method), (f, k, other), metric)
                if d is not None:
                    v = tables.judged_verdict(state, (d["mean"], d["ci95"], d["n"]))
                    lines.append(
                        f"| {name} | {col} | {claim} "
                        f"| {d['mean']:+.3f} ± {d['ci95']:.3f} (n={d['n']}) | {regime} | {v} |"
                    )
    lines.append(
        "\nΔ: paired difference over seeds (negative = the claim's direction). Where the backbone "
        'memorizes or overfits: "supported" when the whole CI is below 0, "inconclusive" when it '
        'contains 0, "contradicted" when it is above 0. Elsewhere "untested regime": the backbone '
        "has nothing for a regularizer to fix (its regime from the last curve point on fixed "
        'training and test tasks; "no curve": the runs logged none).\n'
    )
    return "\n".join(lines)


def verdict(d: dict | None) -> str:
    """stats.verdict of a paired_diff (lower is better: the claim's direction is a negative Δ)."""
    return stats.verdict(None if d is None else (d["mean"], d["ci95"], d["n"]))


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def _floor_row(columns, extra: int) -> str:
    cells = []
    for f, k in columns:
        fl = bayes_floor(f, k)
        cells.append(f"{fl[0]:.3f} ({fl[1]})" if fl else "not computed")
    return "| Bayes-optimal floor | " + " | ".join(cells) + " | —" * extra + " |"


def _ordered_methods(methods) -> list[str]:
    """Paper order: backbone groups, the backbone first, then regularizers in REGULARIZER_ORDER."""

    def key(m):
        parts = method_name(m).split("+")
        b = parts[0]
        group = paper.BACKBONES.index(b) if b in paper.BACKBONES else len(paper.BACKBONES)
        regs = [
            paper.REGULARIZER_ORDER.index(p) if p in paper.REGULARIZER_ORDER else 10 + len(p)
            for p in parts[1:]
        ]
        return (group, b, len(regs), regs, m)

    return sorted(methods, key=key)


LAYOUTS = {
    "table1": dict(
        columns=[("sinusoid_w1", 5), ("sinusoid_w1", 10), ("harmonic", 5), ("harmonic", 10)],
        title="TRLearner Table 1: sinusoid (w = 1 family) and harmonic",
        combos=False,
    ),
    "table9": dict(
        columns=[("sinusoid_w1", 5), ("sinusoid_w1", 10)],
        title="TRLearner Table 9: regularizers combined, sinusoid (w = 1 family)",
        combos=True,
    ),
}


def layout_markdown(cells: dict, layout: str, metrics: list[str]) -> str:
    spec = LAYOUTS[layout]
    present = {m for (_, _, m) in cells}
    if spec["combos"]:  # Table 9: each backbone with a combination, and its single-regularizer rows
        backbones = {paper.backbone_of(m) for m in present if m.count("+") >= 2}
        in_table9 = ("metamix", "trlearner")
        methods = [
            m
            for m in present
            if m in backbones
            or (paper.backbone_of(m) in backbones and m.split("+")[-1] in in_table9)
        ]
    else:
        methods = [m for m in present if m.count("+") <= 1]
    methods = _ordered_methods(methods)
    out = []
    for metric in metrics:
        summary = summarize(cells, metric)
        out.append(
            paper_markdown({metric: summary}, metric, spec["columns"], methods, spec["title"])
        )
    if not spec["combos"]:
        out.append(claims_markdown(cells, metrics[0], spec["columns"]))
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--json")
    p.add_argument("--layout", default="by_family", choices=["by_family", *LAYOUTS])
    p.add_argument("--metrics", default="mse_clean@1,mse_clean@10")
    args = p.parse_args()
    cells = collect(Path(args.root))
    if not cells:
        raise SystemExit(f"no results.json under {args.root}/<family>/k<K>/<method>/seed_<s>/")
    metrics = args.metrics.split(",")
    summary = {m: summarize(cells, m) for m in metrics}
    text = (
        by_family_markdown(summary, metrics)
        if args.layout == "by_family"
        else layout_markdown(cells, args.layout, metrics)
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
