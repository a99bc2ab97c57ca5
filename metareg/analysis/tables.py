r"""Tables of the classification, drug-activity and pose grids, ours beside the papers, with the
claims tested.

    python -m metareg.analysis.tables omniglot --root runs/omniglot --out docs/results/omniglot.md
    python -m metareg.analysis.tables chembl --root runs/chembl \
        --reference docs/results/chembl_reference.json --out docs/results/chembl.md
    python -m metareg.analysis.tables pose --root runs/pose --out docs/results/pose.md
    python -m metareg.analysis.tables nme --root runs/sinusoid_nme \
        --out docs/results/sinusoid_nme.md
    python -m metareg.analysis.tables regime --root runs/table1_budget/sinusoid_w1 \
        --title "Table 1 at 70k steps" --out x.md
    python -m metareg.analysis.tables regime --root results/omniglot_reference_gpu \
        --at-step 500 --title "..." --out x.md
    python -m metareg.analysis.tables heads --root runs/trlearner_heads \
        --out docs/results/trlearner_heads.md

A run is ROOT/<column>/<method>/seed_<s>/results.json (metareg/analysis/runs.py: the layout every
grid writes); a method is a backbone with "+regularizer" or "_regularizer" parts ("anil+metamix",
"maml_trlearner"). Every cell is the mean over seeds of the run's test metric with a t-based 95% CI
over seeds, the number of seeds and the training budget (outer steps, meta-batch); every claim "X
improves its backbone" is the paired difference from the backbone alone on the same seeds (hence the
same test tasks), with its t-CI: supported when the CI excludes 0 in X's favour, contradicted when
it excludes 0 against X, inconclusive otherwise. The Omniglot table adds each cell's fit (training
query loss vs test NLL) where metrics.jsonl lies beside results.json.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
from pathlib import Path

import numpy as np

from metareg.analysis import paper, stats
from metareg.analysis.runs import collect, collect_at_step
from metareg.analysis.stats import mean_ci
from metareg.learners import GRADIENT_FREE
from metareg.metrics import HIGHER_IS_BETTER


def nll_key_at_training_steps(run: dict) -> str | None:
    """The test NLL after as many inner steps as training took ("nll@1" for 1-step MAML, "nll@0" for
    ProtoNet, which has no inner loop), so that it and the training query loss measure the same
    thing on different tasks."""
    learner = run.get("config", {}).get("learner", {})
    steps = 0 if learner.get("name") == "protonet" else learner.get("inner_steps")
    key = f"nll@{steps}"
    return key if key in run.get("metrics", {}) else None


def fit_rows(cells: dict) -> list[str]:
    """Training query loss vs test NLL per cell (mean over seeds): a training loss far below the
    test loss is the memorization that the non-mutually-exclusive setting provokes and the
    regularizers target."""
    out = []
    for column, method in sorted(cells, key=lambda cm: (cm[0], _rank(cm[1]))):
        runs = cells[(column, method)]
        pairs = [
            (r["train_query_loss"], r["metrics"][nll_key_at_training_steps(r)]["mean"])
            for r in runs.values()
            if r.get("train_query_loss") is not None and nll_key_at_training_steps(r)
        ]
        if pairs:
            train, test = np.mean(pairs, axis=0)
            out.append(
                f"| {column} | {paper.label(method)} | {train:.3f} | {test:.3f} "
                f"| {test - train:+.3f} | {len(pairs)} |"
            )
    if not out:
        return []
    head = [
        "### Fit: training query loss (last 200 steps) vs test NLL (same inner steps), "
        "mean over seeds\n",
        "| column | method | train query loss | test NLL | gap | n |",
        "|---|---|---|---|---|---|",
    ]
    return head + out + [""]


def seed_values(runs: dict, metric: str | None, field: str = "mean") -> dict[int, float]:
    """{seed: value}; metric None = each run's own primary metric (ProtoNet's accuracy@0 beside
    MAML's accuracy@5)."""
    out = {}
    for s, r in runs.items():
        name = r["metric"] if metric is None else metric
        if name in r["metrics"]:
            out[s] = float(r["metrics"][name][field])
    return out


