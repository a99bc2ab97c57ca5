"""omniglot: ProtoNet + TRLearner, 20-way 1-shot non-mutually-exclusive by default (variants:
see experiments/base.py)."""

from experiments import base


def get_config(arg=None):
    return base.preset("omniglot", arg, "protonet", ("trlearner",), "omniglot_protonet_trlearner")
