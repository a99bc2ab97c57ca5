"""sinusoid: MAML + MetaMix (alpha 0.5, layers 0-2); TRLearner Table 1 setup
(480-task pool, K=5, Q=10)."""

from experiments import base


def get_config(arg=None):
    return base.preset("sinusoid", arg, "maml", ("metamix",), "sinusoid_metamix")
