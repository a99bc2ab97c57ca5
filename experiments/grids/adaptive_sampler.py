"""The adaptive task sampler (issue 23) where plain MAML memorizes: the non-mutually-exclusive
sinusoid (experiments/sinusoid_nme.py, 20 training tasks named by a one-hot code in the input),
K = 5.

MAML, MAML + sampler, MAML + TRLearner, MAML + sampler + TRLearner (tasks only, and with TRLearner's
meta-data drawn by the sampler: "+md"), 5 seeds, NUM_STEPS outer steps, learning curves every 1,000
steps: the sampler's and the regularizer's contributions separated by paired differences. The
sampler: sampler.name = "adaptive", its defaults (num_candidates 0 = twice the meta-batch = the
whole pool of 20 here, weights (1, 1, 1), temperature 1; docs/design.md, "Adaptive task sampler").

    python -m metareg.sweep --grid experiments/grids/adaptive_sampler.py \
        --root runs/adaptive_sampler --workers 2
    python -m metareg.analysis.tables regime --root runs/adaptive_sampler \
        --title "Adaptive sampler, NME sinusoid" --out x.md
"""

NUM_STEPS = 10_000
# method -> overrides; "+asr" names the sampler like a regularizer so the tables pair it with MAML
CELLS = {
    "maml": {},
    "maml+asr": {"sampler.name": "adaptive"},
    "maml+trlearner": {"regularizers": ("trlearner",)},
    # the sampler chooses the tasks only; TRLearner's relation from the whole support sets
    "maml+asr+trlearner": {
        "regularizers": ("trlearner",),
        "sampler.name": "adaptive",
        "trlearner.meta_data": "support",
    },
    # "+md": TRLearner's relation from the sampler's meta-data
    # (trlearner.meta_data = "adaptive", Section 4.1)
    "maml+trlearner+md": {"regularizers": ("trlearner",), "trlearner.meta_data": "adaptive"},
    # the full Algorithm 1: sampler.name = "adaptive" alone
    # (trlearner.meta_data = "sampler" follows it)
    "maml+asr+trlearner+md": {"regularizers": ("trlearner",), "sampler.name": "adaptive"},
}


def get_grid():
    cells = {
        f"k5/{method}": (
            "experiments/sinusoid_nme.py",
            {
                "experiment": f"sinusoid_nme_k5_{method}",
                "task.num_shots": 5,
                "num_steps": NUM_STEPS,
                "eval.every": 1000,
                **overrides,
            },
        )
        for method, overrides in CELLS.items()
    }
    return {"cells": cells, "seeds": (0, 1, 2, 3, 4)}
