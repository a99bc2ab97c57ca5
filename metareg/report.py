"""Tables from runs' results.json files: ours (mean +- 95% CI over seeds) beside the paper.

    python -m metareg.report --root runs/table1_sinusoid --out docs/results/table1_sinusoid.md

A run directory is ROOT/<family>/k<K>/<method>/seed_<s>/results.json (the layout of
experiments/grids/table1_sinusoid.py). For each cell: the mean over seeds of the test MSE (600
fresh tasks per seed) with a t-based 95% CI over seeds, and the paired difference from MAML on
the same seeds (same test tasks), which is what a claim "X improves MAML" needs.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
from pathlib import Path

import numpy as np

# TRLearner paper, Table 1 (sinusoid columns).
PAPER = {
    ("maml", 5): 0.593, ("metamix", 5): 0.476, ("trlearner", 5): 0.400,
    ("maml", 10): 0.166, ("metamix", 10): 0.083, ("trlearner", 10): 0.052,
}
# Bayes-optimal MSE (posterior mean under the true prior), from ../shared/docs/methods.md; not computed here.
BAYES_FLOOR = {("sinusoid", 5): 0.33, ("sinusoid", 10): 0.041, ("sinusoid_w1", 5): 0.049, ("sinusoid_w1", 10): 0.019}
LABELS = {
    "maml": "MAML", "metamix": "MAML+MetaMix", "trlearner": "MAML+TRLearner",
    "trlearner_top1": "MAML+TRLearner (top-1 relation)", "trlearner_top2": "MAML+TRLearner (top-2 relations)",
}
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


# Targets are at most ~5 in size, so any sane predictor's MSE is below ~100: a mean above this
# means the test-time adaptation blew up on some tasks.
BLOWUP_MSE = 1e3


def diverged(value: float) -> bool:
    return not math.isfinite(value) or value > BLOWUP_MSE


def t_ci95(values) -> float:
    v = np.asarray(values, float)
    if v.size < 2:
        return float("nan")
    return float(T975.get(v.size - 1, 1.96) * v.std(ddof=1) / math.sqrt(v.size))


def collect(root: Path) -> dict:
    """{(family, K, method): {seed: results}}."""
    cells = collections.defaultdict(dict)
    for f in sorted(root.glob("*/k*/*/seed_*/results.json")):
        method_dir = f.parents[1]
        family, k = method_dir.parents[1].name, int(method_dir.parent.name[1:])
        seed = int(f.parent.name.split("_")[1])
        cells[(family, k, method_dir.name)][seed] = json.loads(f.read_text())
    return cells


def summarize(cells: dict, metric: str) -> dict:
    out = {}
    for (family, k, method), runs in cells.items():
        seeds = sorted(runs)
        vals = [runs[s]["metrics"][metric]["mean"] for s in seeds]
        medians = [runs[s]["metrics"][metric].get("median") for s in seeds]
        row = {"mean": float(np.mean(vals)), "ci95": t_ci95(vals), "seeds": seeds, "per_seed": vals,
               "diverged_seeds": int(sum(diverged(v) for v in vals)),
               "median": float(np.mean(medians)) if all(m is not None for m in medians) else None,
               "steps": runs[seeds[0]]["steps"], "step_time_s": float(np.mean([runs[s]["step_time_s"] for s in seeds]))}
        base = cells.get((family, k, "maml"), {})
        paired = [runs[s]["metrics"][metric]["mean"] - base[s]["metrics"][metric]["mean"] for s in seeds if s in base]
        if method != "maml" and len(paired) >= 2:
            row["diff_vs_maml"] = {"mean": float(np.mean(paired)), "ci95": t_ci95(paired), "n": len(paired)}
        out[f"{family}/k{k}/{method}"] = row
    return out


def markdown(summary: dict, metrics: list[str]) -> str:
    lines = []
    families = sorted({key.split("/")[0] for key in summary[metrics[0]]}, key=lambda f: f != "sinusoid")
    methods = [m for m in LABELS if any(key.endswith("/" + m) for key in summary[metrics[0]])]
    for family in families:
        lines.append(f"### `{family}`\n")
        head = "| method | " + " | ".join(f"K={k}: ours {m}" for k in (5, 10) for m in metrics) + " | paper K=5 | paper K=10 |"
        lines += [head, "|" + "---|" * (2 + 2 * len(metrics) + 1)]
        for method in methods:
            cells = []
            for k in (5, 10):
                for m in metrics:
                    r = summary[m].get(f"{family}/k{k}/{method}")
                    if r is None:
                        cells.append("not run")
                        continue
                    if r["diverged_seeds"]:
                        s = f"diverges in {r['diverged_seeds']}/{len(r['seeds'])} seeds"
                        if r.get("median") is not None:
                            s += f" (median task MSE {r['median']:.3f})"
                        cells.append(s)
                        continue
                    s = f"{r['mean']:.3f} ± {r['ci95']:.3f}"
                    d = r.get("diff_vs_maml")
                    if d and math.isfinite(d["mean"]):
                        s += f" (Δ {d['mean']:+.3f} ± {d['ci95']:.3f})"
                    cells.append(s)
            paper = [f"{PAPER[(method, k)]:.3f}" if (method, k) in PAPER else "—" for k in (5, 10)]
            lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " | " + " | ".join(paper) + " |")
        floor = [f"{BAYES_FLOOR[(family, k)]:.3f}" for k in (5, 10) for _ in metrics]
        lines.append("| Bayes-optimal floor (methods.md) | " + " | ".join(floor) + " | — | — |")
        any_row = next(iter(v for key, v in summary[metrics[0]].items() if key.startswith(family)))
        lines.append(
            f"\nBudget: {any_row['steps']} outer steps x meta-batch 25 (the paper does not state its length), "
            f"seeds {any_row['seeds']}; each seed's number is the mean over 600 fresh test tasks. "
            "± is a t-based 95% CI over seeds; Δ is the paired difference from MAML on the same seeds and test tasks "
            "(negative = better). \"Diverges\": the test-time adaptation blew up (non-finite, or a seed's mean MSE above "
            f"{BLOWUP_MSE:g}) on some of the 600 test tasks in that many seeds, so no mean is meaningful; the median task MSE "
            "(mean over seeds of each seed's median) is given instead.\n"
        )
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--json")
    p.add_argument("--metrics", default="mse_clean@1,mse_clean@10")
    args = p.parse_args()
    cells = collect(Path(args.root))
    if not cells:
        raise SystemExit(f"no results.json under {args.root}/<family>/k<K>/<method>/seed_<s>/")
    metrics = args.metrics.split(",")
    summary = {m: summarize(cells, m) for m in metrics}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(markdown(summary, metrics) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    print(Path(args.out).read_text())


if __name__ == "__main__":
    main()
