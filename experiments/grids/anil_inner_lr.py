"""ANIL's inner learning rate on sinusoid_w1 (issue 19), chosen on validation tasks by metareg.tune:
the paper does not give it, and at the default 0.01 our ANIL is far behind the paper's row
(1.86 vs 0.541) and diverges at 10 test steps on some seeds. K = 5 and 10, 3 seeds, the Table 1
budget (70,000 steps).

    python -m metareg.sweep --grid experiments/grids/anil_inner_lr.py --root runs/anil_inner_lr \
        --workers 2
    python -m metareg.tune --root runs/anil_inner_lr --field learner.inner_lr \
        --out docs/results/anil_inner_lr.json
"""

NUM_STEPS = 70_000
LEARNING_RATES = (0.003, 0.01, 0.03, 0.1, 0.3)


def get_grid():
    cells = {
        f"k{shots}/lr{lr:g}": (
            "experiments/sinusoid_maml.py",
            {
                "experiment": f"sinusoid_w1_k{shots}_anil_lr{lr:g}",
                "task.name": "sinusoid_w1",
                "task.num_shots": shots,
                "learner.name": "anil",
                "learner.inner_lr": lr,
                "num_steps": NUM_STEPS,
                "checkpoint_every": 10_000,
            },
        )
        for shots in (5, 10)
        for lr in LEARNING_RATES
    }
    return {"cells": cells, "seeds": (0, 1, 2)}
