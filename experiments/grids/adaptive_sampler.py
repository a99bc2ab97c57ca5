"""The adaptive task sampler (issue 23) where plain MAML memorizes: the non-mutually-exclusive sinusoid
(experiments/sinusoid_nme.py, 20 training tasks named by a one-hot code in the input), K = 5.

MAML, MAML + sampler, MAML + TRLearner, MAML + sampler + TRLearner, 5 seeds, NUM_STEPS outer steps, learning
curves every 1,000 steps: the sampler's and the regularizer's contributions separated by paired differences.
The sampler: sampler.name = "adaptive", its defaults (num_candidates 0 = twice the meta-batch = the whole pool of
20 here, weights (1, 1, 1), temperature 1; docs/design.md, "Adaptive task sampler").

    python -m metareg.sweep --grid experiments/grids/adaptive_sampler.py --root runs/adaptive_sampler --workers 2
    python -m metareg.tables regime --root runs/adaptive_sampler --title "Adaptive sampler, NME sinusoid" --out x.md
"""

NUM_STEPS = 10_000
CELLS = {  # method -> overrides; "+asr" names the sampler like a regularizer so the tables pair it with MAML
    "maml": {},
    "maml+asr": {"sampler.name": "adaptive"},
    "maml+trlearner": {"regularizers": ("trlearner",)},
    "maml+asr+trlearner": {"regularizers": ("trlearner",), "sampler.name": "adaptive"},
}


def get_grid():
    cells = {
        f"k5/{method}": ("experiments/sinusoid_nme.py",
                         {"experiment": f"sinusoid_nme_k5_{method}", "task.num_shots": 5, "num_steps": NUM_STEPS,
                          "eval.every": 1000, **overrides})
        for method, overrides in CELLS.items()
    }
    return {"cells": cells, "seeds": (0, 1, 2, 3, 4)}
