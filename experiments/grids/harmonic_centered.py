"""Can gradient-based adaptation learn Harmonic once each task's inputs are centred (issue 19)?
`harmonic_local_centered`: the sources' protocol (`harmonic_local`) with x minus the support mean as
the model's input (ours, labelled as such), MAML with inner lr 0.01 / 0.1 / 0.4, 5 inner steps, a
1-100-100-1 MLP, MetaSGD; 20,000 steps, the most promising at 70,000 (the Table 1 budget). Seed 0,
an exploration (choices read off the test tasks), not a tuned table: docs/reproduction_table1.md.

    python -m metareg.sweep --grid experiments/grids/harmonic_centered.py \
        --root runs/harmonic_centered --workers 2
"""

WIDE = {"model.hidden": (100, 100)}
CELLS = {  # (shots, name) -> (steps, overrides)
    (10, "maml"): (20_000, {}),
    (5, "maml"): (20_000, {}),
    (10, "maml_lr0.1"): (20_000, {"learner.inner_lr": 0.1}),
    (10, "maml_lr0.4"): (20_000, {"learner.inner_lr": 0.4}),
    (10, "maml_lr0.1_5steps"): (20_000, {"learner.inner_lr": 0.1, "learner.inner_steps": 5}),
    (10, "maml_lr0.1_wide"): (20_000, {"learner.inner_lr": 0.1, **WIDE}),
    (10, "metasgd"): (20_000, {"learner.name": "metasgd", "learner.inner_lr": 0.1}),
    (10, "maml_lr0.1_wide_70k"): (70_000, {"learner.inner_lr": 0.1, **WIDE}),
    (5, "maml_lr0.1_wide_70k"): (70_000, {"learner.inner_lr": 0.1, **WIDE}),
    (10, "metasgd_wide_70k"): (
        70_000,
        {"learner.name": "metasgd", "learner.inner_lr": 0.1, **WIDE},
    ),
    (5, "metasgd_wide_70k"): (70_000, {"learner.name": "metasgd", "learner.inner_lr": 0.1, **WIDE}),
    (10, "maml_lr0.1_wide_70k_outer3e-4"): (
        70_000,
        {"learner.inner_lr": 0.1, **WIDE, "optimizer.learning_rate": 3e-4},
    ),
    (10, "maml_lr0.1_wide_70k_clip1"): (
        70_000,
        {"learner.inner_lr": 0.1, **WIDE, "optimizer.clip_norm": 1.0},
    ),
}


def get_grid():
    cells = {}
    for (shots, name), (steps, overrides) in CELLS.items():
        long = steps > 20_000
        cells[f"k{shots}/{name}"] = (
            "experiments/sinusoid_maml.py",
            {
                "experiment": f"harmonic_local_centered_k{shots}_{name}",
                "task.name": "harmonic_local_centered",
                "task.num_shots": shots,
                "num_steps": steps,
                "eval.every": 10_000 if long else 5000,
                "checkpoint_every": 10_000 if long else 5000,
                **overrides,
            },
        )
    return {"cells": cells, "seeds": (0,)}
