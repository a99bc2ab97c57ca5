"""pose: MAML + TRLearner on rendered Pascal3D objects, 10 shots (variants:
see experiments/base.py)."""

from experiments import base


def get_config(arg=None):
    return base.preset("pose", arg, "maml", ("trlearner",), "pose_maml_trlearner")
