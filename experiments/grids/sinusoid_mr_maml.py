"""Positive control (issue 33): MR-MAML-W vs MAML on MR-MAML's sinusoid notebook (Yin et al. 2020;
experiments/sinusoid_mr_maml.py, docs/sources/mr_maml_sinusoid_notebook.md). The notebook's one run:
MAML 0.51, MR-MAML-W 0.16 (noisy-target test MSE after 100 SGD steps on 5 support points).

Column k5 (the notebook's 5 test shots), 5 seeds, the notebook's 15,000 steps, curve points every
1,000 steps (training tasks before adaptation: the memorization measure). Cells:

- maml: the notebook's MAML cell;
- maml+mr_maml: its MR-MAML-W cell, point by point (`:mrw`: encoder 21-100-5 with stochastic
  kernels, frozen in the inner loop; a new Keras Adam every step; beta 5e-5; rho init -50);
- which of its differences carry the effect (sigma stays at its floor in all of them):
  maml+mr_maml_beta0 (the same without the KL: encoder + fresh Adam only),
  maml+mr_maml_adam (the same with a persistent Adam, as our runs train),
  maml+mr_maml_ours (our MR-MAML defaults on the MAML cell's network: kernels of the adapted
  network stochastic, persistent Adam).

    make sweep GRID=sinusoid_mr_maml ARGS="--workers 2"
    make sweep GRID=sinusoid_mr_maml ARGS="--only k5/maml,k5/maml+mr_maml"   # the control alone
    python -m metareg.analysis.tables regime --root runs/sinusoid_mr_maml \
        --title "MR-MAML's sinusoid notebook" --out docs/results/sinusoid_mr_maml.md
"""

NUM_STEPS = 15_000  # n_iter (the notebook's MAML and MR-MAML-W training cells)
EXPERIMENT = "experiments/sinusoid_mr_maml.py"
CELLS = {  # method -> (variant tokens, overrides)
    "maml": ("", {}),
    "maml+mr_maml": (":mrw", {}),
    "maml+mr_maml_beta0": (":mrw", {"mr_maml.beta": 0.0}),
    "maml+mr_maml_adam": (":mrw", {"optimizer.name": "adam"}),
    "maml+mr_maml_ours": ("", {"regularizers": ("mr_maml",)}),
}


def get_grid():
    cells = {}
    for method, (variant, overrides) in CELLS.items():
        cells[f"k5/{method}"] = (
            EXPERIMENT + variant,
            {
                "experiment": f"sinusoid_mr_maml_k5_{method}",
                "num_steps": NUM_STEPS,
                "eval.every": 1000,
                **overrides,
            },
        )
    return {"cells": cells, "seeds": (0, 1, 2, 3, 4)}
