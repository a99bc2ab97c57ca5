"""Drug activity on ChEMBL (TRLearner Table 3/7, MetaMix Table 2 in shape): ANIL and MetaSGD with a
head-only inner loop (the papers apply ANIL's inner loop to every baseline here, MetaMix Sec. 6.1),
each alone, with MetaMix and with TRLearner, on the four evaluation groups, 3 seeds, at the
experiments' CPU budget. MAML over the whole network (meta-gradient clipped at norm 10, tasks run as
a loop, see experiments/base.py) on all four groups."""

REGULARIZERS = {"": (), "+metamix": ("metamix",), "+trlearner": ("trlearner",)}


def get_grid():
    cells = {}
    for group in range(4):
        for backbone, overrides in (("anil", {}), ("metasgd", {"learner.frozen_blocks": 2})):
            for suffix, regs in REGULARIZERS.items():
                cells[f"group{group}/{backbone}{suffix}"] = (
                    "experiments/chembl_anil.py",
                    {
                        "task.group": group,
                        "learner.name": backbone,
                        "regularizers": regs,
                        **overrides,
                    },
                )
        for suffix, regs in REGULARIZERS.items():
            cells[f"group{group}/maml{suffix}"] = (
                "experiments/chembl_maml.py",
                {"task.group": group, "regularizers": regs},
            )
    return {"cells": cells, "seeds": (0, 1, 2)}
