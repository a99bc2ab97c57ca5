"""TRLearner's overhead per outer step for every backbone (issue 3), written as JSON.

The sinusoid setup of the runs (MLP 1-40-40-1, meta-batch 25, K = 5 + Q = 10 points, 1 inner
step, Adam), each variant built from the config exactly as `metareg.main` builds a run. For each
backbone: the plain step, + TRLearner (exact Eq. 5), + TRLearner top-1 / top-2 related tasks,
+ MetaMix, + MR-MAML, + Dropout-Bins (dropout and bins), + MetaCRL when available; median of single
jitted steps, variants interleaved in rounds. `--only GLOB` keeps the variants whose name matches.

    python benchmarks/bench_backbones.py --out benchmarks/results/sinusoid_backbones.json
    python benchmarks/bench_backbones.py --only 'maml*' --out /tmp/maml_variants.json
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
from pathlib import Path

import jax
from common import compile_variant, configured, summary, time_interleaved

from metareg.regularizers import REGULARIZERS

BACKBONES = ("maml", "fomaml", "anil", "metasgd", "tnet")
VARIANTS = {  # name suffix -> config overrides
    "": {},
    "+trlearner": {"regularizers": ("trlearner",)},
    "+trlearner(top1)": {"regularizers": ("trlearner",), "trlearner.num_related": 1},
    "+trlearner(top2)": {"regularizers": ("trlearner",), "trlearner.num_related": 2},
    "+metamix": {"regularizers": ("metamix",)},
    "+mr_maml": {"regularizers": ("mr_maml",)},
    "+dropout_bins": {"regularizers": ("dropout_bins",)},
    "+dropout_bins(bins)": {"regularizers": ("dropout_bins",), "dropout_bins.mode": "bins"},
    "+metacrl": {"regularizers": ("metacrl",)},
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results/sinusoid_backbones.json")
    parser.add_argument(
        "--steps", type=int, default=300, help="timed steps per variant, spread over the rounds"
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--only", default="*", help="glob over variant names, e.g. 'maml*' (MAML and its variants)"
    )
    args = parser.parse_args()
    variants = {}
    for backbone in BACKBONES:
        for suffix, overrides in VARIANTS.items():
            if not set(overrides.get("regularizers", ())) <= set(REGULARIZERS):
                continue
            if not fnmatch.fnmatchcase(backbone + suffix, args.only):
                continue
            variants[backbone + suffix] = compile_variant(
                configured({"learner.name": backbone, **overrides})
            )
    time_interleaved(variants, args.steps, args.rounds)
    results = {name: summary(v) for name, v in variants.items()}
    overhead = {}
    for name, r in results.items():
        backbone = name.split("+")[0]
        if name != backbone and backbone in results:
            overhead[name] = r["median_step_s"] / results[backbone]["median_step_s"]
    for name, r in results.items():
        print(
            f"{name:26s} compile {r['compile_s']:5.2f}s  "
            f"median {r['median_step_s'] * 1e3:7.3f} ms  "
            f"x{overhead.get(name, 1.0):.2f} of its backbone"
        )
    out = {
        "config": (
            "sinusoid MLP 1-40-40-1, meta-batch 25, 5 support + 10 query, 1 inner step, Adam; "
            "runs' own configs"
        ),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "jax": jax.__version__,
            "backend": jax.default_backend(),
        },
        "metareg": results,
        "overhead_vs_backbone": overhead,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
