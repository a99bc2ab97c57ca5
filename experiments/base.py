"""Shared base of the experiments: the library defaults plus the variant switches.

Each experiment file calls `base.get_config(arg)` (regression) or `base.omniglot(...)` and applies
its delta. `arg` is the text after ":" in `--config experiments/NAME.py:ARG`: "quick" shrinks the
run to a CPU smoke test of seconds (same code path, tiny budget). Omniglot experiments take
comma-separated tokens: "1shot" | "5shot", "20way" | "5way", "nme" (non-mutually-exclusive, the
papers' tables; default) | "me" (mutually exclusive), and "quick", e.g. `omniglot_maml.py:5shot,me`.
"""

from metareg.config import default_config


def get_config(arg=None):
    config = default_config()
    if arg not in (None, "", "quick"):
        raise ValueError(f"unknown config variant {arg!r}; use NAME.py or NAME.py:quick")
    if arg == "quick":  # CPU-sized smoke run: seconds, not minutes
        _quick(config)
    return config


def _quick(config):
    config.num_steps = 200
    config.log_every = 50
    config.checkpoint_every = 100
    config.eval.num_tasks = 100


def regression(config, task: str, regularizers: tuple, name: str):
    """Set the task family, regularizers and experiment name."""
    config.task.name = task
    config.regularizers = regularizers
    config.experiment = name
    return config


OMNIGLOT_TOKENS = {
    "1shot": ("num_shots", 1),
    "5shot": ("num_shots", 5),
    "20way": ("ways", 20),
    "5way": ("ways", 5),
    "nme": ("setting", "non_mutually_exclusive"),
    "me": ("setting", "mutually_exclusive"),
    "reference": None,  # MetaMix's reference protocol, point by point: `_reference`
    "norot": None,  # only its tasks (no rotations, 20 slots of 60; random-label test tasks), our CPU net
    "cs": None,
}  # MetaMix + Channel Shuffle (the reference's schedule)


