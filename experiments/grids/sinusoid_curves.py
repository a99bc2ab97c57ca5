"""Learning curves of plain MAML on sinusoid_w1 to 70,000 outer steps (the MAML paper's sinusoid
budget), K = 5 and 10, 3 seeds, a curve point every 1,000 steps on 200 fixed test and 200 fixed
training tasks: where the curve flattens or meets the paper's MAML row (0.593 / K=5) is Table 1's
budget (issue 19).

    make sweep GRID=sinusoid_curves ARGS="--workers 2"
    python -m metareg.analysis.figures learning-curves --root runs/sinusoid_curves \
        --out docs/results/curves_sinusoid_w1_70k.png
"""

NUM_STEPS = 70_000


def get_grid():
    cells = {
        f"k{shots}/maml": (
            "experiments/sinusoid_maml.py",
            {
                "experiment": f"sinusoid_w1_k{shots}_maml_curve",
                "task.name": "sinusoid_w1",
                "task.num_shots": shots,
                "num_steps": NUM_STEPS,
                "eval.every": 1000,
                "eval.curve_tasks": 200,
                "checkpoint_every": 5000,
            },
        )
        for shots in (5, 10)
    }
    return {"cells": cells, "seeds": (0, 1, 2)}
