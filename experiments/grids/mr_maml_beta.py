"""MR-MAML's beta chosen on validation tasks (issue 33), per family, with noise that can act.

With the reference notebook's rho init of -50, sigma = softplus(-50) + float32 eps never leaves its
floor (in the notebook too: docs/sources/mr_maml_sinusoid_notebook.md), so MR-MAML is an L2
penalty on the means. The library's default rho init is now -5 (sigma ~ 0.0067, where softplus'
slope is 0.0067 and the KL's pull on sigma reaches it); beta trades that pull against the data.
Each family's beta is chosen by `metareg.tune` on the run seed's validation tasks (never the test
tasks) from these grids:

- nme_k5: the non-mutually-exclusive sinusoid (experiments/sinusoid_nme.py, K = 5, the NME grid's
  10,000 steps), 3 seeds;
- sinusoid_w1_k5: Table 1's family at K = 5, 20,000 steps (a quarter of Table 1's budget), 2 seeds;
- omniglot_norot: Omniglot 20-way 1-shot on the reference's tasks, 1,000 steps (a quarter of the
  norot grid's budget: MAML already over-fits there), 1 seed.

    python -m metareg.sweep --grid experiments/grids/mr_maml_beta.py --root runs/mr_maml_beta
    python -m metareg.tune --root runs/mr_maml_beta --field mr_maml.beta \
        --out docs/results/mr_maml_beta.json
"""

SCALE_INIT = -5.0
COLUMNS = {  # column -> (experiment, overrides, betas, seeds)
    "nme_k5": (
        "experiments/sinusoid_nme.py",
        {"task.num_shots": 5, "num_steps": 10_000},
        (1e-6, 1e-5, 1e-4, 1e-3, 1e-2),
        (0, 1, 2),
    ),
    "sinusoid_w1_k5": (
        "experiments/sinusoid_maml.py",
        {"task.name": "sinusoid_w1", "task.num_shots": 5, "num_steps": 20_000},
        (1e-6, 1e-5, 1e-4, 1e-3, 1e-2),
        (0, 1),
    ),
    "omniglot_norot": (
        "experiments/omniglot_maml.py:norot",
        {"num_steps": 1000, "checkpoint_every": 250},
        (1e-5, 1e-4, 1e-3),
        (0,),
    ),
}


def get_grid():
    cells = {}
    for column, (experiment, overrides, betas, seeds) in COLUMNS.items():
        for beta in betas:
            cells[f"{column}/beta{beta:g}"] = (
                experiment,
                {
                    "experiment": f"mr_maml_beta_{column}_{beta:g}",
                    "regularizers": ("mr_maml",),
                    "mr_maml.scale_init": SCALE_INIT,
                    "mr_maml.beta": beta,
                    **overrides,
                },
                seeds,
            )
    return {"cells": cells, "seeds": (0, 1, 2)}
