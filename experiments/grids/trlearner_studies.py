"""TRLearner's studies on sinusoid (w = 1 family), for the paper's Figures 4, 5 and 10 (issue 3).

- Ablation (Fig. 4): the learned relation matrix vs the fixed one from raw task representations
  (M-hat) vs all tasks equally related (M-tilde), K = 5, 5 seeds, against MAML alone.
- Lambda sensitivity (Fig. 5): lambda in {0.3, ..., 0.8}, K = 5, 3 seeds.
- Inner steps (Fig. 10): MAML and MAML+TRLearner trained and tested with 1, 4, 8, 16 inner steps,
  K = 5, 3 seeds.
Budget: NUM_STEPS outer steps per run (as experiments/grids/table1_full.py).

    make sweep GRID=trlearner_studies ARGS="--workers 2"
    python -m metareg.analysis.figures studies --root runs/trlearner_studies --out docs/results
"""

NUM_STEPS = 5000
LAMBDAS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
INNER_STEPS = (1, 4, 8, 16)


def cell(method, seeds, **overrides):
    regs = ("trlearner",) if "trlearner" in method else ()
    base = {
        "task.name": "sinusoid_w1",
        "task.num_shots": 5,
        "regularizers": regs,
        "num_steps": NUM_STEPS,
        "experiment": f"sinusoid_w1_k5_{method}",
    }
    return (
        f"sinusoid_w1/k5/{method}",
        ("experiments/sinusoid_maml.py", {**base, **overrides}, seeds),
    )


def get_grid():
    five, three = (0, 1, 2, 3, 4), (0, 1, 2)
    cells = [cell("maml", five), cell("maml+trlearner", five)]
    cells += [
        cell(f"maml+trlearner_{rel}", five, **{"trlearner.relation": rel})
        for rel in ("fixed", "ones")
    ]
    cells += [
        cell(f"maml+trlearner_lambda{lam}", three, **{"trlearner.weight": lam})
        for lam in LAMBDAS
        if lam != 0.6
    ]
    for s in INNER_STEPS[1:]:
        steps = {"learner.inner_steps": s, "eval.inner_steps": (s,), "eval.primary_inner_steps": s}
        cells += [
            cell(f"maml_inner{s}", three, **steps),
            cell(f"maml+trlearner_inner{s}", three, **steps),
        ]
    return {"cells": dict(cells), "seeds": five}
