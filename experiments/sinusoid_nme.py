"""sinusoid_nme: plain MAML on the non-mutually-exclusive sinusoid, where memorization can happen.

sinusoid_w1 tasks with a one-hot of the amplitude's bin (20 bins) in the input and a pool of 20
training tasks, one per bin: the code names the training task, so a model can fit every training
task from x alone and ignore its support set. Test tasks are fresh (amplitude, phase) draws whose
code gives only the amplitude bin. Learning curves on (eval.every) show the memorization directly:
training-task error before adaptation (curve/train/mse_clean@0) against test error after it.
Regularizers: --config.regularizers="('mr_maml',)" (or experiments/grids/sinusoid_nme.py for all).
"""

from experiments import base


def get_config(arg=None):
    config = base.preset("sinusoid_nme", arg, "maml", (), "sinusoid_nme")
    config.task.pool_size = 20
    config.meta_batch_size = 10  # half the pool per step (25 would exceed it)
    config.eval.every = config.log_every * (1 if base.is_quick(arg) else 10)
    return config
