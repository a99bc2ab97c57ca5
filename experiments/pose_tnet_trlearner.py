"""pose: T-Net + TRLearner on rendered Pascal3D objects, 10 shots (variants:
see experiments/base.py)."""

from experiments import base


def get_config(arg=None):
    return base.preset("pose", arg, "tnet", ("trlearner",), "pose_tnet_trlearner")