def family_of(run: dict) -> str | None:
    """The task family a run was trained on (results.json "task", else its config's)."""
    return run.get("task") or run.get("config", {}).get("task", {}).get("name")


def diverged_seeds(runs: dict, metric: str | None) -> set[int]:
    """The seeds whose metric diverged (stats.diverged: non-finite test tasks, or an error above
    the documented multiple of the family's function variance)."""
    out = set()
    for s, r in runs.items():
        name = r["metric"] if metric is None else metric
        if name in r["metrics"] and stats.diverged(r["metrics"][name], name, family_of(r)):
            out.add(s)
    return out


def fmt(mean: float, ci: float, n: int, scale: float = 1.0, digits: int = 3) -> str:
    if n == 0:
        return "not run"
    return stats.Estimate(mean, ci, n).text(digits, scale)


def cell(runs: dict, metric: str | None, scale: float = 1.0, digits: int = 3) -> str:
    """Mean over seeds ± t-CI over seeds (n = seeds); one seed: its mean, no CI (a CI over test
    tasks would be another quantity); a diverged seed: the median over seeds and the count."""
    values = seed_values(runs, metric)
    if not values:
        return "not run"
    bad = diverged_seeds(runs, metric)
    if bad:
        median = float(np.median(list(values.values())))
        return (
            f"diverged in {len(bad)}/{len(values)} seeds "
            f"(median over seeds {median * scale:.{digits}f})"
        )
    return stats.estimate(values.values()).text(digits, scale)


def budget(runs: dict) -> str:
    r = next(iter(runs.values()))
    c = r.get("config", {})
    parts = [f"{r['steps']} steps"]
    if "meta_batch_size" in c:
        parts.append(f"T={c['meta_batch_size']}")
    return ", ".join(parts)


def judge_cells(
    cells: dict,
    column: str,
    method: str,
    base: str,
    metric: str | None,
    higher_is_better: bool,
    field: str = "mean",
    paper_pair: tuple[float | None, float | None] | None = None,
) -> stats.Judgement:
    """stats.judge of "method improves base" in one column, per seed (the same test tasks)."""
    a, b = cells.get((column, method), {}), cells.get((column, base), {})
    return stats.judge(
        seed_values(a, metric, field),
        seed_values(b, metric, field),
        higher_is_better=higher_is_better,
        method_diverged=diverged_seeds(a, metric),
        base_diverged=diverged_seeds(b, metric),
        paper=paper_pair,
    )


def delta_text(j: stats.Judgement, scale: float = 1.0, digits: int = 3) -> str:
    """The paired difference as a table shows it, or why there is none."""
    if j.delta is None:
        return "— (no difference from a diverged cell)" if j.verdict == stats.DIVERGED else "—"
    return j.delta.text(digits, scale, signed=True).replace(" (n=", " (seeds=")


def paper_text(j: stats.Judgement, scale: float = 1.0, digits: int = 3) -> str:
    """The paper's difference and whether our CI rules it out."""
    if j.paper_delta is None:
        return "—"
    effect = j.paper_effect or "no CI"
    return f"{j.paper_delta * scale:+.{digits}f}: {effect}"


CLAIM_LEGEND = (
    "Verdicts (metareg.analysis.stats.judge, one rule everywhere): the seed is the unit; Δ is the "
    "paired difference over the seeds both cells ran, with its t-CI95 (df = seeds - 1); "
    "supported / contradicted when the CI excludes 0 for / against the claim, inconclusive when it "
    "holds 0, too few seeds below 2; diverged when a seed of either cell diverged (no difference "
    'is computed). Paper Δ: the paper\'s own difference, "ruled out" when it lies outside our '
    'CI of Δ, "consistent" inside. Baseline: the paper\'s backbone number against our CI.\n'
)


