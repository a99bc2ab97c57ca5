"""omniglot: MAML + MetaMix, 20-way 1-shot non-mutually-exclusive by default (variants:
see experiments/base.py)."""

from experiments import base


def get_config(arg=None):
    return base.preset("omniglot", arg, "maml", ("metamix",), "omniglot_maml_metamix")
