"""TRLearner's relation heads (issue 19): with the paper's all-ones init plus 0.01 noise the four
heads of a trained model stay within 0.1 of each other, so the multi-head layer acts as one head.
MAML+TRLearner on sinusoid_w1 K = 5, 20,000 steps, 3 seeds, head-init noise 0.01 (default), 0.3 and
1.0; `python -m metareg.heads` reports the heads' spread and how much their relation matrices
differ.

    python -m metareg.sweep --grid experiments/grids/trlearner_heads.py \
        --root runs/trlearner_heads --workers 2
"""


def get_grid():
    cells = {
        f"k5/maml+trlearner_noise{noise:g}": (
            "experiments/sinusoid_trlearner.py",
            {
                "experiment": f"sinusoid_w1_k5_trlearner_noise{noise:g}",
                "task.name": "sinusoid_w1",
                "num_steps": 20_000,
                "trlearner.init_noise": noise,
            },
        )
        for noise in (0.01, 0.3, 1.0)
    }
    return {"cells": cells, "seeds": (0, 1, 2)}
