"""A longer budget for the standard family: MAML vs MAML+TRLearner at 70k outer steps (the MAML
paper's sinusoid length), 5 seeds, to see whether TRLearner's effect appears with more training."""


def get_grid():
    cells = {}
    for shots in (5, 10):
        for method in ("maml", "trlearner"):
            cells[f"sinusoid_w1/k{shots}/{method}"] = (
                f"experiments/sinusoid_{method}.py",
                {
                    "task.name": "sinusoid_w1",
                    "task.num_shots": shots,
                    "num_steps": 70000,
                    "checkpoint_every": 5000,
                },
            )
    return {"cells": cells, "seeds": (0, 1, 2, 3, 4)}
