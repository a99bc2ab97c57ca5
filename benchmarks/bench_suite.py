r"""How the outer step's cost grows (issue 6): step time, compile time, peak memory and FLOPs as
functions of the meta-batch size T and the number of inner steps, with the regularizers on or off,
for the sinusoid MLP and the Omniglot Conv4; learn2learn's MAML beside ours in the same run
(its sinusoid MLP and its OmniglotCNN, benchmarks/l2l_sweep.py). JSON + a plot.

TRLearner's exact consistency loss evaluates every adapted model on every task's queries: O(T^2)
model evaluations against MAML's O(T). The relation-sparse variants (top-k related tasks) are
O(T k).

    python benchmarks/bench_suite.py --out benchmarks/results/suite_sinusoid.json \
        [--no-l2l] [--quick]
    python benchmarks/bench_suite.py --shape omniglot --out benchmarks/results/suite_omniglot.json

The Omniglot shape is the omniglot experiments' (experiments/base.py): 20-way 1-shot, 1 query per
class (MetaMix's reference), Conv4 with stride-2 convs, transductive BatchNorm, inner lr 0.4, on the
real Omniglot data; T up to 16 and inner steps up to 8 (a 2-core CPU: exact TRLearner at T = 16
already runs 256 adapted-model passes per step).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from pathlib import Path

import jax
import matplotlib
from common import compile_variant, configured, learn2learn_python, summary, time_interleaved

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
META_BATCH = (1, 2, 4, 8, 16, 32, 64)
INNER_STEPS = (1, 2, 4, 8, 16)
INNER_STEPS_T = 32
VARIANTS = {
    "maml": {},
    "maml+trlearner": {"regularizers": ("trlearner",)},
    "maml+trlearner(top1)": {"regularizers": ("trlearner",), "trlearner.num_related": 1},
    "maml+trlearner(top2)": {"regularizers": ("trlearner",), "trlearner.num_related": 2},
    "maml+metamix": {"regularizers": ("metamix",)},
    "maml+metamix+trlearner": {"regularizers": ("metamix", "trlearner")},
}
SHAPES = {
    "sinusoid": {"task.num_shots": 10, "task.num_queries": 10},  # the 10 + 10 points
    "omniglot": {
        "task.name": "omniglot",
        "model.name": "conv4",
        "model.pool": "stride",
        "model.readout": "mean",
        "task.ways": 20,
        "task.num_shots": 1,
        "task.num_queries": 1,
        "learner.inner_lr": 0.4,
        "eval.metric": "accuracy",
        "metamix.alpha": 2.0,
        "metamix.layers": (1, 2, 3),
    },
}
AXES = {
    "sinusoid": ((1, 2, 4, 8, 16, 32, 64), (1, 2, 4, 8, 16), 32),
    "omniglot": ((1, 2, 4, 8, 16), (1, 2, 4, 8), 8),
}
SHAPE = SHAPES["sinusoid"]


def measure(points: dict, steps: int, rounds: int) -> dict:
    """points: name -> config overrides; compiled one at a time (bounded memory), timed interleaved
    per axis value."""
    variants = {name: compile_variant(configured({**SHAPE, **o})) for name, o in points.items()}
    time_interleaved(variants, steps, rounds)
    return {name: summary(v) for name, v in variants.items()}


def learn2learn(shape: str, meta_batch, inner_steps, steps: int) -> list[dict] | dict:
    found = learn2learn_python()
    if isinstance(found, str):
        return {"error": found}
    py, env = found
    cmd = [
        py,
        str(ROOT / "benchmarks" / "l2l_sweep.py"),
        "--shape",
        shape,
        "--meta-batch",
        ",".join(map(str, meta_batch)),
        "--inner-steps",
        ",".join(map(str, inner_steps)),
        "--steps",
        str(steps),
        "--queries",
        str(SHAPE.get("task.num_queries", 1)),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return rows or {"error": run.stderr[-500:]}


def plot(result: dict, out: Path):
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), dpi=110)
    by_t = result["meta_batch"]
    for name in VARIANTS:
        ts = [t for t in META_BATCH if f"{name}@T={t}" in by_t]
        axes[0].plot(
            ts, [by_t[f"{name}@T={t}"]["median_step_s"] * 1e3 for t in ts], marker="o", label=name
        )
        axes[1].plot(
            ts,
            [
                by_t[f"{name}@T={t}"]["median_step_s"] / by_t[f"maml@T={t}"]["median_step_s"]
                for t in ts
            ],
            marker="o",
            label=name,
        )
    l2l = [
        r
        for r in result.get("learn2learn_meta_batch", [])
        if isinstance(r, dict) and "meta_batch" in r
    ]
    if l2l:
        axes[0].plot(
            [r["meta_batch"] for r in l2l],
            [r["median_step_s"] * 1e3 for r in l2l],
            "k--",
            marker="s",
            label="learn2learn MAML",
        )
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="meta-batch size T",
        ylabel="outer step (ms, median)",
        title="step time vs T (1 inner step)",
    )
    axes[1].axhline(1.5, color="k", ls=":", label="1.5x goal")
    axes[1].set(
        xscale="log",
        xlabel="meta-batch size T",
        ylabel="step time / MAML's",
        title="regularizer overhead vs T",
    )
    by_s = result["inner_steps"]
    for name in VARIANTS:
        ss = [s for s in INNER_STEPS if f"{name}@steps={s}" in by_s]
        axes[2].plot(
            ss,
            [by_s[f"{name}@steps={s}"]["median_step_s"] * 1e3 for s in ss],
            marker="o",
            label=name,
        )
    l2l = [
        r
        for r in result.get("learn2learn_inner_steps", [])
        if isinstance(r, dict) and "inner_steps" in r
    ]
    if l2l:
        axes[2].plot(
            [r["inner_steps"] for r in l2l],
            [r["median_step_s"] * 1e3 for r in l2l],
            "k--",
            marker="s",
            label="learn2learn MAML",
        )
    axes[2].set(
        xscale="log",
        yscale="log",
        xlabel="inner steps",
        ylabel="outer step (ms, median)",
        title=f"step time vs inner steps (T={INNER_STEPS_T})",
    )
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
    axes[1].legend(fontsize=7)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results/suite_sinusoid.json")
    parser.add_argument("--steps", type=int, default=120, help="timed steps per point")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--l2l-steps", type=int, default=20)
    parser.add_argument("--no-l2l", action="store_true")
    parser.add_argument(
        "--quick", action="store_true", help="two points per axis, few steps (a smoke test)"
    )
    parser.add_argument("--shape", choices=sorted(SHAPES), default="sinusoid")
    args = parser.parse_args()
    global META_BATCH, INNER_STEPS, INNER_STEPS_T, SHAPE
    SHAPE = SHAPES[args.shape]
    META_BATCH, INNER_STEPS, INNER_STEPS_T = AXES[args.shape]
    if args.shape == "omniglot":
        args.steps = min(args.steps, 12)
        args.l2l_steps = min(args.l2l_steps, 6)
    if args.quick:
        META_BATCH, INNER_STEPS, args.steps, args.rounds, args.l2l_steps = (2, 8), (1, 2), 4, 1, 2
    configs = {
        "sinusoid": (
            "sinusoid MLP 1-40-40-1, 10 support + 10 query points, second-order MAML, Adam; "
            "runs' own configs"
        ),
        "omniglot": (
            "Omniglot Conv4 (stride-2 convs, width 64, transductive BN), 20-way 1-shot, "
            "1 query per class, second-order MAML (inner lr 0.4), Adam; "
            "runs' own configs on the real data"
        ),
    }
    result = {
        "config": configs[args.shape],
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "jax": jax.__version__,
            "backend": jax.default_backend(),
        },
        "meta_batch": {},
        "inner_steps": {},
    }
    for t in META_BATCH:
        points = {
            f"{name}@T={t}": {**o, "meta_batch_size": t}
            for name, o in VARIANTS.items()
            if t > 1 or "trlearner" not in name
        }
        result["meta_batch"].update(measure(points, args.steps, args.rounds))
        print(
            t,
            {
                k: round(v["median_step_s"] * 1e3, 3)
                for k, v in result["meta_batch"].items()
                if k.endswith(f"T={t}")
            },
            flush=True,
        )
    for s in INNER_STEPS:
        points = {
            f"{name}@steps={s}": {**o, "meta_batch_size": INNER_STEPS_T, "learner.inner_steps": s}
            for name, o in VARIANTS.items()
        }
        result["inner_steps"].update(measure(points, max(4, args.steps // s), args.rounds))
        print(
            s,
            {
                k: round(v["median_step_s"] * 1e3, 3)
                for k, v in result["inner_steps"].items()
                if k.endswith(f"steps={s}")
            },
            flush=True,
        )
    for t in (32, max(META_BATCH)):  # the T = 32, and the largest T measured
        at_t = {k: v for k, v in result["meta_batch"].items() if k.endswith(f"@T={t}")}
        if at_t:
            result[f"overhead_at_T{t}"] = {
                k: v["median_step_s"] / at_t[f"maml@T={t}"]["median_step_s"]
                for k, v in at_t.items()
            }
    if not args.no_l2l:
        result["learn2learn_meta_batch"] = learn2learn(args.shape, META_BATCH, (1,), args.l2l_steps)
        result["learn2learn_inner_steps"] = learn2learn(
            args.shape, (INNER_STEPS_T,), INNER_STEPS, args.l2l_steps
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
