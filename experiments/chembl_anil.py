"""chembl: ANIL (head-only inner loop, MetaMix's best backbone here), evaluation group 0
(variants: experiments/base.py)."""

from experiments import base


def get_config(arg=None):
    return base.preset("chembl", arg, "anil", (), "chembl_anil")
