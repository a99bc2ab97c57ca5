"""Does MAML learn Harmonic as its sources run it (issue 19)? `harmonic_local` (torchmeta's
protocol: x ~ N(mu_x, 1), mu_x ~ U(-4, 4), no noise; docs/sources/harmonic_and_adaptive_sampler.md),
MAML K = 5 and 10 at the Table 1 budget, with learning curves; the adaptive-sampler code's inner lr
0.4 beside our 0.01, and its 5,000-task pool beside TRLearner's 480.

    python -m metareg.sweep --grid experiments/grids/harmonic_local.py --root runs/harmonic_local \
        --workers 2
"""

NUM_STEPS = 70_000


def get_grid():
    cells = {}
    for shots in (5, 10):
        for name, overrides in {
            "maml": {},
            "maml_lr0.4": {"learner.inner_lr": 0.4},
            "maml_pool5000": {"task.pool_size": 5000},
        }.items():
            cells[f"k{shots}/{name}"] = (
                "experiments/sinusoid_maml.py",
                {
                    "experiment": f"harmonic_local_k{shots}_{name}",
                    "task.name": "harmonic_local",
                    "task.num_shots": shots,
                    "num_steps": NUM_STEPS,
                    "eval.every": 5000,
                    "checkpoint_every": 10_000,
                    **overrides,
                },
            )
    return {"cells": cells, "seeds": (0,)}
