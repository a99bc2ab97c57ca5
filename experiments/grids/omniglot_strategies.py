"""MetaMix's mixture strategies (its Tables 3, 7, 13, 16) on the Omniglot reference tasks at 2,000
steps: the `omniglot_norot` grid's strategy cells cut to half its budget, so that they fit a session
beside other runs. They are judged at the curve point of step 2,000 against MAML and MetaMix's curve
points at that step in the norot grid: neither the optimizer nor anything else depends on num_steps,
so those runs' first 2,000 steps are the runs a 2,000-step budget would have made
(docs/reproduction_omniglot.md, "Mixture strategies").

    python -m metareg.sweep --grid experiments/grids/omniglot_strategies.py \
        --root runs/omniglot_strategies --seeds 0
    python -m metareg.analysis.tables regime \
        --root results/omniglot_norot,results/omniglot_strategies \
        --at-step 2000 --title "..." --out docs/results/omniglot_strategies.md
"""

from experiments.grids import omniglot_norot

NUM_STEPS = 2000
STRATEGIES = ("maml_metamix_qq", "maml_metamix_ss", "maml_metamix_concat")


def get_grid():
    grid = omniglot_norot.get_grid()
    cells = {
        name: (experiment, {**overrides, "num_steps": NUM_STEPS})
        for name, (experiment, overrides) in grid["cells"].items()
        if name.split("/")[1] in STRATEGIES
    }
    return {"cells": cells, "seeds": grid["seeds"]}
