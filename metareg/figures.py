"""Figures from runs' files (matplotlib, PNG): training curves of a grid's cells.

    python -m metareg.figures curves --root runs/table1_sinusoid --cells sinusoid_w1/k5/maml,... --out docs/results/x.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def load_curve(workdir: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [json.loads(r) for r in (workdir / "metrics.jsonl").read_text().splitlines() if r]
    return np.array([r["step"] for r in rows]), np.array([r[key] for r in rows])


def training_curves(root: Path, cells: list[str], out: Path, key: str = "query_loss", smooth: int = 10):
    """Mean over seeds (shaded: min..max) of a logged metric, one line per cell."""
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    for cell in cells:
        curves = [load_curve(d, key) for d in sorted((root / cell).glob("seed_*")) if (d / "metrics.jsonl").exists()]
        if not curves:
            continue
        n = min(len(c[0]) for c in curves)
        steps = curves[0][0][:n]
        ys = np.stack([c[1][:n] for c in curves])
        kernel = np.ones(smooth) / smooth
        ys = np.stack([np.convolve(y, kernel, mode="valid") for y in ys])
        steps = steps[smooth - 1 :]
        ax.plot(steps, ys.mean(0), label=f"{cell} ({len(curves)} seeds)")
        ax.fill_between(steps, ys.min(0), ys.max(0), alpha=0.2)
    ax.set_xlabel("outer step")
    ax.set_ylabel(f"training {key} (noisy query MSE)" if key == "query_loss" else key)
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["curves"])
    p.add_argument("--root", required=True)
    p.add_argument("--cells", required=True, help="comma-separated cell paths under root")
    p.add_argument("--out", required=True)
    p.add_argument("--key", default="query_loss")
    args = p.parse_args()
    training_curves(Path(args.root), args.cells.split(","), Path(args.out), args.key)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
