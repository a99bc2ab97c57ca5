"""Omniglot claims where plain MAML overfits and starts to memorize (issue 18): the MetaMix
reference's tasks (`norot`: 1,200 characters without rotations in 20 slots of 60, random-label test
tasks) on our CPU network and inner loop (docs/reproduction_omniglot.md: the full reference protocol
costs ~15 s per step here). experiments/grids/omniglot_memorization.py measured when the gap opens:
at 3,000-5,000 steps MAML's training query NLL is 0.23-0.34 below its test NLL and it classifies
20-22% of its training tasks without their support sets (chance 5%); with rotations (the earlier
protocol) the gap was 0.025 at 4,000 steps.

Cells: MAML, +MetaMix, +MetaMix + Channel Shuffle (reference schedule: from step 2,000, half the
steps), +TRLearner, +MR-MAML, ProtoNet, ProtoNet+TRLearner, and MetaMix's mixture strategies. 3
seeds, NUM_STEPS steps, curve points every 500 steps. About 4 hours of one core per seed for all
cells: run it in parts, e.g.

    python -m metareg.sweep --grid experiments/grids/omniglot_norot.py --root runs/omniglot \
        --workers 2 --seeds 0
    python -m metareg.analysis.tables regime --root runs/omniglot \
        --title "Omniglot 20-way 1-shot, reference tasks" --out x.md
"""

NUM_STEPS = 4000
COLUMN = "20way1shot_norot"
CELLS = {  # method -> (experiment file with variant, overrides)
    "maml": ("omniglot_maml.py:norot", {}),
    "maml_metamix": ("omniglot_maml_metamix.py:norot", {}),
    "maml_metamix_cs": ("omniglot_maml_metamix.py:norot,cs", {}),
    "maml_trlearner": ("omniglot_maml_trlearner.py:norot", {}),
    # the scales these runs were made with (the defaults before issue 33: sigma stays at float32
    # eps); "maml_mr_maml_tuned": the library's Omniglot preset now (rho -5, beta 1e-3), not run yet
    "maml_mr_maml": (
        "omniglot_maml.py:norot",
        {"regularizers": ("mr_maml",), "mr_maml.beta": 5e-5, "mr_maml.scale_init": -50.0},
    ),
    "maml_mr_maml_tuned": ("omniglot_maml.py:norot", {"regularizers": ("mr_maml",)}),
    "protonet": ("omniglot_protonet.py:norot", {}),
    "protonet_trlearner": ("omniglot_protonet_trlearner.py:norot", {}),
    "maml_metamix_qq": ("omniglot_maml_metamix.py:norot", {"metamix.strategy": "query_query"}),
    "maml_metamix_ss": ("omniglot_maml_metamix.py:norot", {"metamix.strategy": "support_support"}),
    "maml_metamix_concat": ("omniglot_maml_metamix.py:norot", {"metamix.strategy": "concat"}),
}


def get_grid():
    cells = {
        f"{COLUMN}/{method}": (
            f"experiments/{experiment}",
            {
                "experiment": f"omniglot_{method}_norot",
                "num_steps": NUM_STEPS,
                "eval.every": 500,
                "eval.curve_tasks": 100,
                "checkpoint_every": 500,
                **overrides,
            },
        )
        for method, (experiment, overrides) in CELLS.items()
    }
    return {"cells": cells, "seeds": (0, 1, 2)}
