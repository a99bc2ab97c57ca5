"""chembl: ANIL + TRLearner on ChEMBL assays, evaluation group 0 (variants:
see experiments/base.py)."""

from experiments import base


def get_config(arg=None):
    return base.preset("chembl", arg, "anil", ("trlearner",), "chembl_anil_trlearner")