def claims(
    cells: dict,
    metric: str | None,
    higher_is_better: bool,
    scale: float = 1.0,
    digits: int = 3,
    field: str = "mean",
    paper_pairs=None,
) -> list[str]:
    """One row per claim "X improves its backbone" in each column. paper_pairs(column, method,
    base) -> [(source, paper X, paper B)]: the papers' numbers for it (none: no paper column)."""
    head = "| column | claim | Δ vs backbone (paired, same seeds) | verdict |"
    sep = "|---|---|---|---|"
    if paper_pairs:
        head += " paper Δ: ruled out / consistent | baseline vs paper |"
        sep += "---|---|"
    lines = [head, sep]
    for column, method in sorted(cells):
        if "+" not in method:
            continue
        base = method.split("+")[0]
        sources = paper_pairs(column, method, base) if paper_pairs else []
        j = judge_cells(cells, column, method, base, metric, higher_is_better, field)
        row = (
            f"| {column} | {paper.label(method)} improves {paper.label(base)} "
            f"| {delta_text(j, scale, digits)} | {j.verdict_text()} |"
        )
        if paper_pairs:
            js = [
                (
                    src,
                    judge_cells(
                        cells, column, method, base, metric, higher_is_better, field, (pm, pb)
                    ),
                )
                for src, pm, pb in sources
            ]
            row += (
                " "
                + ("; ".join(f"{src} {paper_text(x, scale, 2)}" for src, x in js) or "—")
                + " | "
                + ("; ".join(f"{src}: {x.baseline_text(2, scale)}" for src, x in js) or "—")
                + " |"
            )
        lines.append(row)
    return lines


def pooled_judgement(
    cells: dict,
    method: str,
    base: str,
    metric: str | None,
    higher_is_better: bool,
    field: str = "mean",
    columns: list[str] | None = None,
    paper_pair: tuple[float | None, float | None] | None = None,
) -> tuple[stats.Judgement, list[str]]:
    """A claim over several columns (groups, shot settings) with the seed as the unit: each
    seed's number is its mean over the columns (only seeds that ran every column), and a seed
    diverged if it diverged in any column. Returns the judgement and the columns pooled."""
    columns = columns or sorted({c for c, m in cells if m == method and (c, base) in cells})
    per = {
        side: [seed_values(cells.get((c, name), {}), metric, field) for c in columns]
        for side, name in (("x", method), ("b", base))
    }
    bad = {
        side: set().union(*(diverged_seeds(cells.get((c, name), {}), metric) for c in columns))
        for side, name in (("x", method), ("b", base))
    }
    j = stats.judge(
        stats.pool(per["x"]),
        stats.pool(per["b"]),
        higher_is_better=higher_is_better,
        method_diverged=bad["x"],
        base_diverged=bad["b"],
        paper=paper_pair,
    )
    return j, columns


def pooled_claims(
    cells: dict,
    metric: str,
    higher_is_better: bool,
    digits: int = 3,
    field: str = "mean",
    scale: float = 1.0,
    unit: str = "group",
) -> list[str]:
    """Each claim over every column at once (columns as replicates of one kind of task, e.g.
    ChEMBL's evaluation groups, pose's shot counts), the seed as the unit: a seed's difference is
    the mean over the columns of its per-column differences, for the seeds that ran every column
    (`pooled_judgement`)."""
    lines = [
        f"| claim | {unit}s pooled | Δ vs backbone (per-seed mean over the {unit}s) | verdict |",
        "|---|---|---|---|",
    ]
    for method in sorted({m for _, m in cells if "+" in m}):
        base = method.split("+")[0]
        j, columns = pooled_judgement(cells, method, base, metric, higher_is_better, field)
        lines.append(
            f"| {paper.label(method)} improves {paper.label(base)} | {', '.join(columns)} "
            f"| {delta_text(j, scale, digits)} | {j.verdict_text()} |"
        )
    return lines


