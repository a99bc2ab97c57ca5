"""When does plain MAML memorize on Omniglot 20-way 1-shot (issue 18)? The MetaMix reference's tasks
(1200 characters without rotations, 20 fixed slots of 60; random-label test tasks: the `norot`
token) on our CPU protocol (stride-2 Conv4, 1 inner step of lr 0.4, 5 at test), with a curve point
every 500 steps: test accuracy, and the training tasks' accuracy before adaptation (a memorizing
model classifies them without their support sets). The full reference protocol (`:reference`, no
pooling, 5 inner steps) costs ~15 s per outer step on this 2-core machine (50,000 steps: ~200
hours), so the curve is measured here.

    python -m metareg.sweep --grid experiments/grids/omniglot_memorization.py \
        --root runs/omniglot_memorization
    python -m metareg.analysis.figures learning-curves --root runs/omniglot_memorization \
        --metric accuracy --out docs/results/omniglot_memorization.png
"""


def get_grid():
    cells = {
        "20way1shot_norot/maml": (
            "experiments/omniglot_maml.py:norot",
            {
                "experiment": "omniglot_maml_norot_curve",
                "num_steps": 10_000,
                "eval.every": 500,
                "eval.curve_tasks": 100,
                "checkpoint_every": 500,
            },
        ),
    }
    return {"cells": cells, "seeds": (0,)}
