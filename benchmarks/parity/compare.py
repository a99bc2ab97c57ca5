"""The MetaMix Omniglot parity report: the reference implementation against ours, per configuration.

    python benchmarks/parity/compare.py report --root runs/parity_metamix_omniglot \
        --out docs/results/parity_metamix_omniglot
    python benchmarks/parity/compare.py bench --bench-dir runs/parity_metamix_omniglot/bench \
        --steps 20 --out benchmarks/results/parity_step_times.json

`report` reads ROOT/CONFIG/{ref,ours}/{maml,metamix}/seed_S for every CONFIG folder present
(benchmarks/parity/metamix_omniglot.sh writes them):

- the reference: `test.log`, its own test loop's line per checkpoint
  ("test_epoch is STEP, acc is MEAN, ci95 is C", 601 fresh test tasks, 10 inner steps), and
  `train.log`, its training loop's "iter: STEP, loss_all: ..., acc: ..." every 100 steps (the
  mean over the steps since the last print; the code sums 99 of them and divides by 100 after the
  first print, which we undo);
- ours: `metrics.jsonl` curve points (`curve/test/accuracy@P` on `eval.curve_tasks` fixed test
  tasks; `curve/train/...` on as many fixed training tasks) and `results.json` (the final
  accuracy@P on eval.num_tasks fresh test tasks), P = the primary test step count.

It writes OUT.md and OUT.json (per configuration, implementation and method: accuracy at the last
step, mean over seeds with its t-CI95, and the paired difference MetaMix - MAML with its paired
t-CI95 over seeds; the parity checks) and OUT_CONFIG.png (accuracy vs step, both implementations).
Parity: our MAML mean inside the reference MAML's CI, and our difference inside the reference
difference's CI.

`bench` gathers the step-time measurements of `metamix_omniglot.sh bench` into one JSON with the
core-hour estimate of the full grid.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
from pathlib import Path

import numpy as np
from scipy import stats

IMPLS = {"ref": "reference (huaxiuyao/MetaMix, PyTorch)", "ours": "ours (metareg, JAX)"}
METHODS = {"maml": "MAML", "metamix": "MAML + MetaMix (+ CS)"}
CONFIGS = {
    "published": "run.sh's 1-shot 20-way arguments (64 filters, 5 inner steps, 10 at test)",
    "reduced": "32 filters, 1 inner step (10 at test); otherwise run.sh's arguments",
}

_NUM = r"(nan|-?inf|[-+\d.eE]+)"
_TEST = re.compile(rf"^test_epoch is (\d+), acc is {_NUM}, ci95 is {_NUM}")
# main.py prints tensors: "tensor(2.99, grad_fn=...)" (MAML) or "tensor([2.99], ...)" (MetaMix)
_TRAIN = re.compile(
    rf"^iter: (\d+), loss_all: (?:tensor\(\[?)?{_NUM}.*?acc: (?:tensor\(\[?)?{_NUM}"
)


# ------------------------------------------------------------------------------------ statistics


def t_ci(values) -> dict:
    """Mean over seeds and the half-width of its t-CI95 (None with fewer than 2 values)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], float)
    n = len(v)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0, "values": []}
    ci = None
    if n >= 2:
        ci = float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return {"mean": float(v.mean()), "ci95": ci, "n": n, "values": v.tolist()}


def paired(a: dict, b: dict) -> dict:
    """b - a over the seeds both have: mean and paired t-CI95."""
    seeds = sorted(set(a) & set(b), key=int)
    d = t_ci([b[s] - a[s] for s in seeds])
    d["seeds"] = seeds
    return d


def inside(x, center, half) -> bool | None:
    if x is None or center is None or half is None:
        return None
    return bool(center - half <= x <= center + half)


# ----------------------------------------------------------------------------------------- reading


