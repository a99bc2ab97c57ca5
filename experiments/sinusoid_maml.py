"""sinusoid: plain MAML; TRLearner Table 1 setup (480-task pool, K=5, Q=10)."""

from experiments import base


def get_config(arg=None):
    return base.preset("sinusoid", arg, "maml", (), "sinusoid_maml")