def omniglot_table(cells: dict) -> str:
    metric = None  # each run's primary: accuracy after the test inner steps (ProtoNet has none)
    columns = sorted({c for c, _ in cells})
    methods = _ordered({m for _, m in cells})
    primaries = sorted({r["metric"] for runs in cells.values() for r in runs.values()})
    out = [
        f"## Omniglot, accuracy (%) on 600 meta-test tasks per seed ({', '.join(primaries)}; "
        "mean over seeds ± t-CI95)\n"
    ]
    for column in columns:
        ways, shots = _ways_shots(column)
        out += [
            f"### {column}\n",
            "| method | ours | budget | TRLearner paper | MetaMix paper |",
            "|---|---|---|---|---|",
        ]
        for m in methods:
            runs = cells.get((column, m))
            if not runs:
                continue
            ours = cell(runs, metric, scale=100, digits=2)
            tr = paper.OMNIGLOT.get(("TRLearner", ways, shots), {}).get(m)
            mm = paper.OMNIGLOT.get(("MetaMix", ways, shots), {}).get(m)
            cite = lambda p: (
                "—" if p is None else f"{p[0]:.2f}" + (f" ± {p[1]:.2f}" if p[1] else "")
            )
            out.append(f"| {paper.label(m)} | {ours} | {budget(runs)} | {cite(tr)} | {cite(mm)} |")
        out.append("")
    out += [
        "### Claims tested\n",
        *claims(cells, metric, True, scale=100, digits=2, paper_pairs=_omniglot_pairs),
        "\n" + CLAIM_LEGEND,
    ]
    out += fit_rows(cells)
    return "\n".join(out)


def _omniglot_pairs(column: str, method: str, base: str) -> list[tuple[str, float, float]]:
    """Both papers' (X, B) accuracies for a claim, as fractions (our units)."""
    ways, shots = _ways_shots(column)
    out = []
    for source in ("TRLearner", "MetaMix"):
        pair = paper.omniglot_pair(source, ways, shots, method, base)
        if pair:
            out.append((source, pair[0] / 100, pair[1] / 100))
    return out


def chembl_table(cells: dict, reference: dict | None) -> str:
    metric = _primary(cells)
    columns = sorted({c for c, _ in cells})
    methods = _ordered({m for _, m in cells})
    out = [
        f"## Drug activity on ChEMBL assays ({metric}: squared Pearson R² on each meta-test "
        "assay's query compounds)\n",
        "Per group: mean R², median R² and the number of assays with R² > 0.3, each the mean "
        "over seeds ± t-CI95 (n = seeds). `chance` is what predictions unrelated to the targets "
        "score in expectation on the same query sizes (metareg.drug_metrics.chance_r_squared): "
        "these assays are small, so it is high.\n",
    ]
    for column in columns:
        group = int(column.removeprefix("group"))
        out += [
            f"### {column}\n",
            "| method | mean R² | median R² | count R² > 0.3 | budget |",
            "|---|---|---|---|---|",
        ]
        for m in methods:
            runs = cells.get((column, m))
            if not runs:
                continue
            mean = cell(runs, metric)
            median = fmt(*mean_ci(seed_values(runs, metric, "median").values()))
            count = fmt(*mean_ci(seed_values(runs, metric, "num_above_0.3").values()), digits=1)
            out.append(f"| {paper.label(m)} | {mean} | {median} | {count} | {budget(runs)} |")
        ref = _reference_rows(reference, group)
        out += ref + [""]
    out += [
        "### Claims tested (mean R²)\n",
        *claims(cells, metric, True),
        "",
        "### Claims tested (count of assays with R² > 0.3)\n",
        *claims(cells, metric, True, digits=1, field="num_above_0.3"),
        "",
        "### Claims tested over all four groups (the seed is the unit: each seed's difference is "
        "its mean over the groups, for the seeds that ran every group; groups are different assay "
        "partitions, so read these as the average effect across them)\n",
        *[
            line
            for field, digits, scale, title in (
                ("mean", 3, 1, "mean R²"),
                ("median", 3, 1, "median R²"),
                (
                    "fraction_above_0.3",
                    1,
                    100,
                    "% of assays with R² > 0.3 (groups differ in size)",
                ),
            )
            for line in (
                f"{title}:\n",
                *pooled_claims(cells, metric, True, digits, field, scale),
                "",
            )
        ],
        "### The papers, on the Novartis pQSAR assays (a different dataset: context only)\n",
        "| method | TRLearner Table 3, group 5 (average): mean / median / > 0.3 "
        "| MetaMix Table 2, mean of 4 groups |",
        "|---|---|---|",
    ]
    for m in sorted(set(paper.DRUG_TRLEARNER_GROUP5) | set(paper.DRUG_METAMIX_MEAN)):
        t, mm = paper.DRUG_TRLEARNER_GROUP5.get(m), paper.DRUG_METAMIX_MEAN.get(m)
        cite = lambda p: "—" if p is None else f"{p[0]:.3f} / {p[1]:.3f} / {p[2]:g}"
        out.append(
            f"| {'pQSAR-max' if m == 'pqsar_max' else paper.label(m)} | {cite(t)} | {cite(mm)} |"
        )
    return "\n".join(out) + "\n"


