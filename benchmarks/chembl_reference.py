r"""Non-meta-learning references on the ChEMBL drug-activity groups: per-assay ridge, support mean.

For each fingerprint, evaluation group (0: the data's own split, 200 meta-test assays; 1..3: seeded
re-partitions, 100 each) and seed of the meta-test split key (`named_key(root_key(seed), "test")`,
as train.py draws its test episodes), every meta-test assay is split 75/25 (at least 3 query
compounds, metareg.tasks.chembl) and scored with the papers' columns (mean R^2 with 95% CI, median,
count and fraction with R^2 > 0.3), beside the chance level of the same query sizes. Methods, all
fitted on each assay's support set only:

- ridge_loo:    ridge with lam chosen per assay by leave-one-out on the support
                (metareg.analysis.baselines)
- ridge_valid:  ridge with one lam for all assays, the grid value with the best mean R^2 on the
                group's meta-validation assays (split with the same key)
- support_mean: predict the support mean (R^2 = 0 by definition; its MSE is the floor for ridge's)

Also reported: the same columns restricted to assays with at least 5 query compounds (chance is
lower).

    python benchmarks/chembl_reference.py [--seeds 0 1 2] \
        [--fingerprints given2048 morgan1024] [--time-prepare]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from metareg import drug_metrics
from metareg.analysis import baselines
from metareg.data import chembl as ch
from metareg.rng import named_key, root_key
from metareg.tasks.chembl import make_chembl_family, split_sizes

MIN_QUERY_SUBSET = 5


def _scores(pred, ep) -> tuple[np.ndarray, np.ndarray]:
    r2 = np.asarray(drug_metrics.r_squared_batch(pred, ep.query_y, ep.query_mask))
    mse = np.asarray(drug_metrics.masked_mse_batch(pred, ep.query_y, ep.query_mask))
    return r2, mse


def _summary(r2, mse, nq) -> dict:
    out = drug_metrics.summarize_r_squared(r2, nq)
    out["mse_mean"] = float(np.mean(mse))
    big = nq >= MIN_QUERY_SUBSET
    if big.sum() >= 2:
        sub = drug_metrics.summarize_r_squared(r2[big], nq[big])
        keys = (
            "num_tasks",
            "mean",
            "ci95",
            "median",
            "count_above",
            "chance_mean",
            "chance_count_above",
        )
        out[f"q>={MIN_QUERY_SUBSET}"] = {k: sub[k] for k in keys}
    return out


def run_group(assays, group: int, seed: int) -> dict:
    family = make_chembl_family(assays, ch.assay_partition(assays.assay_ids, assays.folders, group))
    key = named_key(root_key(seed), "test")
    test, valid = family.sample_test(key), family.sample_valid(key)
    nq = np.asarray(test.query_mask.sum(-1)).astype(int)
    # One lam for the group: the grid value with the best mean R^2 on the meta-validation assays.
    valid_r2 = [
        float(_scores(baselines.ridge_episodes(valid, lam), valid)[0].mean())
        for lam in baselines.RIDGE_LAMBDAS
    ]
    lam_valid = baselines.RIDGE_LAMBDAS[int(np.argmax(valid_r2))]
    out = {
        "group": group,
        "seed": seed,
        "num_test": family.num_test_tasks,
        "eval_shape": [family.eval_max_support, family.eval_max_query],
        "lam_valid": lam_valid,
        "valid_mean_r2_per_lam": dict(
            zip(map(str, baselines.RIDGE_LAMBDAS), valid_r2, strict=True)
        ),
        "methods": {},
    }
    for name, pred in (
        ("ridge_loo", baselines.ridge_episodes(test)),
        ("ridge_valid", baselines.ridge_episodes(test, lam_valid)),
        ("support_mean", baselines.support_mean_episodes(test)),
    ):
        out["methods"][name] = _summary(*_scores(pred, test), nq)
    return out


def _aggregate(runs: list[dict]) -> dict:
    """Mean (and spread over seeds) of each column per (group, method)."""
    agg = {}
    for group in sorted({r["group"] for r in runs}):
        rs = [r for r in runs if r["group"] == group]
        agg[str(group)] = {}
        for method in rs[0]["methods"]:
            cols = {}
            for col in (
                "mean",
                "ci95",
                "median",
                "count_above",
                "fraction_above",
                "chance_mean",
                "chance_count_above",
                "mse_mean",
            ):
                v = np.array([r["methods"][method][col] for r in rs], np.float64)
                cols[col] = float(v.mean())
                if col in ("mean", "median", "count_above") and len(v) > 1:
                    cols[col + "_seed_sd"] = float(v.std(ddof=1))
            agg[str(group)][method] = cols
    return agg


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--groups", type=int, nargs="+", default=list(range(ch.NUM_GROUPS)))
    parser.add_argument("--fingerprints", nargs="+", default=["given2048", "morgan1024"])
    parser.add_argument(
        "--counts",
        action="store_true",
        help="also run given2048 with Morgan counts instead of bits",
    )
    parser.add_argument(
        "--time-prepare",
        action="store_true",
        help="time a fresh preparation into a temporary folder",
    )
    parser.add_argument("--out", default="docs/results/chembl_reference.json")
    args = parser.parse_args()

    timing = {}
    if args.time_prepare:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            ch.prepare_chembl(prepared_dir=tmp)
            timing["prepare_s"] = time.perf_counter() - t
    variants = [(f, False) for f in args.fingerprints] + (
        [("given2048", True)] if args.counts else []
    )
    results = {}
    stats = None
    for fingerprint, counts in variants:
        if fingerprint == "morgan1024":
            try:
                import rdkit  # noqa: F401
            except ImportError:
                print("skipping morgan1024: pip install rdkit")
                continue
        t = time.perf_counter()
        assays = ch.load_assays(fingerprint=fingerprint, counts=counts)
        name = fingerprint + ("_counts" if counts else "")
        timing[f"load_{name}_s"] = time.perf_counter() - t
        if stats is None:
            sizes = assays.sizes
            s, q = split_sizes(sizes)
            stats = {
                "num_assays": assays.num_assays,
                "num_compounds": int(sizes.sum()),
                "assays_per_folder": np.bincount(assays.folders).tolist(),
                "size_min_median_p99_max": [
                    int(sizes.min()),
                    float(np.median(sizes)),
                    float(np.percentile(sizes, 99)),
                    int(sizes.max()),
                ],
                "pchembl_min_mean_sd_max": [
                    float(assays.y.min()),
                    float(assays.y.mean()),
                    float(assays.y.std()),
                    float(assays.y.max()),
                ],
                "fraction_assays_q3": float((q == 3).mean()),
                "chance_mean_r2_all_assays": float(drug_metrics.chance_r_squared(q)[0].mean()),
                "bits_set_per_compound_mean": float((assays.x > 0).sum(1).mean()),
            }
        t = time.perf_counter()
        runs = [run_group(assays, g, seed) for g in args.groups for seed in args.seeds]
        timing[f"evaluate_{name}_s"] = time.perf_counter() - t
        results[name] = {"runs": runs, "aggregate": _aggregate(runs)}
        print(
            f"\n== {name}: mean over seeds {args.seeds} "
            "(R^2 mean [95% CI half-width], median, count > 0.3 / tasks; chance)"
        )
        for g, methods in results[name]["aggregate"].items():
            n = runs[[r["group"] for r in runs].index(int(g))]["num_test"]
            for m, c in methods.items():
                print(
                    f"group {g} {m:13s} mean {c['mean']:.3f} [{c['ci95']:.3f}] "
                    f"median {c['median']:.3f} "
                    f"> 0.3: {c['count_above']:.1f}/{n}   chance mean {c['chance_mean']:.3f} "
                    f"count {c['chance_count_above']:.1f}   "
                    f"MSE {c['mse_mean']:.3f}"
                )
    out = {
        "description": __doc__.strip().splitlines()[0],
        "protocol": {
            "support_fraction": 0.75,
            "min_query": 3,
            "split_key": "named_key(root_key(seed), 'test')",
            "ridge_lambdas": list(baselines.RIDGE_LAMBDAS),
            "seeds": args.seeds,
            "groups": args.groups,
        },
        "data": stats,
        "timing_s": timing,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "jax": jax.__version__,
            "backend": jax.default_backend(),
        },
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nwrote {args.out}; timing {json.dumps({k: round(v, 1) for k, v in timing.items()})}")


if __name__ == "__main__":
    main()
