"""TRLearner Table 1 at the budget of the MAML learning curves (issue 19): sinusoid_w1, every
backbone alone and with each regularizer, K = 5 and 10, 3 seeds, NUM_STEPS outer steps
(experiments/grids/sinusoid_curves.py and docs/reproduction_table1.md say why this budget), with
curve points (training vs test error, before and after adaptation) every 5,000 steps so each cell
shows whether there was anything to regularize. MetaMix mixes the MLP's hidden layers (the default);
"+metamix_input" is the input-mixing variant. Harmonic is left out until MAML learns it
(docs/reproduction_table1.md, "Harmonic from its sources").

    python -m metareg.sweep --grid experiments/grids/table1_budget.py --root runs/table1_budget \
        --workers 2
    python -m metareg.analysis.report --root runs/table1_budget --layout table1 \
        --out docs/results/table1_budget.md
"""

NUM_STEPS = 70_000
BACKBONES = ("maml", "anil", "metasgd", "tnet")
# ANIL's inner lr, chosen on validation tasks (experiments/grids/anil_inner_lr.py,
# docs/results/anil_inner_lr.json); the other backbones keep the config's 0.01 (MAML's sinusoid
# value).
INNER_LR = {("anil", 5): 0.003, ("anil", 10): 0.01}
REGULARIZERS = {  # method suffix -> overrides
    "": {"regularizers": ()},
    "+meta_aug": {"regularizers": ("meta_aug",)},
    "+metamix": {"regularizers": ("metamix",)},
    "+metamix_input": {"regularizers": ("metamix",), "metamix.layers": (0, 1, 2)},
    # the settings this row ran with (the reference notebook's scales, the library's defaults
    # before issue 33): sigma stays at float32 eps, MR-MAML acts as weight decay on the means
    "+mr_maml": {"regularizers": ("mr_maml",), "mr_maml.beta": 5e-5, "mr_maml.scale_init": -50.0},
    "+trlearner": {"regularizers": ("trlearner",)},
    # issue 35; their defaults are literal readings, marked "ours" in docs/sources/*.md
    "+dropout_bins": {"regularizers": ("dropout_bins",)},
    "+metacrl": {"regularizers": ("metacrl",)},
}


def get_grid():
    cells = {}
    for shots in (5, 10):
        for backbone in BACKBONES:
            for suffix, overrides in REGULARIZERS.items():
                cells[f"sinusoid_w1/k{shots}/{backbone}{suffix}"] = (
                    "experiments/sinusoid_maml.py",
                    {
                        "experiment": f"sinusoid_w1_k{shots}_{backbone}{suffix}",
                        "task.name": "sinusoid_w1",
                        "task.num_shots": shots,
                        "learner.name": backbone,
                        "num_steps": NUM_STEPS,
                        "eval.every": 5000,
                        "checkpoint_every": 5000,
                        "learner.inner_lr": INNER_LR.get((backbone, shots), 0.01),
                        **overrides,
                    },
                )
    return {"cells": cells, "seeds": (0, 1, 2, 3, 4)}
