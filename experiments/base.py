"""Experiment presets: the library defaults, one preset per task family, the variant grammar.

Each `experiments/NAME.py` names one (family, learner, regularizers) combination with `preset(...)`.
The text after ":" in `--config experiments/NAME.py:ARG` is a comma-separated list of variant
tokens, written the same way for every family: the family's own (`FAMILIES[family].tokens`, e.g.
Omniglot `5shot,me`, ChEMBL `group2`, pose `15shot,64px`) and `quick`, which shrinks any run to a
CPU smoke test of seconds (same code path, tiny budget), e.g. `omniglot_maml.py:5shot,quick`. A
preset applies, in order: the family's task defaults, the tokens' task fields, the family's paper
settings (which may read the tokens), then the quick shrink.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable

from metareg.config import default_config
from metareg.tasks import FAMILY_SPECS


@dataclasses.dataclass(frozen=True)
class Family:
    """tokens: variant token -> (task field, value), or None for a token `setup` reads itself.
    defaults(c): task fields the tokens may override; setup(c, tokens, learner): everything else;
    quick(c, learner): the CPU smoke-test shrink."""

    tokens: dict
    setup: Callable
    quick: Callable
    defaults: Callable = lambda c: None


def preset(task: str, arg: str | None, learner: str, regularizers: tuple, name: str):
    """The config of experiment `name`: `task` (a family of FAMILIES, or a regression family name)
    trained by `learner` with `regularizers`, in the variant `arg` (tokens after ":")."""
    family = FAMILIES["regression" if task in FAMILY_SPECS else task]
    tokens = variant_tokens(arg, family.tokens)
    c = default_config()
    c.experiment, c.task.name, c.learner.name, c.regularizers = name, task, learner, regularizers
    family.defaults(c)
    for token in tokens:
        if family.tokens.get(token):
            field, value = family.tokens[token]
            c.task[field] = value
    family.setup(c, tokens, learner)
    if "quick" in tokens:
        family.quick(c, learner)
    return c


def variant_tokens(arg: str | None, allowed: dict) -> list[str]:
    """The comma-separated tokens of `arg`; ValueError naming an unknown one and the choices."""
    tokens = [t for t in (arg or "").split(",") if t]
    unknown = [t for t in tokens if t not in allowed and t != "quick"]
    if unknown:
        close = difflib.get_close_matches(unknown[0], [*allowed, "quick"], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        if not allowed:
            raise ValueError(
                f"unknown config variant {unknown[0]!r}{hint}; use NAME.py or NAME.py:quick"
            )
        raise ValueError(
            f"unknown config variant {unknown[0]!r}{hint}; use comma-separated tokens from "
            f"{sorted(allowed)} and quick"
        )
    return tokens


def is_quick(arg: str | None) -> bool:
    return "quick" in (arg or "").split(",")


# --------------------------------------------------------------------------------------- regression


def _regression_setup(c, tokens, learner):
    """The library defaults are TRLearner Table 1's sinusoid setup (480-task pool, K=5, Q=10).
    MR-MAML's beta of the w = 1 family, chosen on its validation tasks (smaller was better down to
    the smallest tried: docs/results/mr_maml_beta.json)."""
    if c.task.name == "sinusoid_w1":
        c.mr_maml.beta = 1e-6


def _regression_quick(c, learner):
    c.num_steps, c.log_every, c.checkpoint_every = 200, 50, 100
    c.eval.num_tasks = 100


# ----------------------------------------------------------------------------------------- Omniglot

OMNIGLOT_TOKENS = {
    "1shot": ("num_shots", 1),
    "5shot": ("num_shots", 5),
    "20way": ("ways", 20),
    "5way": ("ways", 5),
    "nme": ("setting", "non_mutually_exclusive"),
    "me": ("setting", "mutually_exclusive"),
    "reference": None,  # MetaMix's reference protocol, point by point: `_reference`
    # only its tasks (no rotations, 20 slots of 60; random-label test tasks), our CPU net
    "norot": None,
    "cs": None,  # MetaMix + Channel Shuffle (the reference's schedule)
}


def _omniglot_defaults(c):
    c.task.ways, c.task.num_shots = 20, 1
    c.task.setting, c.task.split = "non_mutually_exclusive", "vinyals"


def _omniglot_setup(c, tokens, learner):
    """Omniglot N-way K-shot classification (default 20-way 1-shot, non-mutually-exclusive).

    From the MetaMix reference (methods.md): Adam 1e-3, meta-batch 8 (1-shot) / 6 (5-shot),
    query = shots per class; MetaMix alpha 2.0 over layers (1, 2, 3) (MetaMix Appendix C.3). Conv4:
    stride-2 convs, transductive BatchNorm, spatial-mean readout (MAML's Omniglot network;
    learn2learn's OmniglotCNN). Departure, for the CPU budget: 1 inner step of lr 0.4 in training
    (MAML's and learn2learn's Omniglot setting, the TRLearner paper's "one meta-layer"), 5 at test,
    where the MetaMix reference trains with 5 steps of lr 0.1 and tests with 10: a 5-step outer step
    costs 4x as much here (0.86 s vs 0.20 s). Tokens: reference (MetaMix's reference protocol,
    `_reference`), norot (only its tasks), cs (Channel Shuffle).
    """
    c.task.num_queries = c.task.num_shots  # MetaMix reference: query = shots
    c.model.name = "conv4"
    c.model.pool, c.model.readout = "stride", "mean"
    c.learner.inner_lr, c.learner.inner_steps = 0.4, 1
    c.metamix.alpha, c.metamix.layers = 2.0, (1, 2, 3)
    # MR-MAML's beta chosen on validation tasks (norot, 1,000 steps, 1 seed; the three values tried
    # were within 0.8 points: docs/results/mr_maml_beta.json)
    c.mr_maml.beta = 1e-3
    c.meta_batch_size = 8 if c.task.num_shots == 1 else 6
    # our CPU budget (the papers: tens of thousands of steps; docs/reproduction_omniglot.md)
    c.num_steps = 2000
    c.log_every, c.checkpoint_every = 50, 250
    c.eval.metric = "accuracy"
    c.eval.inner_steps, c.eval.primary_inner_steps = (
        (1, 5),
        5,
    )  # more steps at test than in training
    c.eval.batch_size = 50
    if learner == "protonet":
        c.eval.inner_steps, c.eval.primary_inner_steps = (0,), 0  # no inner loop
    if "reference" in tokens:
        _reference(c, learner)
    elif "norot" in tokens:
        c.task.rotations, c.task.test_setting = False, "mutually_exclusive"
    c.metamix.channel_shuffle = "cs" in tokens


def _reference(c, learner: str):
    """The MetaMix reference code's Omniglot protocol (huaxiuyao/MetaMix omniglot/,
    docs/reproduction_omniglot.md "The reference protocol" compares point by point;
    docs/sources/metamix_reference_code.md cites its lines).

    Training characters without rotations in 20 fixed slots of 60; test tasks mutually exclusive
    (random labels) from the test characters; Conv4 of 64 filters, 3x3 convs with no pooling and no
    stride (the functions that run skip the module's max-pool), transductive BatchNorm, mean over
    space; second-order MAML, 5 inner steps of lr 0.1 in training, 10 at test; Adam 1e-3 (the
    code's; the paper says 0.005); meta-batch 8 (1-shot) / 6 (5-shot); 50,000 iterations; MetaMix
    Beta(2, 2) over layers (0, 1, 2, 3) (the code's; the paper says 1-3).
    """
    c.task.rotations = False
    c.task.test_setting = "mutually_exclusive"
    c.model.width, c.model.pool, c.model.readout, c.model.norm = 64, "none", "mean", "transductive"
    if learner != "protonet":
        c.learner.inner_lr, c.learner.inner_steps = 0.1, 5
        c.eval.inner_steps, c.eval.primary_inner_steps = (5, 10), 10
    c.optimizer.name, c.optimizer.learning_rate = "adam", 1e-3
    c.metamix.alpha, c.metamix.layers = 2.0, (0, 1, 2, 3)
    c.num_steps = 50_000
    c.log_every, c.checkpoint_every = 50, 500
    c.eval.every = 1000  # the memorization curve


def _omniglot_quick(c, learner):  # 5-way, narrow net, 1 inner step
    c.task.ways = 5
    c.model.width = 8
    c.learner.inner_steps = 1
    c.meta_batch_size = 2
    c.num_steps, c.log_every, c.checkpoint_every = 20, 10, 10
    c.eval.num_tasks, c.eval.batch_size = 20, 20
    if learner != "protonet":
        c.eval.inner_steps, c.eval.primary_inner_steps = (1, 2), 2
    if c.eval.every:  # the curve path runs too
        c.eval.every, c.eval.curve_tasks = 10, 4


# ----------------------------------------------------------------------------------------- ChEMBL

CHEMBL_TOKENS = {f"group{g}": ("group", g) for g in range(4)}


def _chembl_setup(c, tokens, learner):
    """Drug activity on ChEMBL assays (one assay = one task), evaluation group 0 by
    default ("group1".."group3").

    MetaMix Appendix C.1: MLP fingerprint -> 500 -> 500 -> 1 with BatchNorm and leaky ReLU (0.01),
    meta-batch 8, Adam 1e-3, inner lr 0.01, 5 inner steps in training and at test; MetaMix alpha 0.5
    over layers (1, 2). Support = 75% of an assay's compounds (at least 3 queries), padded to
    64 / 32 in training (metareg.tasks.chembl). Evaluation: every meta-test assay, R^2 (squared
    Pearson) on its query compounds.
    """
    c.task.num_shots, c.task.num_queries = 64, 32  # training caps (padding)
    c.model.name, c.model.hidden = "mlp", (500, 500)
    c.model.mlp_norm, c.model.mlp_activation = "transductive", "leaky_relu"
    c.learner.inner_lr, c.learner.inner_steps = 0.01, 5
    c.metamix.alpha, c.metamix.layers = 0.5, (1, 2)
    c.meta_batch_size = 8
    c.num_steps = 1500  # our CPU budget (the papers: 50 epochs x 500 = 25k steps)
    if learner == "maml":
        # Whole-network MAML: the second-order terms through BatchNorm over 3-4-compound supports
        # reach meta-gradient norms of 1e9-1e13; unclipped, one such step fills Adam's second moment
        # and the run stalls (query MSE 14-20 for all 1,500 steps; ANIL ~1). Clipped at 10: query
        # MSE 2.5 by step 100.
        c.optimizer.clip_norm = 10.0
    c.log_every, c.checkpoint_every = 100, 500
    c.eval.metric, c.eval.num_tasks, c.eval.batch_size = "r2", 0, 50  # 0: every meta-test assay
    c.eval.inner_steps, c.eval.primary_inner_steps = (5,), 5


def _chembl_quick(c, learner):
    c.model.hidden = (32, 32)
    c.learner.inner_steps = 1
    c.meta_batch_size = 2
    c.task_chunk = (
        0  # one vmap: two tasks compile faster batched than as the CPU default's unrolled loop
    )
    c.num_steps, c.log_every, c.checkpoint_every = 20, 10, 10
    c.eval.inner_steps, c.eval.primary_inner_steps, c.eval.num_tasks = (1,), 1, 20


# ----------------------------------------------------------------------------------------- pose

POSE_TOKENS = {
    "10shot": ("num_shots", 10),
    "15shot": ("num_shots", 15),
    **{f"{s}px": ("image_size", s) for s in (32, 64, 128)},
}


def _pose_defaults(c):
    c.task.num_shots = 10


def _pose_setup(c, tokens, learner):
    """Pose regression on rendered Pascal3D objects (one object = one task), 10
    shots by default ("15shot").

    MR-MAML / MetaMix (App. C.2): encoder frozen in the inner loop + 4-block conv decoder
    (metareg.models.pose), query = shots, meta-batch 10, inner lr 0.01, 5 inner steps in training
    and 20 at test; MetaMix alpha 0.5 over the input and every hidden layer; labels
    azimuth / (2 pi) * 10; 1000 test tasks, MSE. Outer Adam 1e-3 (MR-MAML's code: 5e-4; MetaMix's
    text: 0.01).
    """
    c.task.num_queries = c.task.num_shots
    c.model.name = "pose_net"
    c.learner.inner_lr, c.learner.inner_steps = 0.01, 5
    c.learner.frozen_blocks = 1  # block 0 = the encoder
    c.metamix.alpha, c.metamix.layers = 0.5, (0, 1, 2, 3, 4)
    # MR-MAML's pose code's beta (not tuned here); rho -5 instead of its -20, which pins sigma at
    # float32 eps (docs/design.md)
    c.mr_maml.beta, c.mr_maml.scale_init = 1e-3, -5.0
    c.meta_batch_size = 10
    c.num_steps = 2000  # our CPU budget (MR-MAML's code: 10k steps)
    c.log_every, c.checkpoint_every = 50, 250
    c.eval.metric, c.eval.num_tasks, c.eval.batch_size = "mse_clean", 1000, 50
    c.eval.inner_steps, c.eval.primary_inner_steps = (5, 20), 20


def _pose_quick(c, learner):
    c.task.image_size = 32
    c.model.width = 8
    c.learner.inner_steps = 1
    c.meta_batch_size = 2
    c.task_chunk = (
        0  # one vmap: two tasks compile faster batched than as the CPU default's unrolled loop
    )
    c.num_steps, c.log_every, c.checkpoint_every = 20, 10, 10
    c.eval.inner_steps, c.eval.primary_inner_steps = (1, 2), 2
    c.eval.num_tasks, c.eval.batch_size = 20, 20


# --------------------------------------------------------------- MR-MAML's sinusoid notebook

# Yin et al. 2020, google-research/meta_learning_without_memorization/sinusoid/MR_MAML.ipynb,
# cited as "cell ID, line N" of the cell's source (docs/sources/mr_maml_sinusoid_notebook.md).
MR_MAML_NOTEBOOK_TOKENS = {"mrw": None}  # mrw: the notebook's MR-MAML-W cell, point by point


def _mr_maml_notebook_setup(c, tokens, learner):
    """The notebook's MAML cell (NPbj4ge1KGR4) and test cell (KAIcBZspRPEu); `mrw`: its
    MR-MAML-W cell (dr1j1BSVL14X) instead.

    Departures: the notebook's persistent Keras Adam has eps 1e-7 added after the bias correction,
    optax's 1e-8 before it (equal once |g| >> 1e-7); our MR-MAML-W draws its weights once per outer
    step for support and query, the notebook once per encoder call (at sigma = softplus(-50) +
    float32 eps both are the mean to 1e-7).
    """
    c.task.num_shots, c.task.num_queries = 10, 10  # n_context; n_obs - n_context (Df53q7, l. 2-3)
    c.task.test_shots = 5  # n_context = 5 at test (KAIcBZspRPEu, line 3)
    # not read: the family's 16 training tasks are fixed (fosHnP6GwFZ-, line 15)
    c.task.pool_size = 16
    c.model.hidden = (40, 40)  # SineModel 21-40-40-1, ReLU (jYAoMD0rwQ28, lines 6-13)
    c.model.mlp_init = ("glorot_uniform",)  # keras.layers.Dense's default initializers
    c.learner.inner_lr, c.learner.inner_steps = 0.01, 1  # lr_inner (Df53q7, line 8); one step
    c.optimizer.name, c.optimizer.learning_rate = "adam", 1e-3  # keras Adam() (NPbj4ge1, line 7)
    c.meta_batch_size = 1  # one task per outer step (NPbj4ge1, lines 12-32)
    c.num_steps = 15_000  # n_iter (NPbj4ge1, line 9; dr1j1BSVL14X, line 9)
    c.log_every, c.checkpoint_every = 100, 1000
    c.eval.num_tasks = 100  # n_test_task (KAIcBZspRPEu, line 4)
    # errors after 0, 1, 5, 100 SGD steps of lr 0.01 on the 5 context points; the reported one is
    # the last, inner_record[-1] (KAIcBZspRPEu, lines 10-11), on the noisy targets (4McD728ixTbm,
    # line 49)
    c.eval.inner_steps, c.eval.primary_inner_steps = (0, 1, 5, 100), 100
    c.eval.metric = "mse_noisy"
    c.eval.every = 1000  # curve points: the memorization measure (training tasks, 0 steps)
    if "mrw" in tokens:
        c.regularizers = ("mr_maml",)
        # encoder_w: DenseReparameterization(100, relu) -> DenseReparameterization(dim_w = 5),
        # linear, then SineModel built on dim_w inputs (dr1j1BSVL14X, lines 10, 15-18; Df53q7, l. 9)
        c.model.hidden = (100, 5, 40, 40)
        c.model.mlp_linear_blocks = (1,)
        # tfp posterior loc (kernel) and deterministic bias ~ N(0, 0.1^2); Keras Dense after
        c.model.mlp_init = ("normal_0.1", "normal_0.1", *("glorot_uniform",) * 3)
        c.learner.frozen_blocks = 2  # the inner step differentiates model's variables only (l. 37)
        c.mr_maml.blocks = (0, 1)  # the encoder's kernels are stochastic; biases deterministic
        c.mr_maml.beta = 5e-5  # Beta (dr1j1BSVL14X, line 7)
        c.mr_maml.scale_init, c.mr_maml.scale_init_std = -50.0, 0.1  # lines 12-13
        # keras.optimizers.Adam(learning_rate=1e-3) built anew every step (lines 8, 54)
        c.optimizer.name, c.optimizer.learning_rate = "adam_fresh", 1e-3


def _mr_maml_notebook_quick(c, learner):
    _regression_quick(c, learner)
    c.eval.every = c.log_every  # the curve path runs too


FAMILIES = {
    "regression": Family({}, _regression_setup, _regression_quick),
    "sinusoid_mr_maml": Family(
        MR_MAML_NOTEBOOK_TOKENS, _mr_maml_notebook_setup, _mr_maml_notebook_quick
    ),
    "omniglot": Family(OMNIGLOT_TOKENS, _omniglot_setup, _omniglot_quick, _omniglot_defaults),
    "chembl": Family(CHEMBL_TOKENS, _chembl_setup, _chembl_quick),
    "pose": Family(POSE_TOKENS, _pose_setup, _pose_quick, _pose_defaults),
}


def variants(experiment: str) -> list[str]:
    """The variant tokens an experiment takes after ":" (by its family: the experiment's own name
    if it names one, else the name's first word)."""
    family = FAMILIES.get(experiment) or FAMILIES.get(
        experiment.split("_")[0], FAMILIES["regression"]
    )
    return [*family.tokens, "quick"]