def _reference(c, learner: str):
    """The MetaMix reference code's Omniglot protocol (huaxiuyao/MetaMix omniglot/, docs/reproduction_omniglot.md
    "The reference protocol" compares point by point; docs/sources/metamix_reference_code.md cites its lines).

    Training characters without rotations in 20 fixed slots of 60; test tasks mutually exclusive (random labels)
    from the test characters; Conv4 of 64 filters, 3x3 convs with no pooling and no stride (the functions that
    run skip the module's max-pool), transductive BatchNorm, mean over space; second-order MAML, 5 inner steps
    of lr 0.1 in training, 10 at test; Adam 1e-3 (the code's; the paper says 0.005); meta-batch 8 (1-shot) / 6
    (5-shot); 50,000 iterations; MetaMix Beta(2, 2) over layers (0, 1, 2, 3) (the code's; the paper says 1-3).
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


def omniglot(arg, learner: str, regularizers: tuple, name: str):
    """Omniglot N-way K-shot classification (default 20-way 1-shot, non-mutually-exclusive).

    Tokens after ":" (comma-separated): 1shot | 5shot, 20way | 5way, nme | me, reference (MetaMix's
    reference protocol, `_reference`), norot (only its tasks: no rotations, 20 slots of 60, random-label
    test tasks), cs (MetaMix + Channel Shuffle), quick.

    From the MetaMix reference (methods.md): Adam 1e-3, meta-batch 8 (1-shot) / 6 (5-shot), query = shots
    per class; MetaMix alpha 2.0 over layers (1, 2, 3) (MetaMix Appendix C.3). Conv4: stride-2 convs,
    transductive BatchNorm, spatial-mean readout (MAML's Omniglot network; learn2learn's OmniglotCNN).
    Departure, for the CPU budget: 1 inner step of lr 0.4 in training (MAML's and learn2learn's Omniglot
    setting, the TRLearner paper's "one meta-layer"), 5 at test, where the MetaMix reference trains with 5
    steps of lr 0.1 and tests with 10: a 5-step outer step costs 4x as much here (0.86 s vs 0.20 s).
    """
    tokens = _tokens(arg, OMNIGLOT_TOKENS)
    c = default_config()
    c.experiment = name
    c.task.name = "omniglot"
    c.task.ways, c.task.num_shots, c.task.setting, c.task.split = (
        20,
        1,
        "non_mutually_exclusive",
        "vinyals",
    )
    for token in tokens:
        if OMNIGLOT_TOKENS.get(token):
            field, value = OMNIGLOT_TOKENS[token]
            c.task[field] = value
    c.task.num_queries = c.task.num_shots  # MetaMix reference: query = shots
    c.model.name = "conv4"
    c.model.pool, c.model.readout = "stride", "mean"
    c.learner.name = learner
    c.learner.inner_lr, c.learner.inner_steps = 0.4, 1
    c.regularizers = regularizers
    c.metamix.alpha, c.metamix.layers = 2.0, (1, 2, 3)
    c.meta_batch_size = 8 if c.task.num_shots == 1 else 6
    c.num_steps = 2000  # our CPU budget (the papers train for tens of thousands of steps): see docs/reproduction_omniglot.md
    c.log_every, c.checkpoint_every = 50, 250
    c.eval.metric = "accuracy"
    c.eval.inner_steps, c.eval.primary_inner_steps = (
        (1, 5),
        5,
    )  # more steps at test than in training, as the papers
    c.eval.batch_size = 50
    if learner == "protonet":
        c.eval.inner_steps, c.eval.primary_inner_steps = (0,), 0  # no inner loop
    if "reference" in tokens:
        _reference(c, learner)
    elif "norot" in tokens:
        c.task.rotations, c.task.test_setting = False, "mutually_exclusive"
    c.metamix.channel_shuffle = "cs" in tokens
    if "quick" in tokens:  # seconds on a CPU: 5-way, narrow net, 1 inner step
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
    return c


def _tokens(arg, allowed: dict) -> list[str]:
    tokens = [t for t in (arg or "").split(",") if t]
    unknown = [t for t in tokens if t not in allowed and t != "quick"]
    if unknown:
        raise ValueError(
            f"unknown config variant {unknown[0]!r}; use comma-separated tokens from {sorted(allowed)} and quick"
        )
    return tokens


CHEMBL_TOKENS = {f"group{g}": ("group", g) for g in range(4)}


def chembl(arg, learner: str, regularizers: tuple, name: str):
    """Drug activity on ChEMBL assays (one assay = one task), evaluation group 0 by default ("group1".."group3").

    MetaMix Appendix C.1: MLP fingerprint -> 500 -> 500 -> 1 with BatchNorm and leaky ReLU (0.01), meta-batch 8,
    Adam 1e-3, inner lr 0.01, 5 inner steps in training and at test; MetaMix alpha 0.5 over layers (1, 2).
    Support = 75% of an assay's compounds (at least 3 queries), padded to 64 / 32 in training
    (metareg.tasks.chembl). Evaluation: every meta-test assay, R^2 (squared Pearson) on its query compounds.
    """
    tokens = _tokens(arg, CHEMBL_TOKENS)
    c = default_config()
    c.experiment = name
    c.task.name = "chembl"
    for token in tokens:
        if token in CHEMBL_TOKENS:
            field, value = CHEMBL_TOKENS[token]
            c.task[field] = value
    c.task.num_shots, c.task.num_queries = 64, 32  # training caps (padding)
    c.model.name, c.model.hidden = "mlp", (500, 500)
    c.model.mlp_norm, c.model.mlp_activation = "transductive", "leaky_relu"
    c.learner.name = learner
    c.learner.inner_lr, c.learner.inner_steps = 0.01, 5
    c.regularizers = regularizers
    c.metamix.alpha, c.metamix.layers = 0.5, (1, 2)
    c.meta_batch_size = 8
    c.num_steps = 1500  # our CPU budget (the papers: 50 epochs x 500 = 25k steps)
    if learner == "maml":
        # Whole-network MAML: the second-order terms through BatchNorm over 3-4-compound supports reach
        # meta-gradient norms of 1e9-1e13; unclipped, one such step fills Adam's second moment and the run
        # stalls (query MSE 14-20 for all 1,500 steps; ANIL ~1). Clipped at 10: query MSE 2.5 by step 100.
        c.optimizer.clip_norm = 10.0
    c.log_every, c.checkpoint_every = 100, 500
    c.eval.metric, c.eval.num_tasks, c.eval.batch_size = "r2", 0, 50  # 0: every meta-test assay
    c.eval.inner_steps, c.eval.primary_inner_steps = (5,), 5
    if "quick" in tokens:
        c.model.hidden = (32, 32)
        c.learner.inner_steps = 1
        c.meta_batch_size = 2
        c.task_chunk = (
            0  # one vmap: two tasks compile faster batched than as the CPU default's unrolled loop
        )
        c.num_steps, c.log_every, c.checkpoint_every = 20, 10, 10
        c.eval.inner_steps, c.eval.primary_inner_steps, c.eval.num_tasks = (1,), 1, 20
    return c


POSE_TOKENS = {
    "10shot": ("num_shots", 10),
    "15shot": ("num_shots", 15),
    **{f"{s}px": ("image_size", s) for s in (32, 64, 128)},
}


def pose(arg, learner: str, regularizers: tuple, name: str):
    """Pose regression on rendered Pascal3D objects (one object = one task), 10 shots by default ("15shot").

    MR-MAML / MetaMix (App. C.2): encoder frozen in the inner loop + 4-block conv decoder (metareg.models.pose),
    query = shots, meta-batch 10, inner lr 0.01, 5 inner steps in training and 20 at test; MetaMix alpha 0.5
    over the input and every hidden layer; labels azimuth / (2 pi) * 10; 1000 test tasks, MSE. Outer Adam
    1e-3 (MR-MAML's code: 5e-4; MetaMix's text: 0.01).
    """
    tokens = _tokens(arg, POSE_TOKENS)
    c = default_config()
    c.experiment = name
    c.task.name = "pose"
    c.task.num_shots = 10
    for token in tokens:
        if token in POSE_TOKENS:
            field, value = POSE_TOKENS[token]
            c.task[field] = value
    c.task.num_queries = c.task.num_shots
    c.model.name = "pose_net"
    c.learner.name = learner
    c.learner.inner_lr, c.learner.inner_steps, c.learner.frozen_blocks = (
        0.01,
        5,
        1,
    )  # block 0 = the encoder
    c.regularizers = regularizers
    c.metamix.alpha, c.metamix.layers = 0.5, (0, 1, 2, 3, 4)
    c.mr_maml.beta, c.mr_maml.scale_init = 1e-3, -20.0  # MR-MAML's pose settings
    c.meta_batch_size = 10
    c.num_steps = 2000  # our CPU budget (MR-MAML's code: 10k steps)
    c.log_every, c.checkpoint_every = 50, 250
    c.eval.metric, c.eval.num_tasks, c.eval.batch_size = "mse_clean", 1000, 50
    c.eval.inner_steps, c.eval.primary_inner_steps = (5, 20), 20
    if "quick" in tokens:
        c.task.image_size = 32
        c.model.width = 8
        c.learner.inner_steps = 1
        c.meta_batch_size = 2
        c.task_chunk = (
            0  # one vmap: two tasks compile faster batched than as the CPU default's unrolled loop
        )
        c.num_steps, c.log_every, c.checkpoint_every = 20, 10, 10
        c.eval.inner_steps, c.eval.primary_inner_steps, c.eval.num_tasks, c.eval.batch_size = (
            (1, 2),
            2,
            20,
            20,
        )
    return c


def variants(experiment: str) -> list[str]:
    """The variant tokens an experiment takes after ":" (by its family, the name's first word)."""
    tokens = {"omniglot": OMNIGLOT_TOKENS, "chembl": CHEMBL_TOKENS, "pose": POSE_TOKENS}.get(
        experiment.split("_")[0], {}
    )
    return [*tokens, "quick"]
