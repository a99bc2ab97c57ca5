"""The non-mutually-exclusive sinusoid (issue 19): MAML alone and with each regularizer, where plain
MAML memorizes its training tasks (experiments/sinusoid_nme.py: 20 training tasks named by a one-hot
code in the input). K = 5 and 10, 5 seeds, NUM_STEPS outer steps (MAML has memorized by 2,000: its
training-task error before adaptation is 0.07 there, 0.007 at 20,000), learning curves every 1,000
steps.

    make sweep GRID=sinusoid_nme ARGS="--workers 2"
    python -m metareg.analysis.tables nme --root runs/sinusoid_nme \
        --out docs/results/sinusoid_nme.md
"""

NUM_STEPS = 10_000
REGULARIZERS = {  # method suffix -> overrides
    "": {"regularizers": ()},
    "+meta_aug": {"regularizers": ("meta_aug",)},
    "+metamix": {"regularizers": ("metamix",)},  # hidden layers (1, 2): the MLP default
    "+metamix_input": {
        "regularizers": ("metamix",),
        "metamix.layers": (0, 1, 2),
    },  # with input mixing
    # the library's defaults (issue 33: rho -5, beta 1e-5 chosen on this family's validation tasks)
    "+mr_maml": {"regularizers": ("mr_maml",)},
    # the reference notebook's scales (the defaults before issue 33): sigma stays at float32 eps
    "+mr_maml_ref": {
        "regularizers": ("mr_maml",),
        "mr_maml.beta": 5e-5,
        "mr_maml.scale_init": -50.0,
    },
    "+trlearner": {"regularizers": ("trlearner",)},
    "+dropout_bins": {"regularizers": ("dropout_bins",)},  # issue 35
    "+metacrl": {"regularizers": ("metacrl",)},
}
# K = 5 only: MetaMix's mixture strategies (its Tables 3, 7, 13, 16), and MR-MAML with noise that
# can act (the reference's sigma = softplus(-50) ~ 1e-22 leaves only an L2 penalty on the means;
# docs/design.md).
K5_ONLY = {
    "+metamix_qq": {"regularizers": ("metamix",), "metamix.strategy": "query_query"},
    "+metamix_ss": {"regularizers": ("metamix",), "metamix.strategy": "support_support"},
    "+metamix_concat": {"regularizers": ("metamix",), "metamix.strategy": "concat"},
    "+mr_maml_noisy": {
        "regularizers": ("mr_maml",),
        "mr_maml.scale_init": -5.0,
        "mr_maml.beta": 1e-3,
    },
}


def get_grid():
    cells = {}
    for shots in (5, 10):
        for suffix, overrides in {**REGULARIZERS, **(K5_ONLY if shots == 5 else {})}.items():
            cells[f"k{shots}/maml{suffix}"] = (
                "experiments/sinusoid_nme.py",
                {
                    "experiment": f"sinusoid_nme_k{shots}_maml{suffix}",
                    "task.num_shots": shots,
                    "num_steps": NUM_STEPS,
                    "eval.every": 1000,
                    **overrides,
                },
            )
    return {"cells": cells, "seeds": (0, 1, 2, 3, 4)}
