r"""The scorecard: every published claim we ran, judged by the one rule (`stats.judge`), with the
paper's numbers, ours, the paper's effect against our CI, the baseline's match, the regime beside
it, our budget beside the paper's and the departures that could matter.

    python -m metareg.analysis.scorecard --results results --out docs/results/scorecard
    make scorecard

Writes scorecard.md (the three-line summary first, then one row per claim) and scorecard.json
(per claim: `verdict`, `paper_effect`, `baseline_match`, `seeds`, `budget`, and the numbers).
Each setting below names its committed runs (results/<root>/<column>/<method>/seed_<s>/), the
claims the papers make on it, and what differs from the papers' protocol; a setting whose runs are
missing is listed as not run.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from metareg.analysis import paper, stats, tables
from metareg.analysis.runs import collect

REGRESSION_REGULARIZERS = ("meta_aug", "metamix", "mr_maml", "dropout_bins", "metacrl", "trlearner")


@dataclasses.dataclass(frozen=True)
class Claim:
    """One published claim "X improves B" on one setting. paper_x / paper_b: the paper's numbers
    in our units (None: the paper gives none for this setting)."""

    source: str  # "TRLearner Table 1", "MetaMix Table 5", ...
    text: str
    column: str  # the setting's column(s) our runs are in; several = pooled within seeds
    method: str
    base: str
    paper_x: float | None
    paper_b: float | None


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    root: str  # under the results directory
    metric: str | None  # None: each run's own primary metric
    higher_is_better: bool
    scale: float  # display scale (accuracy in %)
    claims: Callable[[dict], list[Claim]]
    budget: str  # ours vs the paper's
    departures: str
    # metrics judged besides the primary, shown as a second verdict (Table 1's test steps)
    secondary_metric: Callable[[Claim], str] | None = None
    primary_metric: Callable[[Claim], str] | None = None
    regime_metric: str | None = None


# --------------------------------------------------------------------------------------- Table 1

# The paper does not say how many test steps its Table 1 uses. Our MAML matches its MAML row
# after 1 step at K = 5 (0.608 ± 0.022 vs 0.593) and after 10 steps at K = 10 (0.174 ± 0.008 vs
# 0.166), and at no other count (docs/results/table1.md, "Which test steps"): each column is
# judged at the count its baseline match supports, the other count beside it.
TABLE1_TEST_STEPS = {5: 1, 10: 10}


def _table1_claims(cells: dict) -> list[Claim]:
    out = []
    for k in (5, 10):
        column = f"sinusoid_w1/k{k}"
        for b in paper.BACKBONES:
            name = paper.BACKBONE_LABELS[b]
            pairs = [
                (f"{paper.REGULARIZER_LABELS[r]} improves {name}", f"{b}+{r}", b)
                for r in REGRESSION_REGULARIZERS
            ] + [
                (
                    f"TRLearner beats {paper.REGULARIZER_LABELS[r]} on {name}",
                    f"{b}+trlearner",
                    f"{b}+{r}",
                )
                for r in REGRESSION_REGULARIZERS
                if r != "trlearner"
            ]
            for text, x, base in pairs:
                px, pb = (
                    paper.paper_mse(x, "sinusoid_w1", k),
                    paper.paper_mse(base, "sinusoid_w1", k),
                )
                if px is None or pb is None:
                    continue
                out.append(Claim("TRLearner Table 1", f"{text}, {k}-shot", column, x, base, px, pb))
    return out


def _table1_metric(claim: Claim) -> str:
    return f"mse_clean@{TABLE1_TEST_STEPS[int(claim.column.rsplit('k', 1)[1])]}"


def _table1_other(claim: Claim) -> str:
    steps = TABLE1_TEST_STEPS[int(claim.column.rsplit("k", 1)[1])]
    return f"mse_clean@{11 - steps}"  # 1 <-> 10


# -------------------------------------------------------------------------------------- Omniglot


def _omniglot_claims(cells: dict) -> list[Claim]:
    column = "20way1shot_norot"
    out = []
    for source, label in (("TRLearner", "TRLearner Table 2"), ("MetaMix", "MetaMix Table 5")):
        for x, base in (
            ("maml+metamix", "maml"),
            ("maml+trlearner", "maml"),
            ("maml+mr_maml", "maml"),
            ("maml+dropout_bins", "maml"),
            ("maml+metacrl", "maml"),
            ("protonet+trlearner", "protonet"),
            ("maml+trlearner", "maml+metamix"),
        ):
            pair = paper.omniglot_pair(source, 20, 1, x, base)
            if pair:
                text = (
                    f"{paper.label(x)} improves {paper.label(base)}"
                    if paper.backbone_of(x) == base
                    else f"{paper.label(x)} beats {paper.label(base)}"
                )
                out.append(Claim(label, text, column, x, base, pair[0] / 100, pair[1] / 100))
    return out


# ---------------------------------------------------------------------------------------- ChEMBL


def _chembl_claims(groups: list[str]):
    def claims(cells: dict) -> list[Claim]:
        column = ",".join(groups)
        out = []
        for x, base in (("maml+trlearner", "maml"), ("anil+trlearner", "anil")):
            px, pb = paper.DRUG_TRLEARNER_GROUP5.get(x), paper.DRUG_TRLEARNER_GROUP5.get(base)
            out.append(
                Claim(
                    "TRLearner Table 3 (pQSAR, group 5 average)",
                    f"{paper.label(x)} improves {paper.label(base)} (mean R²)",
                    column,
                    x,
                    base,
                    px[0],
                    pb[0],
                )
            )
        for x, base in (("anil+metamix", "anil"), ("metasgd+metamix", "metasgd")):
            px, pb = paper.DRUG_METAMIX_MEAN[x], paper.DRUG_METAMIX_MEAN[base]
            out.append(
                Claim(
                    "MetaMix Table 2 (pQSAR, mean of 4 groups)",
                    f"{paper.label(x)} improves {paper.label(base)} (mean R²)",
                    column,
                    x,
                    base,
                    px[0],
                    pb[0],
                )
            )
        return [c for c in out if all((g, c.method) in cells for g in groups)]

    return claims


# ------------------------------------------------------------------------------------------ Pose


def _pose_claims(cells: dict) -> list[Claim]:
    out = []
    for source, label in (("TRLearner", "TRLearner Table 4"), ("MetaMix", "MetaMix Table 4")):
        table = paper.POSE[source]
        for x in sorted(table):
            if "+" not in x:
                continue
            base = paper.backbone_of(x)
            if base not in table:
                continue
            for i, shots in enumerate((10, 15)):
                column = f"k{shots}"
                if (column, x) not in cells:
                    continue
                out.append(
                    Claim(
                        label,
                        f"{paper.label(x)} improves {paper.label(base)}, {shots}-shot",
                        column,
                        x,
                        base,
                        table[x][i],
                        table[base][i],
                    )
                )
    return out


# ---------------------------------------------------------------------- our non-mutually-exclusive


def _nme_claims(cells: dict) -> list[Claim]:
    out = []
    for k in (5, 10):
        for r in REGRESSION_REGULARIZERS:
            x = f"maml+{r}"
            if (f"k{k}", x) in cells:
                out.append(
                    Claim(
                        "ours: the papers' claim, in the setting it is made for",
                        f"{paper.label(x)} improves MAML, {k}-shot",
                        f"k{k}",
                        x,
                        "maml",
                        None,
                        None,
                    )
                )
    return out


# ------------------------------------------------------------------------------ positive controls


def _mr_maml_notebook_claims(cells: dict) -> list[Claim]:
    # the notebook's one run each (docs/sources/mr_maml_sinusoid_notebook.md): MAML 0.51450217,
    # MR-MAML-W 0.16159104, noisy-target MSE after 100 SGD steps on 5 support points
    return [
        Claim(
            "MR-MAML notebook (Yin et al. 2020)",
            "MR-MAML-W improves MAML (non-mutually-exclusive sinusoid)",
            "k5",
            "maml+mr_maml",
            "maml",
            0.16159104,
            0.51450217,
        )
    ]


SETTINGS = (
    Setting(
        "Table 1 sinusoid (w = 1 family)",
        "table1_budget",
        None,
        False,
        1.0,
        _table1_claims,
        "70,000 outer steps x meta-batch 25, 480-task pool (the paper states no length; 70,000 is "
        "the MAML paper's sinusoid budget)",
        "our sinusoid_w1 family (the stated family's MAML cannot reach the paper's row, "
        "methods.md); test steps not given by the paper (judged where our MAML matches it)",
        secondary_metric=_table1_other,
        primary_metric=_table1_metric,
        regime_metric="mse_clean",
    ),
    Setting(
        "Omniglot 20-way 1-shot, non-mutually-exclusive (MetaMix reference's tasks)",
        "omniglot_norot",
        None,
        True,
        100.0,
        _omniglot_claims,
        "4,000 outer steps x meta-batch 8 (the reference: 50,000)",
        "1 inner step of 0.4 in training, 5 at test (reference: 5 / 10 of 0.1); stride-2 Conv4 "
        "(reference: unpooled 64-filter convs); TRLearner's task representation ours",
        regime_metric="accuracy",
    ),
    Setting(
        "ChEMBL drug activity, 4 groups pooled within seeds",
        "chembl",
        "r2@5",
        True,
        1.0,
        _chembl_claims(["group0", "group1", "group2", "group3"]),
        "1,500 outer steps x meta-batch 8 (the papers: 25,000)",
        "whole-organism ChEMBL assays (ersilia few-shot set), not the 4,276 Novartis pQSAR assays: "
        "the papers' numbers are another dataset's",
    ),
    Setting(
        "ChEMBL drug activity, group 0 at the papers' budget",
        "chembl_25k",
        "r2@5",
        True,
        1.0,
        _chembl_claims(["group0"]),
        "25,000 outer steps x meta-batch 8 (the papers' 50 epochs x 500)",
        "whole-organism ChEMBL assays, not pQSAR; one evaluation group; whole-network MAML not run "
        "at this budget",
        regime_metric="r2",
    ),
    Setting(
        "Pose (our renders of 50 Pascal3D objects)",
        "pose",
        None,
        False,
        1.0,
        _pose_claims,
        "see docs/reproduction_pose.md (cells state steps)",
        "our renders of 50 CAD models (35 train / 15 test), not the papers' 65 objects",
    ),
    Setting(
        "Positive control: MR-MAML's sinusoid notebook",
        "sinusoid_mr_maml",
        None,
        False,
        1.0,
        _mr_maml_notebook_claims,
        "15,000 outer steps x meta-batch 1, the notebook's (one run, no seed; ours 5 seeds)",
        "none known in the protocol (docs/sources/mr_maml_sinusoid_notebook.md); 100 test tasks "
        "drawn from each seed instead of the notebook's seeded ones",
        secondary_metric=lambda claim: "mse_noisy@1",
        primary_metric=lambda claim: "mse_noisy@100",
        regime_metric="mse_clean",
    ),
    Setting(
        "Non-mutually-exclusive sinusoid (ours: MAML memorizes)",
        "sinusoid_nme",
        None,
        False,
        1.0,
        _nme_claims,
        "see docs/reproduction_nme.md",
        "our setting after MR-MAML's notebook; no paper number",
        regime_metric="mse_clean",
    ),
)


def judge_claim(setting: Setting, cells: dict, claim: Claim, metric: str | None):
    columns = claim.column.split(",")
    return tables.pooled_judgement(
        cells,
        claim.method,
        claim.base,
        metric,
        setting.higher_is_better,
        columns=columns,
        paper_pair=(claim.paper_x, claim.paper_b),
    )[0]


def _primaries(cells: dict, claim: Claim) -> str:
    """The metric the runs report as primary, e.g. "accuracy@5" (ProtoNet's is @0)."""
    names = {
        r["metric"]
        for c in claim.column.split(",")
        for m in (claim.base, claim.method)
        for r in cells.get((c, m), {}).values()
    }
    return " / ".join(sorted(names))


def _budget_of(cells: dict, claim: Claim) -> str:
    runs = [
        r
        for c in claim.column.split(",")
        for m in (claim.method, claim.base)
        for r in cells.get((c, m), {}).values()
    ]
    steps = sorted({r["steps"] for r in runs})
    return "/".join(f"{s:,}" for s in steps) + " steps" if steps else "not run"


def rows(results: Path) -> list[dict]:
    out = []
    for setting in SETTINGS:
        root = results / setting.root
        cells = collect(root) if root.exists() else {}
        for claim in setting.claims(cells):
            ran = [
                any((c, m) in cells for c in claim.column.split(","))
                for m in (claim.method, claim.base)
            ]
            if not all(ran):  # one row per claim we ran
                continue
            metric = setting.primary_metric(claim) if setting.primary_metric else setting.metric
            j = judge_claim(setting, cells, claim, metric)
            row = {
                "setting": setting.name,
                "source": claim.source,
                "claim": claim.text,
                "method": claim.method,
                "base": claim.base,
                "columns": claim.column.split(","),
                "metric": metric or _primaries(cells, claim),
                "higher_is_better": setting.higher_is_better,
                "scale": setting.scale,
                **j.as_dict(),
                "seeds": j.delta.n if j.delta else 0,
                "budget": {"ours": _budget_of(cells, claim), "setting": setting.budget},
                "departures": setting.departures,
            }
            if setting.secondary_metric:
                other = setting.secondary_metric(claim)
                j2 = judge_claim(setting, cells, claim, other)
                row["other_test_steps"] = {"metric": other, **j2.as_dict()}
            if setting.regime_metric:  # of B's cell; pooled claims have none
                single = len(row["columns"]) == 1
                base_runs = cells.get((claim.column, claim.base), {}) if single else {}
                r = tables.regime(base_runs, setting.regime_metric) if base_runs else None
                row["regime"] = (
                    None
                    if r is None
                    else {
                        "state": r.state,
                        "memorization_gap": r.memo.as_dict() if r.memo else None,
                        "overfitting_gap": r.fit.as_dict() if r.fit else None,
                        "curve_tasks": r.curve_tasks,
                    }
                )
            out.append(row)
    return out


def counts(rows: list[dict]) -> dict:
    verdicts = collections.Counter(r["verdict"] for r in rows)
    effects = collections.Counter(r["paper_effect"] or "no paper effect tested" for r in rows)
    match = [r for r in rows if r["baseline_match"]]
    return {
        "claims": len(rows),
        "verdicts": {v: verdicts.get(v, 0) for v in stats.VERDICTS},
        "paper_effect": dict(effects),
        "baseline_matches": len(match),
        "paper_effect_where_baseline_matches": dict(
            collections.Counter(r["paper_effect"] or "no paper effect tested" for r in match)
        ),
    }


def _num(x, scale, signed=False):
    digits = 3 if scale == 1 else 2
    return "—" if x is None else f"{x * scale:{'+' if signed else ''}.{digits}f}"


def _est(e: dict | None, scale: float, signed=False) -> str:
    if e is None:
        return "—"
    s = stats.Estimate(**_e(e))
    return s.text(3 if scale == 1 else 2, scale, signed)


def markdown(rows: list[dict]) -> str:
    c = counts(rows)
    v, e = c["verdicts"], c["paper_effect"]
    w = c["paper_effect_where_baseline_matches"]
    summary = [
        "# Scorecard: every published claim we ran, judged by one rule\n",
        f"- **{c['claims']} claims**: {v['supported']} supported, "
        f"{v['contradicted']} contradicted, {v['inconclusive']} inconclusive, "
        f"{v['too few seeds']} with too few seeds, "
        f"{v['diverged']} diverged.",
        f"- **The papers' own effect** lies outside our 95% CI (ruled out) for "
        f"{e.get('ruled out', 0)} claims and inside it (consistent) for {e.get('consistent', 0)}; "
        f"{e.get('no paper effect tested', 0)} have no paper pair or no CI.",
        f"- **Where our baseline matches the paper's** ({c['baseline_matches']} claims): "
        f"{w.get('ruled out', 0)} ruled out, {w.get('consistent', 0)} consistent.\n",
        "Generated by `make scorecard` from `results/` (metareg/analysis/scorecard.py); the rule "
        "is `metareg.analysis.stats.judge`: the seed is the unit, Δ = X - B paired over seeds "
        "with a t-CI95 (df = seeds - 1), a diverged seed gives no difference, the paper's Δ is "
        "ruled out when outside our CI, the baseline matches when the paper's B is inside our CI "
        "of B. Regime columns explain; they never gate a verdict. Numbers in the metric's units "
        "(accuracy in %).\n",
    ]
    lines = []
    for setting in SETTINGS:
        mine = [r for r in rows if r["setting"] == setting.name]
        lines.append(f"## {setting.name}\n")
        lines.append(
            f"Budget: {setting.budget}. Departures that could matter: {setting.departures}.\n"
        )
        if not mine:
            lines.append("Not run (no committed results).\n")
            continue
        other = "other test steps" if "other_test_steps" in mine[0] else None
        head = (
            "| source | claim | metric | paper B → X (Δ) | ours B | ours X | our Δ (seeds) "
            "| verdict | paper's effect | baseline | regime of B |"
        )
        if other:
            head += " verdict at the other test steps |"
        lines += [head, "|" + "---|" * (11 + bool(other))]
        for r in mine:
            s = r["scale"]
            pap = (
                f"{_num(r['paper_base'], s)} → {_num(r['paper_method'], s)} "
                f"({_num(r['paper_delta'], s, signed=True)})"
                if r["paper_delta"] is not None
                else "—"
            )
            j = stats.Judgement(
                r["verdict"],
                r["higher_is_better"],
                None,
                None,
                None if r["base"] is None else stats.Estimate(**_e(r["base"])),
                tuple(r["diverged_seeds"]["method"]),
                tuple(r["diverged_seeds"]["base"]),
                r["paper_method"],
                r["paper_base"],
            )
            regime = r.get("regime")
            regime_text = (
                "—"
                if not regime
                else (
                    f"{regime['state']} (overfit {_est(regime['overfitting_gap'], s, True)}; "
                    f"memo {_est(regime['memorization_gap'], s, True)}; "
                    f"{regime['curve_tasks']} curve tasks)"
                )
            )
            baseline = j.baseline_text(3 if s == 1 else 2, s)
            row = (
                f"| {r['source']} | {r['claim']} | {r['metric']} | {pap} | {_est(r['base'], s)} "
                f"| {_est(r['method'], s)} | {_est(r['delta'], s, True)} | {j.verdict_text()} "
                f"| {r['paper_effect'] or '—'} | {baseline} | {regime_text} |"
            )
            if other:
                o = r["other_test_steps"]
                row += f" {o['metric']}: {_est(o['delta'], s, True)} {o['verdict']} |"
            lines.append(row)
        lines.append("")
    return "\n".join(summary + lines)


def _e(d: dict) -> dict:
    return {"mean": d["mean"], "ci": float("nan") if d["ci95"] is None else d["ci95"], "n": d["n"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default="results", help="the committed results directory")
    p.add_argument("--out", default="docs/results/scorecard", help="writes OUT.md and OUT.json")
    args = p.parse_args()
    rs = rows(Path(args.results))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(markdown(rs))
    out.with_suffix(".json").write_text(
        json.dumps({"summary": counts(rs), "claims": rs}, indent=1, allow_nan=False) + "\n"
    )
    print(markdown(rs).split("\n\n")[0])


if __name__ == "__main__":
    main()
