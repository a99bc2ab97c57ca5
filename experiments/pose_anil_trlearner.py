"""pose: ANIL + TRLearner on rendered Pascal3D objects, 10 shots (variants:
see experiments/base.py)."""

from experiments import base


def get_config(arg=None):
    return base.preset("pose", arg, "anil", ("trlearner",), "pose_anil_trlearner")
