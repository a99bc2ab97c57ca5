"""Pose regression on rendered Pascal3D objects (TRLearner Table 4/8, MetaMix Table 4 in shape):
MAML, MAML+MetaMix, MAML+TRLearner at 10 and 15 shots, 3 seeds. CPU budget (the experiment files
hold the papers' settings): 64x64 renders, decoder width 16, meta-batch 5, 1000 outer steps; 5 inner
steps in training, 20 at test, as the papers. One outer step at the papers' size (128 px, width 64,
meta-batch 10) takes 2.3 s (MAML) to 4.6 s (+TRLearner) on this CPU with the task loop that
`task_chunk=None` picks there (3.6-5.8 s with vmap; docs/scaling.md)."""

BUDGET = {
    "task.image_size": 64,
    "model.width": 16,
    "meta_batch_size": 5,
    "num_steps": 1000,
    "checkpoint_every": 250,
}
EXPERIMENTS = ("maml", "maml_metamix", "maml_trlearner")


def pose_grid(experiments) -> dict:
    """Cells k{10,15}/{name} of experiments/pose_{name}.py at the CPU budget
    (query = shots), 3 seeds."""
    cells = {}
    for shots in (10, 15):
        for name in experiments:
            cells[f"k{shots}/{name}"] = (
                f"experiments/pose_{name}.py",
                {**BUDGET, "task.num_shots": shots, "task.num_queries": shots},
            )
    return {"cells": cells, "seeds": (0, 1, 2)}


def get_grid():
    return pose_grid(EXPERIMENTS)
