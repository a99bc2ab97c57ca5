"""TRLearner Table 1, sinusoid columns: MAML, +MetaMix, +TRLearner on both sinusoid families.

Both the stated family (`sinusoid`: w ~ U[0.5, 2], phase) and the standard MAML family
(`sinusoid_w1`), K = 5 and 10, 5 seeds, 20k outer steps (methods.md's measured budget).
Also TRLearner's relation-sparse variants (top-1, top-2 related tasks) for the cost/accuracy choice.
"""

METHODS = {
    "maml": "experiments/sinusoid_maml.py",
    "metamix": "experiments/sinusoid_metamix.py",
    "trlearner": "experiments/sinusoid_trlearner.py",
}


def get_grid():
    cells = {}
    for family in ("sinusoid_w1", "sinusoid"):
        for shots in (5, 10):
            for method, experiment in METHODS.items():
                cells[f"{family}/k{shots}/{method}"] = (
                    experiment,
                    {"task.name": family, "task.num_shots": shots},
                )
    for shots in (5, 10):
        for k in (1, 2):
            cells[f"sinusoid_w1/k{shots}/trlearner_top{k}"] = (
                METHODS["trlearner"],
                {"task.name": "sinusoid_w1", "task.num_shots": shots, "trlearner.num_related": k},
            )
    return {"cells": cells, "seeds": (0, 1, 2, 3, 4)}
