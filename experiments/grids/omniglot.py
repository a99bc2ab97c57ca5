"""Omniglot 20-way 1-shot, non-mutually-exclusive (TRLearner Table 2/6, MetaMix Table 5): MAML,
MAML+MetaMix, MAML+TRLearner, ProtoNet, ProtoNet+TRLearner, 3 seeds, at the experiments' CPU budget
(experiments/base.py)."""

EXPERIMENTS = ("maml", "maml_metamix", "maml_trlearner", "protonet", "protonet_trlearner")


def get_grid():
    cells = {
        f"20way1shot_nme/{name}": (f"experiments/omniglot_{name}.py", {}) for name in EXPERIMENTS
    }
    return {"cells": cells, "seeds": (0, 1, 2)}