def read_ref(run: Path) -> dict | None:
    """{"test": {step: acc}, "test_ci95": {...}, "train": {step: (loss, acc)}} of one reference
    run, or None if it has no test results yet."""
    test, ci = {}, {}
    log = run / "test.log"
    if not log.exists():
        return None
    for line in log.read_text().splitlines():
        m = _TEST.match(line.strip())
        if m:
            test[int(m.group(1))] = float(m.group(2))
            ci[int(m.group(1))] = float(m.group(3))
    if not test:
        return None
    train = {}
    log = run / "train.log"
    if log.exists():
        first = True
        for line in log.read_text().splitlines():
            m = _TRAIN.match(line.strip())
            if m:
                # the first print averages steps 0..99 over 100; later ones 99 steps over 100
                scale = 1.0 if first else 100 / 99
                first = False
                train[int(m.group(1))] = (float(m.group(2)) * scale, float(m.group(3)) * scale)
    return {"test": test, "test_ci95": ci, "train": train}


def read_ours(run: Path) -> dict | None:
    """{"test": {step: curve acc}, "final": (step, acc, ci95, tasks), "train_curve": ...}."""
    res = run / "results.json"
    metrics = run / "metrics.jsonl"
    if not res.exists():
        return None
    r = json.loads(res.read_text())
    metric = r["metric"]  # accuracy@P
    train_steps = (r.get("config") or {}).get("learner", {}).get("inner_steps")
    out = {
        "metric": metric,
        "final": {
            "step": r["steps"],
            "acc": r["mean"],
            "ci95": r["ci95"],
            "tasks": r["num_tasks"],
        },
        "test": {},
        "curves": {},
        "step_time_s": r.get("step_time_s"),
    }
    cfg = run / "config.json"
    if cfg.exists():
        train_steps = json.loads(cfg.read_text())["learner"]["inner_steps"]
    out["train_inner_steps"] = train_steps
    if metrics.exists():
        for line in metrics.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            step = row.get("step")
            curve = {k: v for k, v in row.items() if k.startswith("curve/")}
            if curve:
                out["curves"][step] = curve
                if f"curve/test/{metric}" in curve:
                    out["test"][step] = curve[f"curve/test/{metric}"]
    return out


