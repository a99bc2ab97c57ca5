"""Omniglot 20-way 1-shot, non-mutually-exclusive, MAML / +MetaMix / +TRLearner at 2x the budget of
grids/omniglot.py (4,000 outer steps, 3 seeds; run so far: seed 0 of all, seed 1 of MAML and
MetaMix): does the regularizers' deficit at 2,000 steps close once plain MAML has trained longer?
Results go in their own column (20way1shot_nme_4k) of the Omniglot table:

    python -m metareg.sweep --grid experiments/grids/omniglot_long.py --root runs/omniglot \
        --workers 2
"""

EXPERIMENTS = (
    "maml_trlearner",
    "maml_metamix",
    "maml",
)  # longest first: two workers finish together
NUM_STEPS = 4000


def get_grid():
    cells = {
        f"20way1shot_nme_4k/{name}": (f"experiments/omniglot_{name}.py", {"num_steps": NUM_STEPS})
        for name in EXPERIMENTS
    }
    return {"cells": cells, "seeds": (0, 1, 2)}