def _reference_rows(reference: dict | None, group: int) -> list[str]:
    """Rows for the non-meta-learning references of benchmarks/chembl_reference.py's JSON (given
    2048-bit fingerprints, the same seeds' test splits), and the chance level of the group's query
    sizes."""
    agg = (
        (reference or {})
        .get("results", {})
        .get("given2048", {})
        .get("aggregate", {})
        .get(str(group))
    )
    if not agg:
        return []
    seeds = reference["protocol"].get("seeds", "?")
    rows = []
    for name, label in (
        ("ridge_loo", "ridge per assay (λ by LOO on the support), no meta-learning"),
        ("ridge_valid", "ridge per assay (λ by meta-validation), no meta-learning"),
    ):
        s = agg.get(name)
        if s:
            rows.append(
                f"| {label} | {s['mean']:.3f} ± {s['ci95']:.3f} (tasks) | {s['median']:.3f} "
                f"| {s['count_above']:.1f} | closed form, seeds {seeds} |"
            )
    s = agg.get("ridge_loo") or next(iter(agg.values()))
    chance = f"{s['chance_mean']:.3f} | — | {s['chance_count_above']:.1f}"
    rows.append(f"| chance (predictions unrelated to the targets) | {chance} | expectation |")
    return rows


def pose_table(cells: dict) -> str:
    metric = _primary(cells)
    methods = _ordered({m for _, m in cells})
    columns = sorted({c for c, _ in cells}, key=lambda c: int(c.removeprefix("k")))
    head = (
        "| method | "
        + " | ".join(f"ours {c}" for c in columns)
        + " | budget | TRLearner paper (10 / 15) | MetaMix paper (10 / 15) |"
    )
    out = [
        f"## Pose regression, MSE on 1000 meta-test tasks per seed ({metric}; "
        "mean over seeds ± t-CI95)\n",
        "Ours: 50 Pascal3D objects rendered by metareg.data.render (35 train / 15 test); "
        "the papers: 65 objects of their own renders. Different data: the papers' numbers are "
        "context, not a target.\n",
        head,
        "|---|" + "---|" * (len(columns) + 3),
    ]
    for m in methods:
        cellruns = [cells.get((c, m)) for c in columns]
        ours = [cell(r, metric) if r else "not run" for r in cellruns]
        runs = next((r for r in cellruns if r), None)
        cite = lambda p: "—" if p is None else f"{p[0]:.3f} / {p[1]:.3f}"
        out.append(
            f"| {paper.label(m)} | " + " | ".join(ours) + f" | {budget(runs) if runs else '—'} | "
            f"{cite(paper.POSE['TRLearner'].get(m))} | {cite(paper.POSE['MetaMix'].get(m))} |"
        )
    out += [
        "",
        "### Claims tested\n",
        *claims(cells, metric, False),
        "",
        "### Claims tested over both shot counts (the seed is the unit: each seed's difference is "
        "its mean over the shot counts, for the seeds that ran both; the papers claim the "
        "improvement at each, so read these as the average effect)\n",
        *pooled_claims(cells, metric, False, unit="shot count"),
    ]
    return "\n".join(out) + "\n"


