"""sinusoid_mr_maml: MR-MAML's sinusoid notebook (Yin et al. 2020), MAML and MR-MAML-W.

google-research/meta_learning_without_memorization/sinusoid/MR_MAML.ipynb: 16 training tasks
(amplitudes linspace(0.1, 4, 20)[:16], phase 0) named by a one-hot code in the input, so MAML can
memorize them; test tasks with A ~ U(0.1, 4) and a code unrelated to A, 5 support points, 100 SGD
steps, noisy-target MSE on 200 points (the notebook: MAML 0.51, MR-MAML-W 0.16). Every value is
cited where it is set (experiments/base.py, `_mr_maml_notebook_setup`; the family:
metareg/tasks/mr_maml_sinusoid.py; the protocol: docs/sources/mr_maml_sinusoid_notebook.md).

    make train EXP=sinusoid_mr_maml              # the notebook's MAML cell (15,000 steps)
    make train EXP=sinusoid_mr_maml:mrw          # its MR-MAML-W cell (encoder, fresh Adam, beta)
    make train EXP=sinusoid_mr_maml:quick        # CPU smoke test
    ... --config.regularizers="('mr_maml',)"     # our MR-MAML defaults on the MAML cell's network
"""

from experiments import base


def get_config(arg=None):
    return base.preset("sinusoid_mr_maml", arg, "maml", (), "sinusoid_mr_maml")