def seeds_of(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(
        (p.name.split("_", 1)[1] for p in folder.iterdir() if p.name.startswith("seed_")), key=int
    )


def collect(root: Path) -> dict:
    """{config: {impl: {method: {seed: run data}}}} of every finished run under root."""
    data = {}
    for config in sorted(p.name for p in root.iterdir() if p.is_dir() and p.name in CONFIGS):
        for impl, reader in (("ref", read_ref), ("ours", read_ours)):
            for method in METHODS:
                folder = root / config / impl / method
                for seed in seeds_of(folder):
                    run = reader(folder / f"seed_{seed}")
                    if run is not None:
                        data.setdefault(config, {}).setdefault(impl, {}).setdefault(method, {})[
                            seed
                        ] = run
    return data


# ---------------------------------------------------------------------------------------- summary


def final_acc(impl: str, run: dict) -> tuple[int, float]:
    """(step, accuracy) at the run's last step: the reference's last checkpoint test, our final
    evaluation."""
    if impl == "ref":
        step = max(run["test"])
        return step, run["test"][step]
    return run["final"]["step"], run["final"]["acc"]


def regime(impl: str, run: dict) -> dict:
    """Over-fitting indicators at the last step. Ours: fixed training vs test tasks after the
    training's inner steps, and training tasks before adaptation. The reference logs only its
    training batches' query accuracy (MAML: after adaptation, comparable to train@k)."""
    if impl == "ours":
        if not run["curves"]:
            return {}
        step = max(run["curves"])
        c, k = run["curves"][step], run["train_inner_steps"]
        return {
            "step": step,
            "train@k": c.get(f"curve/train/accuracy@{k}"),
            "test@k": c.get(f"curve/test/accuracy@{k}"),
            "train@0": c.get("curve/train/accuracy@0"),
        }
    if not run["train"]:
        return {}
    step = max(run["train"])
    return {
        "step": step,
        "train_batch_acc": run["train"][step][1],
        "train_loss": run["train"][step][0],
    }


def summarize(data: dict) -> dict:
    out = {}
    for config, impls in data.items():
        s = {"description": CONFIGS[config], "impls": {}}
        for impl, methods in impls.items():
            finals = {
                m: {seed: final_acc(impl, r)[1] for seed, r in runs.items()}
                for m, runs in methods.items()
            }
            steps = {
                m: sorted({final_acc(impl, r)[0] for r in runs.values()})
                for m, runs in methods.items()
            }
            entry = {"final_step": steps, "methods": {}}
            for m, runs in methods.items():
                curve_steps = sorted({st for r in runs.values() for st in r["test"]})
                entry["methods"][m] = {
                    "final": t_ci(finals[m].values()),
                    "seeds": sorted(runs, key=int),
                    "per_seed_final": finals[m],
                    "curve": {
                        str(st): t_ci([r["test"].get(st) for r in runs.values()])
                        for st in curve_steps
                    },
                    "regime": {seed: regime(impl, r) for seed, r in runs.items()},
                }
            if "maml" in finals and "metamix" in finals:
                entry["delta"] = paired(finals["maml"], finals["metamix"])
            s["impls"][impl] = entry
        ref, ours = s["impls"].get("ref"), s["impls"].get("ours")
        if ref and ours:
            checks = {}
            if "maml" in ref["methods"] and "maml" in ours["methods"]:
                r, o = ref["methods"]["maml"]["final"], ours["methods"]["maml"]["final"]
                checks["maml_inside_ref_ci"] = inside(o["mean"], r["mean"], r["ci95"])
                checks["maml_difference"] = (
                    None if o["mean"] is None or r["mean"] is None else o["mean"] - r["mean"]
                )
            if "delta" in ref and "delta" in ours:
                r, o = ref["delta"], ours["delta"]
                checks["delta_inside_ref_ci"] = inside(o["mean"], r["mean"], r["ci95"])
            verdicts = [checks.get("maml_inside_ref_ci"), checks.get("delta_inside_ref_ci")]
            checks["parity"] = None if None in verdicts else all(verdicts)
            s["parity"] = checks
        out[config] = s
    return out


# ----------------------------------------------------------------------------------------- output


def pct(x, ci=None, n=None) -> str:
    if x is None:
        return "—"
    s = f"{100 * x:.1f}"
    if ci is not None:
        s += f" ± {100 * ci:.1f}"
    if n is not None:
        s += f" (n={n})"
    return s


def yes_no(v) -> str:
    return {
        True: "yes",
        False: "no",
        None: "n/a (needs both implementations and methods, 2+ seeds each)",
    }[v]


def markdown(summary: dict, figures: dict) -> str:
    lines = [
        "# MetaMix on Omniglot: the reference implementation against ours (issue 33)",
        "",
        "Generated by `benchmarks/parity/compare.py report` from the runs of "
        "`benchmarks/parity/metamix_omniglot.sh` (protocol: [docs/parity.md](../parity.md)). "
        "20-way 1-shot, non-mutually-exclusive training tasks (the same 20 x 60 slots in both, "
        "per seed), random-label test tasks; test accuracy (%) after 10 inner steps, mean over "
        "seeds ± t-CI95; Δ = MetaMix - MAML, paired over seeds. The reference: its own test loop "
        "at its last checkpoint (601 fresh test tasks); ours: the final evaluation (600 fresh "
        "test tasks).",
        "",
    ]
    for config, s in summary.items():
        lines += [f"## {config}: {s['description']}", ""]
        lines += [
            "| implementation | step | MAML | MAML + MetaMix | Δ (paired) |",
            "|---|---|---|---|---|",
        ]
        for impl, e in s["impls"].items():
            m = e["methods"]
            step = sorted({st for v in e["final_step"].values() for st in v})
            maml, mix = m.get("maml", {}).get("final", {}), m.get("metamix", {}).get("final", {})
            d = e.get("delta", {})
            lines.append(
                f"| {IMPLS[impl]} | {', '.join(map(str, step))} | "
                f"{pct(maml.get('mean'), maml.get('ci95'), maml.get('n'))} | "
                f"{pct(mix.get('mean'), mix.get('ci95'), mix.get('n'))} | "
                f"{pct(d.get('mean'), d.get('ci95'), d.get('n'))} |"
            )
        lines.append("")
        if "parity" in s:
            p = s["parity"]
            lines += [
                f"- Our MAML inside the reference MAML's CI: {yes_no(p.get('maml_inside_ref_ci'))}"
                + (
                    f" (ours - reference: {100 * p['maml_difference']:+.1f} points)"
                    if p.get("maml_difference") is not None
                    else ""
                ),
                f"- Our Δ inside the reference Δ's CI: {yes_no(p.get('delta_inside_ref_ci'))}",
                f"- **Parity: {yes_no(p.get('parity'))}**",
                "",
            ]
        lines += ["Per seed (test accuracy at the last step, %):", ""]
        lines += [
            "| implementation | method | "
            + " | ".join(
                f"seed {x}"
                for x in sorted(
                    {
                        sd
                        for e in s["impls"].values()
                        for mm in e["methods"].values()
                        for sd in mm["seeds"]
                    },
                    key=int,
                )
            )
            + " |"
        ]
        all_seeds = sorted(
            {sd for e in s["impls"].values() for mm in e["methods"].values() for sd in mm["seeds"]},
            key=int,
        )
        lines.append("|---|---|" + "---|" * len(all_seeds))
        for impl, e in s["impls"].items():
            for method, mm in e["methods"].items():
                cells = [pct(mm["per_seed_final"].get(sd)) for sd in all_seeds]
                lines.append(f"| {impl} | {METHODS[method]} | " + " | ".join(cells) + " |")
        lines.append("")
        curve_steps = sorted(
            {
                int(x)
                for e in s["impls"].values()
                for mm in e["methods"].values()
                for x in mm["curve"]
            }
        )
        if curve_steps:
            lines += [
                "Test accuracy by step (%, mean over seeds ± t-CI95; the reference: its test loop "
                "per checkpoint, 601 fresh tasks; ours: curve points on fixed test tasks):",
                "",
                "| implementation | method | " + " | ".join(map(str, curve_steps)) + " |",
                "|---|---|" + "---|" * len(curve_steps),
            ]
            for impl, e in s["impls"].items():
                for method, mm in e["methods"].items():
                    cells = [
                        pct(mm["curve"][str(x)]["mean"], mm["curve"][str(x)]["ci95"])
                        if str(x) in mm["curve"]
                        else "—"
                        for x in curve_steps
                    ]
                    lines.append(f"| {impl} | {METHODS[method]} | " + " | ".join(cells) + " |")
            lines.append("")
        regime_rows = []
        for impl, e in s["impls"].items():
            for method, mm in e["methods"].items():
                for seed, r in sorted(mm["regime"].items(), key=lambda kv: int(kv[0])):
                    if not r:
                        continue
                    if impl == "ours":
                        regime_rows.append(
                            f"| ours | {METHODS[method]} | {seed} | {r['step']} | "
                            f"{pct(r.get('train@k'))} | {pct(r.get('test@k'))} | "
                            f"{pct(r.get('train@0'))} | — |"
                        )
                    else:
                        regime_rows.append(
                            f"| ref | {METHODS[method]} | {seed} | {r['step']} | — | — | — | "
                            f"{pct(r.get('train_batch_acc'))} |"
                        )
        if regime_rows:
            lines += [
                "Regime at the last logged step (%): ours on fixed training / test tasks after the "
                "training's inner steps (train@k, test@k) and training tasks before adaptation "
                "(train@0, memorization; chance 5); the reference logs only its training batches' "
                "query accuracy over the last 100 steps (MAML: after adaptation, like train@k; "
                "MetaMix: on the mixed batch, not comparable).",
                "",
                "| impl | method | seed | step | train@k | test@k | train@0 | training batches |",
                "|---|---|---|---|---|---|---|---|",
                *regime_rows,
                "",
            ]
        if config in figures:
            lines += [f"![{config}]({figures[config]})", ""]
    return "\n".join(lines)


def plot(summary: dict, data: dict, out: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = {}
    colors = {"maml": "tab:blue", "metamix": "tab:orange"}
    styles = {"ref": "-", "ours": "--"}
    for config, s in summary.items():
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for impl, e in s["impls"].items():
            for method, mm in e["methods"].items():
                steps = sorted(int(x) for x in mm["curve"])
                if not steps:
                    continue
                mean = np.array([mm["curve"][str(x)]["mean"] for x in steps], float)
                ci = np.array([mm["curve"][str(x)]["ci95"] or 0.0 for x in steps], float)
                label = f"{'reference' if impl == 'ref' else 'ours'}: {METHODS[method]}"
                ax.plot(
                    steps, 100 * mean, styles[impl], color=colors[method], marker="o", label=label
                )
                if np.any(ci > 0):
                    ax.fill_between(
                        steps,
                        100 * (mean - ci),
                        100 * (mean + ci),
                        color=colors[method],
                        alpha=0.12,
                    )
                for run in data[config][impl][method].values():  # seeds, thin
                    xs = sorted(run["test"])
                    ax.plot(
                        xs,
                        [100 * run["test"][x] for x in xs],
                        styles[impl],
                        color=colors[method],
                        alpha=0.3,
                        linewidth=0.8,
                    )
        ax.set_xlabel("outer step")
        ax.set_ylabel("test accuracy after 10 inner steps (%)")
        ax.set_title(f"MetaMix Omniglot parity, {config} (mean ± t-CI95 over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        path = out.parent / f"{out.name}_{config}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        figures[config] = path.name
    return figures


def cmd_report(a) -> None:
    root, out = Path(a.root), Path(a.out)
    data = collect(root)
    if not data:
        raise SystemExit(f"no finished parity runs under {root}")
    summary = summarize(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = {} if a.no_figures else plot(summary, data, out)
    doc = {"root": os.fspath(root), "configs": summary}
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(summary, figures) + "\n")
    print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.json')}", *figures.values())


# ------------------------------------------------------------------------------------------ bench


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def cmd_bench(a) -> None:
    """parity_step_times.json from the bench folder, with the core-hour estimate of the grid
    (steps x seeds x 2 methods x 2 implementations, tests every 500 steps)."""
    d = Path(a.bench_dir)
    out: dict = {
        "what": "outer-step time (s) of the MetaMix reference and ours, 20-way 1-shot, "
        "meta-batch 8",
        "steps_requested": a.steps,
        "cpu_s": "this process's CPU time per step (all threads): the cost on one core whatever "
        "else the machine runs",
        "wall_s": "wall clock per step (median_s, mean_s): includes the time the process waited "
        "for its core, so on a loaded machine (machine.load) it overstates the cost; the "
        "estimates use the CPU times",
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "load": (d / "load.txt").read_text().strip() if (d / "load.txt").exists() else None,
        },
        "commands": (d / "commands.txt").read_text().splitlines()
        if (d / "commands.txt").exists()
        else [],
        "notes": (d / "notes.txt").read_text().splitlines() if (d / "notes.txt").exists() else [],
        "configs": {},
    }
    for config in CONFIGS:
        c: dict = {"description": CONFIGS[config]}
        for method in METHODS:
            ref = _load(d / f"ref.{config}.{method}.json")
            if ref:
                c.setdefault("ref", {})[method] = {
                    k: ref.get(k)
                    for k in (
                        "median_s",
                        "mean_s",
                        "cpu_median_s",
                        "cpu_mean_s",
                        "count",
                        "threads",
                        "torch",
                    )
                }
            ours = _load(d / f"ours.{config}.{method}.json")
            if ours and "step" in ours:
                c.setdefault("ours", {})[method] = {
                    k: ours["step"].get(k)
                    for k in (
                        "median_s",
                        "mean_s",
                        "cpu_median_s",
                        "cpu_mean_s",
                        "steps_timed",
                        "compile_s",
                    )
                }
                for part in ("curve", "final_eval"):
                    if part in ours:
                        c["ours"].setdefault(part, ours[part])
        ref_test = _load(d / f"ref_test.{config}.json")
        if ref_test:
            c.setdefault("ref", {})["test_task"] = {
                k: ref_test.get(k)
                for k in ("median_s", "mean_s", "cpu_median_s", "cpu_mean_s", "count")
            }
        if len(c) > 1:
            c["estimate"] = estimate(
                c,
                steps=a.grid_steps,
                seeds=a.grid_seeds,
                test_tasks=a.test_tasks,
                curve_tasks=a.curve_tasks,
            )
            out["configs"][config] = c
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v.get("estimate") for k, v in out["configs"].items()}, indent=1))