def memorization(runs: dict, metric: str) -> dict[str, dict[int, float]]:
    """Per seed, from the last curve point: the training tasks' error before adaptation (`train@0`,
    what a model that memorized its training tasks gets right without their support sets), after the
    training's inner steps (`train@k`), and the fixed test tasks' error after them (`test@k`)."""
    out = {"train@0": {}, "train@k": {}, "test@k": {}}
    for seed, r in runs.items():
        learner = r.get("config", {}).get("learner", {})
        k = (
            0 if learner.get("name") in GRADIENT_FREE else learner.get("inner_steps", 1)
        )  # ProtoNet: no inner loop
        f = Path(r["_dir"]) / "metrics.jsonl"
        if not f.exists():
            continue
        rows = [
            row
            for row in map(json.loads, filter(None, f.read_text().splitlines()))
            if row["step"] <= r.get("curve_until", row["step"])
        ]  # read once for the three keys; a `collect_at_step` run stops at its step
        for name, key in (
            ("train@0", f"curve/train/{metric}@0"),
            ("train@k", f"curve/train/{metric}@{k}"),
            ("test@k", f"curve/test/{metric}@{k}"),
        ):
            values = [row[key] for row in rows if key in row]
            if values:
                out[name][seed] = float(values[-1])
    return out


@dataclasses.dataclass(frozen=True)
class Regime:
    """What a backbone's last curve point says, over seeds: the memorization gap test@k - train@0
    and the overfitting gap test@k - train@k (error terms; for accuracy train - test), each with
    its t-CI over seeds, and how many fixed curve tasks each seed's point averages. An
    explanation beside a verdict, never a gate on it."""

    memo: stats.Estimate | None
    fit: stats.Estimate | None
    curve_tasks: int | None

    @property
    def state(self) -> str:
        """ "memorizes" / "overfits" when that gap's CI is above 0, else "no gap shown"; "no
        curve" without curve points on 2 seeds."""
        if self.memo is None or self.fit is None:
            return "no curve"
        if self.memo.has_ci and self.memo.mean - self.memo.ci > 0:
            return "memorizes"
        if self.fit.has_ci and self.fit.mean - self.fit.ci > 0:
            return "overfits"
        return "no gap shown"

    def gap_text(self, which: str, digits: int = 3) -> str:
        gap = getattr(self, which)
        if gap is None:
            return "no curve"
        tasks = f", {self.curve_tasks} curve tasks" if self.curve_tasks else ""
        return gap.text(digits, signed=True).replace(f" (n={gap.n})", f" (seeds={gap.n}{tasks})")


def regime(runs: dict, metric: str) -> Regime:
    """The backbone's regime from its last curve point (`memorization`), over the seeds with all
    three points."""
    m = memorization(runs, metric)
    seeds = sorted(set(m["test@k"]) & set(m["train@0"]) & set(m["train@k"]))
    if len(seeds) < 2:
        return Regime(None, None, None)
    sign = (
        -1.0 if metric in HIGHER_IS_BETTER else 1.0
    )  # error terms: accuracy's gap is train - test
    memo = stats.estimate(sign * (m["test@k"][s] - m["train@0"][s]) for s in seeds)
    fit = stats.estimate(sign * (m["test@k"][s] - m["train@k"][s]) for s in seeds)
    tasks = {runs[s].get("config", {}).get("eval", {}).get("curve_tasks") for s in seeds}
    return Regime(memo, fit, tasks.pop() if len(tasks) == 1 else None)


