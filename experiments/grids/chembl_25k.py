"""Drug activity on ChEMBL at the papers' budget (issue 32): 25,000 outer steps (50 epochs x 500,
MetaMix App. C.1 / TRLearner's drug protocol), one evaluation group (group 0), ANIL and MetaSGD
with a head-only inner loop, each alone, with MetaMix and with TRLearner, 3 seeds. Whole-network
MAML is left out: its step (0.5-0.9 s here, tasks run as a loop) makes 25,000 steps 4-6 hours per
run on 2 cores. Curve points every 5,000 steps give the regime columns.

    python -m metareg.sweep --grid experiments/grids/chembl_25k.py --root runs/chembl_25k
"""

from experiments.grids.chembl import REGULARIZERS

NUM_STEPS = 25_000


def get_grid():
    cells = {}
    for backbone, overrides in (("anil", {}), ("metasgd", {"learner.frozen_blocks": 2})):
        for suffix, regs in REGULARIZERS.items():
            cells[f"group0/{backbone}{suffix}"] = (
                "experiments/chembl_anil.py",
                {
                    "task.group": 0,
                    "learner.name": backbone,
                    "regularizers": regs,
                    "num_steps": NUM_STEPS,
                    "checkpoint_every": 2500,
                    "log_every": 500,
                    "eval.every": 5000,
                    **overrides,
                },
            )
    return {"cells": cells, "seeds": (0, 1, 2)}