def estimate(
    c: dict, steps: int, seeds: int, every: int = 500, test_tasks: int = 600, curve_tasks: int = 100
) -> dict:
    """Core-hours of the grid from CPU times per step and per test task (None where unmeasured).

    The reference tests test_tasks + 1 fresh tasks at each of steps // every checkpoints; ours
    scores curve_tasks test and as many training tasks at each curve point, then test_tasks fresh
    ones once at the end."""
    points = steps // every
    e: dict = {
        "steps": steps,
        "seeds": seeds,
        "test_points": points,
        "test_tasks": test_tasks,
        "curve_tasks": curve_tasks,
    }

    def cpu(x):
        return None if x is None else (x.get("cpu_median_s") or x.get("median_s"))

    ref, ours = c.get("ref", {}), c.get("ours", {})
    h = {}
    for m in METHODS:
        if cpu(ref.get(m)) is not None:
            h[f"ref_{m}_train"] = steps * cpu(ref[m]) * seeds / 3600
        if cpu(ref.get("test_task")) is not None:
            h[f"ref_{m}_test"] = points * (test_tasks + 1) * cpu(ref["test_task"]) * seeds / 3600
        if cpu(ours.get(m)) is not None:
            h[f"ours_{m}_train"] = steps * cpu(ours[m]) * seeds / 3600
        curve, final = ours.get("curve"), ours.get("final_eval")
        if curve and final:
            per_point = curve["point_cpu_s"] * curve_tasks / curve["tasks"]
            per_final = final["eval_cpu_s"] * test_tasks / final["tasks"]
            h[f"ours_{m}_test"] = (points * per_point + per_final) * seeds / 3600
    e["core_hours"] = {k: round(v, 2) for k, v in h.items()}
    e["total_core_hours"] = round(sum(h.values()), 1) if h else None
    for impl in ("ref", "ours"):
        part = [v for k, v in h.items() if k.startswith(impl + "_")]
        e[f"{impl}_core_hours"] = round(sum(part), 1) if part else None
    e["note"] = (
        "CPU time on one core per step / test task (median over the timed steps) x steps x "
        "seeds; compile (ours, 1.5-5 min per run) and start-up (reference, ~20 s per process) "
        "not included; Channel Shuffle starts at step 2000 in both, so it costs nothing within "
        "2000 steps"
    )
    return e


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report", help="the parity report from finished runs")
    r.add_argument("--root", default="runs/parity_metamix_omniglot")
    r.add_argument("--out", default="docs/results/parity_metamix_omniglot")
    r.add_argument("--no-figures", action="store_true")
    b = sub.add_parser("bench", help="parity_step_times.json from metamix_omniglot.sh bench")
    b.add_argument("--bench-dir", required=True)
    b.add_argument("--steps", type=int, default=None, help="steps the bench was asked to time")
    b.add_argument("--grid-steps", type=int, default=2000)
    b.add_argument("--grid-seeds", type=int, default=3)
    b.add_argument("--test-tasks", type=int, default=600)
    b.add_argument("--curve-tasks", type=int, default=100)
    b.add_argument("--out", default="benchmarks/results/parity_step_times.json")
    a = p.parse_args(argv)
    {"report": cmd_report, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    main()