def regime_table(cells: dict, title: str = "Non-mutually-exclusive sinusoid") -> str:
    """Test error with the regime measures beside it (the last curve point: training tasks before
    and after adaptation, test tasks after), and every claim judged by `stats.judge`, its
    backbone's regime beside the verdict as an explanation."""
    metric = _primary(cells)
    base_metric = metric.split("@")[0]
    first = next(iter(next(iter(cells.values())).values()))
    count = (
        f"{first['metrics'][metric]['num_tasks']} "
        if "num_tasks" in first["metrics"][metric]
        else ""
    )
    tasks = (
        f"{count}fixed curve tasks per seed "
        f"(the curve point at step {first['curve_until']}; "
        "the runs stopped before their final evaluation)"
        if "curve_until" in first
        else f"{count}fresh tasks per seed"
    )
    # the @10 column, unless it is the primary already or the runs did not report it
    extra = metric != base_metric + "@10" and base_metric + "@10" in first["metrics"]
    higher = base_metric in HIGHER_IS_BETTER
    out = [
        f"## {title}: test {metric} on {tasks} (mean over seeds ± t-CI95)\n",
        "Regime columns: the last curve point (config.eval.every) on fixed training tasks and "
        "fixed test tasks; `train@0` is the training tasks' error *before* adaptation: near the "
        "noise-free floor 0 when a model solves its training tasks from the input alone; "
        "`train@k` and `test@k` after the training's inner steps.\n",
    ]
    for column in sorted({c for c, _ in cells}):
        out += [
            f"### {column}\n",
            f"| method | test {metric} | "
            + (f"test {base_metric}@10 | " if extra else "")
            + "train@0 | train@k | test@k | budget |",
            "|---|---|---|---|---|---|" + ("---|" if extra else ""),
        ]
        for m in _ordered({m for c, m in cells if c == column}):
            runs = cells[(column, m)]
            mem = memorization(runs, base_metric)
            cols = [fmt(*mean_ci(mem[n].values())) for n in ("train@0", "train@k", "test@k")]
            own = _own_metric(runs)  # ProtoNet's primary is @0 (no inner loop)
            main = cell(runs, own) + ("" if own == metric else f" ({own})")
            out.append(
                f"| {paper.label(m)} | {main} | "
                + (f"{cell(runs, base_metric + '@10')} | " if extra else "")
                + " | ".join(cols)
                + f" | {budget(runs)} |"
            )
        out.append("")
    out += [
        "### Claims tested (paired over seeds; the backbone's regime beside each verdict)\n",
        "| column | claim | Δ test metric vs backbone (its primary metric) | verdict "
        "| backbone's memorization gap test@k - train@0 (error) "
        "| its overfitting gap test@k - train@k (error) |",
        "|---|---|---|---|---|---|",
    ]
    for column, method in sorted(cells, key=lambda cm: (cm[0], _rank(cm[1]))):
        if "+" not in method:
            continue
        base = method.split("+")[0]
        r = regime(cells.get((column, base), {}), base_metric)
        own = _own_metric(cells.get((column, base), {})) or metric
        j = judge_cells(cells, column, method, base, own, higher)
        out.append(
            f"| {column} | {paper.label(method)} improves {paper.label(base)} "
            f"| {delta_text(j)} | {j.verdict_text()} | {r.gap_text('memo')} "
            f"| {r.gap_text('fit')} |"
        )
    out.append("\n" + CLAIM_LEGEND)
    return "\n".join(out) + "\n"


nme_table = regime_table


def head_spread(heads: np.ndarray, z: np.ndarray) -> dict[str, float]:
    """How different TRLearner's H relation heads [H, D] are: their mean pairwise distance relative
    to their mean norm, and the mean pairwise difference of their relation matrices
    cos(w_h z_i, w_h z_j) on task representations z [T, D], relative to the matrices' mean magnitude
    (0 = the heads act as one)."""
    from metareg.regularizers.trlearner import cosine_matrix

    h = len(heads)
    pairs = [(a, b) for a in range(h) for b in range(a + 1, h)]
    norms = np.linalg.norm(heads, axis=1).mean()
    mats = [np.asarray(cosine_matrix(heads[i] * z)) for i in range(h)]
    off = ~np.eye(len(z), dtype=bool)
    scale = np.mean([np.abs(m[off]).mean() for m in mats])
    return {
        "weight_spread": float(
            np.mean([np.linalg.norm(heads[a] - heads[b]) for a, b in pairs]) / norms
        )
        if pairs
        else 0.0,
        "relation_spread": float(
            np.mean([np.abs(mats[a][off] - mats[b][off]).mean() for a, b in pairs]) / scale
        )
        if pairs
        else 0.0,
    }


