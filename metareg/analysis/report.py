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
from pathlib import Path

import numpy as np

from metareg.analysis import paper, stats, tables
from metareg.analysis.runs import collect as collect_runs
from metareg.analysis.runs import method_name, regression_cells

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


def collect(root: Path) -> dict:
    """{(family, K, canonical method): {seed: results}} of the regression grids under root."""
    return regression_cells(collect_runs(root))


def judgement(
    cells: dict, key: tuple, other: tuple, metric: str, paper_pair=None
) -> stats.Judgement:
    """stats.judge of "cells[key] improves cells[other]" (lower MSE is better), per seed."""
    a, b = cells.get(key, {}), cells.get(other, {})
    return stats.judge(
        tables.seed_values(a, metric),
        tables.seed_values(b, metric),
        higher_is_better=False,
        method_diverged=tables.diverged_seeds(a, metric),
        base_diverged=tables.diverged_seeds(b, metric),
        paper=paper_pair,
    )


def _step_time(run: dict) -> float:
    """A run's seconds per outer step; for a run whose last process only evaluated (step_time_s
    None in results.json written before that case was handled), its total training time over its
    steps."""
    if run.get("step_time_s") is not None:
        return run["step_time_s"]
    return run["train_time_s"] / run["steps"]


def summarize(cells: dict, metric: str) -> dict:
    """{"family/kK/method": row} with the mean and t-CI over seeds (None when a seed diverged),
    the per-seed numbers, the diverged seeds, the budget and the judgement vs the backbone."""
    out = {}
    for (family, k, method), runs in cells.items():
        seeds = sorted(runs)
        vals = [runs[s]["metrics"][metric]["mean"] for s in seeds]
        bad = sorted(tables.diverged_seeds(runs, metric))
        first = runs[seeds[0]]
        row = {
            "mean": None if bad else float(np.mean(vals)),
            "ci95": None if bad else stats.t_ci95(vals),
            "seeds": seeds,
            "per_seed": vals,
            "diverged_seeds": bad,
            "median_over_seeds": float(np.median(vals)),
            "steps": first["steps"],
            "meta_batch_size": first.get("config", {}).get("meta_batch_size", 25),
            "step_time_s": float(np.mean([_step_time(runs[s]) for s in seeds])),
            "paper": paper.paper_mse(method, family, k),
        }
        backbone = paper.backbone_of(method)
        if method != backbone and (family, k, backbone) in cells:
            row["vs_backbone"] = judgement(
                cells, (family, k, method), (family, k, backbone), metric
            ).as_dict()
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
    """ "mean ± CI (Δ ± CI)", or the divergence count and median, or "not run"; the budget or seed
    count when it differs from the column's."""
    if r is None:
        return "not run"
    n = len(r["seeds"])
    if r["diverged_seeds"]:
        s = (
            f"diverged in {len(r['diverged_seeds'])}/{n} seeds "
            f"(median over seeds {r['median_over_seeds']:.3f})"
        )
    else:
        s = f"{r['mean']:.3f}" + (f" ± {r['ci95']:.3f}" if n > 1 else " (1 seed)")
        d = (r.get("vs_backbone") or {}).get("delta")
        if d and n > 1:
            s += f" (Δ {d['mean']:+.3f} ± {d['ci95']:.3f})"
    notes = []
    if column_steps is not None and r["steps"] != column_steps:
        notes.append(f"{r['steps']} steps")
    if column_seeds is not None and n != column_seeds:
        notes.append(f"{n} seeds")
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
    "\"Diverged\": in that many seeds a test task's adaptation was non-finite or the seed's mean "
    f"MSE exceeded {stats.DIVERGENCE_MULTIPLE:g}x the family's function variance "
    "(metareg.analysis.stats.diverged), so no mean and no difference is given; the median over "
    "seeds is. "
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