def heads_table(root: Path, num_tasks: int = 25) -> str:
    """Per cell (mean over seeds): the heads' spread at the end of training, and the test error; the
    task representations are those of `num_tasks` fresh tasks drawn from each run's seed."""
    import jax

    from metareg.rng import named_key, root_key
    from metareg.workdir import restore_run

    out = [
        "## TRLearner's relation heads after training (mean over seeds)\n",
        "| cell | head-init noise | weight spread | relation spread | test metric | n |",
        "|---|---|---|---|---|---|",
    ]
    for cell_dir in sorted(
        {d.parent for d in root.glob("**/seed_*") if (d / "results.json").exists()}
    ):
        rows = []
        for run in sorted(cell_dir.glob("seed_*")):
            if not (run / "results.json").exists():
                continue
            config, family, objective, meta_params = restore_run(run)
            tr = next(r for r in objective.regularizers if r.name == "trlearner")
            eps = family.sample_test(named_key(root_key(config.seed), "heads"), num_tasks)
            represent = jax.vmap(tr.task_representation, in_axes=(None, None, 0, 0))
            z = np.asarray(
                represent(objective.learner, meta_params["model"], eps.support_x, eps.support_y)
            )
            spread = head_spread(np.asarray(meta_params["regularizers"]["trlearner"]["heads"]), z)
            result = json.loads((run / "results.json").read_text())
            rows.append(
                (
                    spread["weight_spread"],
                    spread["relation_spread"],
                    result["mean"],
                    config.trlearner.init_noise,
                    result["metric"],
                )
            )
        if rows:
            w, r, m = (np.mean([row[i] for row in rows]) for i in range(3))
            out.append(
                f"| {cell_dir.relative_to(root)} | {rows[0][3]:g} | {w:.3f} | {r:.3f} "
                f"| {rows[0][4]} {m:.3f} | {len(rows)} |"
            )
    return "\n".join(out) + "\n"


def _own_metric(runs: dict) -> str | None:
    """The primary metric the runs of one cell report (results.json "metric"), None for no runs."""
    return next(iter(runs.values()))["metric"] if runs else None


def _primary(cells: dict) -> str:
    return next(iter(next(iter(cells.values())).values()))["metric"]


def _ordered(methods) -> list[str]:
    return sorted(methods, key=_rank)


def _rank(method: str) -> tuple:
    return method.split("+")[0], method.count("+"), method


def _ways_shots(column: str) -> tuple[int, int]:
    """ "20way1shot_nme" -> (20, 1)."""
    head = column.split("_")[0]
    ways, shots = head.split("way")
    return int(ways), int(shots.removesuffix("shot"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("table", choices=["omniglot", "chembl", "pose", "nme", "regime", "heads"])
    p.add_argument(
        "--title", default="Non-mutually-exclusive sinusoid", help="nme / regime: the table's title"
    )
    p.add_argument("--root", required=True, help="a grid root, or several separated by commas")
    p.add_argument("--out", required=True)
    p.add_argument("--reference", help="chembl: the JSON of benchmarks/chembl_reference.py")
    p.add_argument(
        "--at-step",
        type=int,
        help=(
            "regime: judge runs at this curve point "
            "(e.g. runs stopped before their final evaluation)"
        ),
    )
    p.add_argument("--metric", default="accuracy", help="--at-step: the family's metric")
    args = p.parse_args()
    if args.table == "heads":  # reads checkpoints, not only results.json
        text = heads_table(Path(args.root))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(text)
        return
    if args.at_step is not None and args.table != "regime":
        raise SystemExit("--at-step goes with the regime table")
    cells = collections.defaultdict(dict)  # --root may list several roots: their cells are merged
    for root in args.root.split(","):
        found = (
            collect(Path(root))
            if args.at_step is None
            else collect_at_step(Path(root), args.at_step, args.metric)
        )
        for key, runs in found.items():
            cells[key].update(runs)
    if not cells:
        what = (
            f"no curve point at step {args.at_step}"
            if args.at_step is not None
            else "no results.json"
        )
        raise SystemExit(f"{what} under {args.root}/<column>/<method>/seed_<s>/")
    if args.table == "omniglot":
        text = omniglot_table(cells)
    elif args.table == "chembl":
        reference = json.loads(Path(args.reference).read_text()) if args.reference else None
        text = chembl_table(cells, reference)
    elif args.table in ("nme", "regime"):
        text = regime_table(cells, args.title)
    else:
        text = pose_table(cells)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