def claim_pairs(backbone: str) -> list[tuple[str, str, str]]:
    """(claim, X, B) of Table 1 for one backbone: each regularizer improves it, and TRLearner
    beats each other regularizer (judged on their own paired difference, X = +TRLearner)."""
    name = paper.BACKBONE_LABELS[backbone]
    regs = paper.REGULARIZER_ORDER
    return [
        (f"{paper.REGULARIZER_LABELS[r]} improves {name}", f"{backbone}+{r}", backbone)
        for r in regs
    ] + [
        (
            f"TRLearner beats {paper.REGULARIZER_LABELS[r]}",
            f"{backbone}+trlearner",
            f"{backbone}+{r}",
        )
        for r in regs
        if r != "trlearner"
    ]


def baseline_matches(cells: dict, columns, metrics, backbones=paper.BACKBONES) -> list[str]:
    """Per backbone and column: our backbone at each test-step count beside the paper's number,
    and whether it matches (the paper's number inside our CI): the paper does not say how many
    test steps its numbers use, so the match is what tells."""
    lines = [
        "### Which test steps the paper's numbers match (our backbone ± t-CI over seeds vs the "
        "paper's)\n",
        "| backbone | column | paper | " + " | ".join(f"ours {m}" for m in metrics) + " |",
        "|---|---|---|" + "---|" * len(metrics),
    ]
    for backbone in backbones:
        for f, k in columns:
            runs = cells.get((f, k, backbone))
            p = paper.paper_mse(backbone, f, k)
            if not runs or p is None:
                continue
            texts = []
            for m in metrics:
                j = judgement(cells, (f, k, backbone), (f, k, backbone), m, (p, p))
                texts.append(tables.cell(runs, m) + f": {j.baseline_text()}")
            lines.append(
                f"| {paper.BACKBONE_LABELS[backbone]} | {FAMILY_LABELS.get(f, f)}, {k}-shot "
                f"| {p:.3f} | " + " | ".join(texts) + " |"
            )
    return lines + [""]


def claims_markdown(
    cells: dict, metrics: list[str], columns: list[tuple[str, int]], backbones=paper.BACKBONES
) -> str:
    """The paper's claims, per backbone, column and test-step count, by `stats.judge`: the
    verdict, the paper's own difference against our CI, our backbone against the paper's, and
    the backbone's regime beside them (never instead of the verdict)."""
    lines = baseline_matches(cells, columns, metrics, backbones)
    for metric in metrics:
        lines += [
            f"### Claims tested ({metric})\n",
            "| backbone | column | claim | Δ ± 95% CI (seeds) | verdict | paper Δ: ruled out / "
            "consistent | baseline vs paper | backbone's overfitting gap test@k - train@k "
            "| memorization gap test@k - train@0 |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for backbone in backbones:
            name = paper.BACKBONE_LABELS[backbone]
            for f, k in columns:
                col = f"{FAMILY_LABELS.get(f, f)}, {k}-shot"
                r = tables.regime(cells.get((f, k, backbone), {}), metric.split("@")[0])
                for claim, method, other in claim_pairs(backbone):
                    if (f, k, method) not in cells or (f, k, other) not in cells:
                        continue
                    pair = (paper.paper_mse(method, f, k), paper.paper_mse(other, f, k))
                    j = judgement(cells, (f, k, method), (f, k, other), metric, pair)
                    lines.append(
                        f"| {name} | {col} | {claim} | {tables.delta_text(j)} "
                        f"| {j.verdict_text()} | {tables.paper_text(j)} | {j.baseline_text()} "
                        f"| {r.gap_text('fit')} | {r.gap_text('memo')} |"
                    )
        lines.append("")
    lines.append(
        "Δ: paired difference over seeds (negative = the claim's direction). "
        + tables.CLAIM_LEGEND
        + "The regime columns are the backbone's last curve point on fixed training and test "
        "tasks (error terms, t-CI over seeds, with the number of curve tasks): they explain a "
        "verdict and never replace it.\n"
    )
    return "\n".join(lines)


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
        out.append(claims_markdown(cells, metrics, spec["columns"]))
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
