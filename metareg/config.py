"""The config schema (every field, with why) and the rules that need the config alone.

Experiments in experiments/ derive from `default_config()` and change only what differs;
the returned config is locked, so a typo in an experiment file or a `--config.x=...` override
is an error, not a silently ignored field. `check_schema` rejects values and combinations of
sections that cannot work, with a message that says what to change. A section's own rules (a task
family's, a model's, a regularizer's) live with its registry; `metareg.assemble.validate_config`
runs them all, building each cheap object once (`metareg config NAME` prints the fields).
"""

from __future__ import annotations

import ml_collections
from ml_collections import config_dict

OPTIMIZERS = ("adam", "sgd", "adam_fresh")


class ConfigError(ValueError):
    """A config that cannot run; the message names the field and the fix."""


def default_config() -> ml_collections.ConfigDict:
    """Defaults of the TRLearner paper's sinusoid setup (Table 1) and methods.md."""
    c = ml_collections.ConfigDict()
    c.experiment = "unnamed"  # set by each experiment file; written to results.json
    c.seed = 0  # every random draw derives from it through named keys (metareg.rng)

    c.task = ml_collections.ConfigDict()
    c.task.name = "sinusoid"  # one of metareg.tasks.TASK_FAMILIES
    c.task.num_shots = 5  # K support points per task (Table 1: 5 or 10)
    c.task.num_queries = 10  # Q query points per task (methods.md)
    # support points of a meta-test task where a family tests with another K than it trains
    # (None: the family's default; sinusoid_mr_maml: 5, MR-MAML's sinusoid notebook)
    c.task.test_shots = config_dict.placeholder(int)
    c.task.pool_size = 480  # fixed pool of meta-training tasks (Table 1); 0 = fresh tasks each step
    # None: fresh x per episode; n: n fixed points per pool task
    c.task.points_per_task = config_dict.placeholder(int)
    # None: the family's default (0.3 sinusoid, 0.1 harmonic)
    c.task.noise_std = config_dict.placeholder(float)
    # None: the family's default ((-5, 5) sinusoid, (-4, 4) harmonic)
    c.task.x_range = config_dict.placeholder(tuple)
    # Classification (omniglot): N ways; num_shots / num_queries are then per class
    c.task.ways = 20  # N (MetaMix / MR-MAML / TRLearner Omniglot tables: 20-way)
    # "non_mutually_exclusive" (fixed label slots, the papers' tables)
    # | "mutually_exclusive" (a task's characters from across all alphabets, random labels)
    # | "within_alphabet" (Lake's one-shot protocol: one alphabet per task)
    c.task.setting = "non_mutually_exclusive"
    c.task.test_setting = config_dict.placeholder(str)  # None: same as task.setting
    # omniglot: "vinyals" (1200 train characters + rotations) | "vinyals_sorted" | "lake"
    c.task.split = "vinyals"
    c.task.rotations = config_dict.placeholder(bool)  # None: the split's standard (on for vinyals)
    # Drug activity (chembl): one assay = one task; num_shots / num_queries cap the padded
    # support / query sets.
    # Evaluation group: 0 = the data's own split, 1..3 = seeded re-partitions (100 test assays)
    c.task.group = 0
    # "given2048" (the data's Morgan bits) | "morgan1024" (RDKit from SMILES, pip install rdkit)
    c.task.fingerprint = "given2048"
    c.task.fingerprint_counts = False  # Morgan counts instead of 0/1 bits
    # support = floor(f * n) of an assay's n compounds (pQSAR's 75/25)
    c.task.support_fraction = 0.75
    c.task.min_query = 3  # at least this many query compounds (R^2 of 2 points is always 1)
    # Pose (pose): rendered Pascal3D objects, one object = one task
    c.task.label_scale = 10.0  # label = azimuth / (2 pi) * label_scale (the papers' training code)
    c.task.image_size = 128  # rendered image side (the papers: 128; 64 / 32 for CPU budgets)

    # Where the real data lives (never downloaded): the folder holding omniglot/, chembl_fewshot/,
    # pascal3d_cad/
    c.data = ml_collections.ConfigDict()
    c.data.dir = config_dict.placeholder(str)  # None: ../shared/data relative to the project root
    # None: ~/.cache/metareg/tensorflow_datasets (TFDS prepared copies)
    c.data.prepared_dir = config_dict.placeholder(str)

    c.model = ml_collections.ConfigDict()
    c.model.name = "mlp"  # the network: "mlp" (vectors), "conv4" (images), "pose_net" (pose)
    c.model.hidden = (40, 40)  # MLP 1-40-40-1 (Finn et al. 2017)
    c.model.width = 64  # conv4: filters per conv block (Finn et al. 2017; Vinyals et al. 2016)
    # conv4: "im2col" (fast under vmap on CPU) | "lax" (cuDNN on GPU)
    # | "auto": im2col on CPU, lax elsewhere
    c.model.conv_impl = "auto"
    # conv4: "transductive" (batch statistics at train and test, as every reference) | "layer"
    # | "none"
    c.model.norm = "transductive"
    # conv4: "stride" (stride-2 convs: MAML/learn2learn Omniglot, 1.1 s a 20-way step on 2 CPU
    # cores) | "max" (2x2 max-pool: ProtoNet, 6.8 s, FLOP-bound) | "none" (MetaMix code)
    c.model.pool = "stride"
    # conv4 features before the head: "mean" over space [B, width] (MAML, MetaMix)
    # | "flatten" [B, 4*width] (ProtoNet, with pool "max")
    c.model.readout = "mean"
    # conv4 initialization: "glorot" (Glorot-uniform kernels, zero biases, a LeCun-normal head)
    # | "pytorch" (PyTorch's Conv2d / Linear defaults, U(+-1/sqrt(fan_in)): the MetaMix reference's)
    c.model.conv_init = "glorot"
    # mlp hidden blocks: "none" (sinusoid MLP) | "transductive" (BatchNorm, the drug MLP) | "layer"
    c.model.mlp_norm = "none"
    c.model.mlp_activation = "relu"  # mlp: "relu" | "leaky_relu" (slope 0.01, the drug MLP)
    # mlp initializers (metareg.models.mlp.INITS), one for every block or one per block:
    # () = "lecun_normal" (nn.Dense) | "glorot_uniform" (Keras Dense) | "normal_0.1" (tfp layers)
    c.model.mlp_init = ()
    # mlp hidden blocks without activation (MR-MAML-W's linear encoder output w)
    c.model.mlp_linear_blocks = ()

    c.learner = ml_collections.ConfigDict()
    # "maml" (second order), "fomaml", "anil" (head-only inner loop), "metasgd", "tnet"
    c.learner.name = "maml"
    c.learner.inner_lr = 0.01  # MAML sinusoid inner step size
    c.learner.inner_steps = 1  # the paper's "one meta-layer"
    # leading model blocks kept at theta in the inner loop (pose: the encoder); ANIL: all but head
    c.learner.frozen_blocks = 0

    # any of ("meta_aug", "metamix", "mr_maml", "trlearner", "dropout_bins", "metacrl"), composed
    # (metamix not with dropout_bins / metacrl, which change the forward pass)
    c.regularizers = ()
    c.trlearner = ml_collections.ConfigDict()
    c.trlearner.weight = 0.6  # lambda, paper's best (Fig. 5: stable over [0.3, 0.8])
    c.trlearner.num_heads = 4  # H heads of Eq. 4; the paper does not say, our choice
    c.trlearner.init_noise = 0.01  # perturbation of the all-ones head init (0 = paper's exact init)
    c.trlearner.relation = "learned"  # "learned" | "fixed" (M-hat ablation) | "ones" (M-tilde)
    c.trlearner.weighting = "relu"  # "relu" (max(m, 0), row-normalized) | "softmax"
    c.trlearner.temperature = 1.0  # softmax weighting only
    c.trlearner.representation = "label_aware"  # "label_aware" | "head_gradient"
    c.trlearner.stop_gradient = True  # no gradient through z inside the relation
    # None: exact Eq. 5; k: top-k related tasks only
    c.trlearner.num_related = config_dict.placeholder(int)
    # exact Eq. 5 this many tasks' query sets at a time, rematerialized under the gradient (bounded
    # memory, same loss and meta-gradient); None = from the shapes, 0 = all at once
    c.trlearner.query_chunk = config_dict.placeholder(int)
    # The support examples z_i is computed from (Section 4.1's meta-data):
    # "sampler" (follow sampler.name: the adaptive sampler's choice when it is on, so
    #   sampler.name=adaptive alone runs the full Algorithm 1)
    # | "support" (all)
    # | "adaptive" (ceil(meta_data_fraction * n_j) per class j by the sampler's per-example scores;
    #   docs/design.md)
    c.trlearner.meta_data = "sampler"
    c.trlearner.meta_data_fraction = 0.5  # "adaptive": the share of each class's support drawn
    c.metamix = ml_collections.ConfigDict()
    c.metamix.alpha = 0.5  # Beta(alpha, alpha); 0.5 for regression (MetaMix reference code)
    # candidate mix layers: 0 = input, k = after block k (never the last). Hidden layers only for
    # the MLP: mixing inputs of a nonlinear target gives inconsistent labels; MetaMix Table 11 finds
    # C = (1, 2) best
    c.metamix.layers = (1, 2)
    # which sets are mixed (MetaMix Tables 3, 7, 13, 16): "support_query" (MetaMix)
    # | "query_query" | "support_support" | "concat" (the outer loss on support and query together,
    # no mixing)
    c.metamix.strategy = "support_query"
    # Channel Shuffle ("MetaMix + CS", classification): from cs_start_step on, in a cs_prob fraction
    # of the outer steps, one of six channel groups swapped between classes at a layer of cs_layers
    # (reference code)
    c.metamix.channel_shuffle = False
    c.metamix.cs_layers = (1, 2, 3)  # conv blocks whose outputs a shuffle may swap (reference)
    c.metamix.cs_start_step = 2000  # no shuffle before this outer step (reference)
    c.metamix.cs_prob = 0.5  # share of outer steps with a shuffle from cs_start_step (reference)

    c.meta_aug = ml_collections.ConfigDict()
    c.meta_aug.offset = 1.0  # per-task target offset ~ U(-offset, offset) (Rajendran et al. 2020)

    # MR-MAML-W (Yin et al. 2020): stochastic kernels;
    # outer loss += beta * KL(q || N(0, prior_std^2))
    c.mr_maml = ml_collections.ConfigDict()
    # KL weight, chosen on validation tasks per family (docs/results/mr_maml_beta.json): 1e-5 on
    # the non-mutually-exclusive sinusoid; the experiments' presets set Omniglot's (1e-3) and
    # sinusoid_w1's (1e-6); the reference notebook's 5e-5 with rho -50 acts as weight decay only
    c.mr_maml.beta = 1e-5
    # rho init mean, sigma = softplus(rho) + min_scale: -5 (sigma 0.0067) lets the KL move sigma;
    # the reference's -50 (sinusoid) / -20 (pose) pin sigma at float32 eps (docs/design.md)
    c.mr_maml.scale_init = -5.0
    c.mr_maml.scale_init_std = 0.1  # rho init std (the reference's tfp random_normal initializer)
    # float32 eps added to sigma, as tfp's default_loc_scale_fn does
    c.mr_maml.min_scale = 1.1920929e-07
    c.mr_maml.prior_std = 1.0  # N(0, 1) prior per weight (tfp's default kernel prior)
    # None: every block but the head (reference: non-adapted encoder)
    c.mr_maml.blocks = config_dict.placeholder(tuple)
    # "sample": one draw per test task (tfp layers always draw) | "mean"
    c.mr_maml.test_weights = "sample"

    # Dropout-Bins (Jiang et al. 2022): front-door deconfounding, the prediction averaged over
    # versions of the meta-knowledge (unit masks on the hidden blocks' outputs); docs/design.md
    c.dropout_bins = ml_collections.ConfigDict()
    # "dropout" (MAML-Dropout: TRLearner's "Dropout-Bins" row) | "bins" (MAML-Bins)
    c.dropout_bins.mode = "dropout"
    c.dropout_bins.p = 0.1  # dropout probability of a unit (ours; the paper's value unread)
    c.dropout_bins.num_versions = 2  # dropout versions per task (ours)
    c.dropout_bins.num_bins = 2  # "bins": unit u in bin u mod num_bins, one version per bin (ours)
    # masked block outputs; None: every hidden block with more than one unit
    c.dropout_bins.layers = config_dict.placeholder(tuple)

    # MetaCRL (Wang et al. 2024): factor matrix Xi and selector f_gr between features and head;
    # outer loss += lambda_1 orthogonality + lambda_2 selection + lambda_3 invariance (IRMv1)
    c.metacrl = ml_collections.ConfigDict()
    c.metacrl.lambda_1 = 1e-3  # orthogonality of Xi's columns (code's lambda_1, no value: ours)
    c.metacrl.lambda_2 = 1e-3  # |s|_1 - H(s) of the task gates (code's lambda_2, no value: ours)
    c.metacrl.lambda_3 = 1e-2  # IRMv1 invariance over the meta-batch's tasks (ours)
    c.metacrl.hidden = 64  # f_gr's hidden width (code's hidden_dim, no value: ours)
    c.metacrl.xi_init = "kaiming_uniform"  # (the code's) | "identity" (ours)
    c.metacrl.eps = 1e-10  # inside the entropy's log (the code's)

    # How each outer step chooses its meta-batch (docs/design.md, "Adaptive task sampler"):
    # "uniform" (the family's draw)
    # | "adaptive" (TRLearner's Algorithm 1: the adaptive sampler of Wang et al. 2024, scores from
    #   its authors' code sketch; the combination into probabilities is ours)
    c.sampler = ml_collections.ConfigDict()
    c.sampler.name = "uniform"  # "uniform" (the papers' MAML) | "adaptive" (TRLearner's sampler)
    # candidate tasks drawn per step, >= meta_batch_size; 0 = 2 x meta_batch_size
    c.sampler.num_candidates = 0
    # weights of the standardized (diversity, entropy, difficulty) scores
    c.sampler.weights = (1.0, 1.0, 1.0)
    c.sampler.temperature = 1.0  # softmax temperature over the candidates (lower: greedier)
    c.sampler.sigma = 0.1  # distortion of the diversity's coding rate (the authors' sketch: 0.1)
    c.sampler.eps = 0.1  # distortion of the entropy's class coding rates (the authors' sketch: 0.1)

    c.optimizer = ml_collections.ConfigDict()
    # "adam" | "sgd" | "adam_fresh" (a new Keras Adam every step, as MR-MAML's sinusoid notebook
    # trains MR-MAML-W: no moment state, each coordinate moves lr * g / (|g| + 3.16e-6))
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3  # MAML sinusoid outer step size
    # > 0: clip the meta-gradient to this global norm before the optimizer (0: off)
    c.optimizer.clip_norm = 0.0
    c.meta_batch_size = 25  # tasks per outer step (MAML sinusoid)
    # How one device runs the meta-batch's tasks (same numbers up to rounding):
    # 0 = one vmap over all tasks; -1 = an unrolled loop (longer compile);
    # c > 0 = lax.map over vmapped groups of c tasks (less memory);
    # None = picked per backend and model size (meta_step.auto_task_chunk; docs/scaling.md).
    # With a device mesh: 0.
    c.task_chunk = config_dict.placeholder(int)
    c.num_steps = 20_000  # outer steps (methods.md's measured MAML runs use 20k)

    c.mesh = ml_collections.ConfigDict()
    # devices the meta-batch's task axis is split over (0 = all); parameters replicated
    c.mesh.task_devices = 1

    # Multi-host: jax.distributed.initialize before anything else. With the three fields unset JAX
    # reads them from the cluster environment (SLURM, TPU pods, ...).
    c.distributed = ml_collections.ConfigDict()
    c.distributed.enabled = False  # jax.distributed over several hosts (docs/scaling.md)
    c.distributed.coordinator_address = config_dict.placeholder(str)  # "host:port" of process 0
    c.distributed.num_processes = config_dict.placeholder(int)  # hosts in all (None: from env)
    c.distributed.process_id = config_dict.placeholder(int)  # this host's rank (None: from env)

    c.log_every = 100  # steps between metric rows (and the non-finite check)
    c.checkpoint_every = 1_000  # must be a multiple of log_every
    c.max_checkpoints = 2  # newest checkpoints kept; an older one is the fallback if one is damaged
    c.progress_bar = True  # shown on a terminal only

    c.eval = ml_collections.ConfigDict()
    c.eval.num_tasks = 600  # fresh meta-test tasks
    c.eval.inner_steps = (1, 10)  # test-time inner steps to report
    # primary metric; regression: mse_clean (vs noiseless f) | mse_noisy | r2;
    # classification: accuracy | nll
    c.eval.metric = "mse_clean"
    # Headline number: the training setting (1 step). With 10 steps, adaptation from some learned
    # initializations diverges on a few of 600 tasks (an infinite mean); it is reported beside.
    c.eval.primary_inner_steps = 1
    c.eval.batch_size = 100  # test tasks per jitted chunk
    # Learning curves: every `every` steps (0 = off; a multiple of log_every) score two fixed task
    # sets, `curve_tasks` meta-test tasks and as many meta-training tasks, before adaptation
    # (0 inner steps: the memorization measure) and after the training's and the primary test step
    # counts; the rows go to metrics.jsonl and TensorBoard under curve/test/... and curve/train/...
    # The trajectory is unchanged.
    c.eval.every = 0
    c.eval.curve_tasks = 100  # fixed test (and as many training) tasks per curve point
    c.lock()
    return c


def with_overrides(config: ml_collections.ConfigDict, overrides: dict) -> ml_collections.ConfigDict:
    """`config` with dotted-key overrides applied in place ({"learner.name": "anil", ...}), as
    `--config.learner.name=anil` would; an unknown field raises ConfigError naming it."""
    for key, value in overrides.items():
        node = config
        *parents, leaf = key.split(".")
        for name in parents:
            node = node[name]
        if leaf not in node:
            raise ConfigError(
                f"unknown config field {key!r}: check the spelling against metareg/config.py"
            )
        node[leaf] = value
    return config


def _fail(msg: str):
    raise ConfigError(msg)


def _choice(value, choices, field):
    if value not in choices:
        _fail(f"unknown {field} {value!r}; choose from {sorted(choices)}")


def check_schema(c: ml_collections.ConfigDict) -> None:
    """The rules that need the config alone: each field's range, and the rules between sections
    (regularizer layers against the model's depth, checkpoints against logging, ...). A section's
    own rules live with its registry and run when the run is assembled
    (`metareg.assemble.validate_config`, the complete check)."""
    _choice(c.optimizer.name, OPTIMIZERS, "optimizer.name")
    if c.optimizer.clip_norm < 0:
        _fail(
            f"optimizer.clip_norm must be >= 0 (0 turns clipping off), got {c.optimizer.clip_norm}"
        )
    if isinstance(c.regularizers, str):
        _fail(
            f"regularizers must be a tuple of names, got the string {c.regularizers!r}; write "
            "e.g. ('trlearner',)"
        )
    if len(set(c.regularizers)) != len(c.regularizers):
        _fail(f"regularizers {tuple(c.regularizers)} lists a name twice; list each once")

    t = c.task
    if t.num_shots < 1 or t.num_queries < 1:
        _fail(f"task.num_shots ({t.num_shots}) and task.num_queries ({t.num_queries}) must be >= 1")
    if t.points_per_task is not None and t.num_shots + t.num_queries > t.points_per_task:
        _fail(
            f"task.num_shots + task.num_queries = {t.num_shots} + {t.num_queries} exceeds "
            f"task.points_per_task = {t.points_per_task}: an episode draws K + Q distinct points "
            "of a task; lower the shots or queries, or raise task.points_per_task"
        )
    if t.pool_size < 0:
        _fail(f"task.pool_size must be >= 0 (0 = no fixed pool), got {t.pool_size}")
    if c.meta_batch_size < 1:
        _fail(f"meta_batch_size must be >= 1, got {c.meta_batch_size}")
    if c.learner.inner_steps < 0:
        _fail(f"learner.inner_steps must be >= 0, got {c.learner.inner_steps}")
    if c.learner.inner_lr < 0:
        _fail(
            "learner.inner_lr must be >= 0 (a negative step climbs the support loss), got "
            f"{c.learner.inner_lr}"
        )
    if c.max_checkpoints < 1:
        _fail(
            "max_checkpoints must be >= 1 (0 would keep no checkpoint to resume from), got "
            f"{c.max_checkpoints}"
        )
    m = c.model
    # conv4: 4 conv blocks + the head; pose_net: encoder + 4 decoder blocks + the head
    num_blocks = {"conv4": 5, "pose_net": 6}.get(c.model.name, len(m.hidden) + 1)
    if c.learner.frozen_blocks >= num_blocks:
        _fail(
            f"learner.frozen_blocks = {c.learner.frozen_blocks} freezes every block of a "
            f"{num_blocks}-block model: the inner loop would adapt nothing; use at most "
            f"{num_blocks - 1}"
        )
    # Each regularizer checks its own section when built (the API gets the same words); here
    # only what needs another section: layers and blocks against the model's depth, Channel
    # Shuffle against the model.
    if "metamix" in c.regularizers:
        bad = [layer for layer in c.metamix.layers if not 0 <= layer < num_blocks]
        if bad or not c.metamix.layers:
            _fail(
                f"metamix.layers {tuple(c.metamix.layers)} must be non-empty and within [0, "
                f"{num_blocks - 1}] for a model of {num_blocks} blocks (0 = input, k = after "
                "block k; never after the head)"
            )
        if c.metamix.channel_shuffle:
            if c.model.name != "conv4" or c.metamix.strategy != "support_query":
                _fail(
                    "metamix.channel_shuffle swaps conv channels between classes: it needs "
                    "model.name = 'conv4' (Omniglot) and metamix.strategy = 'support_query'"
                )
            bad = [layer for layer in c.metamix.cs_layers if not 0 < layer < num_blocks - 1]
            if bad or not c.metamix.cs_layers:
                _fail(
                    f"metamix.cs_layers {tuple(c.metamix.cs_layers)} must be non-empty conv block "
                    f"outputs within [1, {num_blocks - 2}] (the reference: (1, 2, 3))"
                )
    if "mr_maml" in c.regularizers:
        blocks = c.mr_maml.blocks
        if blocks is not None and any(b >= num_blocks for b in blocks):
            _fail(
                f"mr_maml.blocks {tuple(blocks)} must be distinct block indices within [0, "
                f"{num_blocks - 1}] for a model of {num_blocks} blocks, or None (every block but "
                "the head)"
            )
        if blocks is None and num_blocks < 2:
            _fail(
                "mr_maml.blocks = None means every block but the head, and this model has only "
                "the head; set mr_maml.blocks"
            )
    layers = c.dropout_bins.layers
    if "dropout_bins" in c.regularizers and layers is not None:
        if any(not 0 <= b < num_blocks - 1 for b in layers):
            _fail(
                f"dropout_bins.layers {tuple(layers)} must be hidden block outputs within [0, "
                f"{num_blocks - 2}] for a model of {num_blocks} blocks (the head is never masked), "
                "or None (every hidden block)"
            )
    if c.task_chunk is not None and c.task_chunk < -1:
        _fail(
            "task_chunk must be None (auto), 0 (vmap), -1 (unrolled loop) or a group size > 0, "
            f"got {c.task_chunk}"
        )
    if c.task_chunk not in (None, 0) and c.mesh.task_devices != 1:
        _fail(
            "task_chunk applies to one device; with mesh.task_devices != 1 the tasks are split "
            "over devices, set task_chunk = 0"
        )
    if c.mesh.task_devices < 0:
        _fail(f"mesh.task_devices must be >= 0 (0 = all devices), got {c.mesh.task_devices}")
    if c.mesh.task_devices > 1 and c.meta_batch_size % c.mesh.task_devices:
        _fail(
            f"meta_batch_size ({c.meta_batch_size}) must be a multiple of mesh.task_devices "
            f"({c.mesh.task_devices}) so every device gets the same number of tasks"
        )
    if c.num_steps < 0:
        _fail(f"num_steps must be >= 0, got {c.num_steps}")
    if c.log_every < 1 or c.checkpoint_every < 1:
        _fail("log_every and checkpoint_every must be >= 1")
    if c.checkpoint_every % c.log_every:
        _fail(
            f"checkpoint_every ({c.checkpoint_every}) must be a multiple of log_every "
            f"({c.log_every}): a checkpoint is written only after the losses since the last log "
            "were checked finite"
        )
    e = c.eval
    if e.primary_inner_steps not in tuple(e.inner_steps):
        _fail(
            f"eval.primary_inner_steps ({e.primary_inner_steps}) must be one of eval.inner_steps "
            f"{tuple(e.inner_steps)}"
        )
    if e.every < 0 or (e.every and e.every % c.log_every):
        _fail(
            f"eval.every ({e.every}) must be 0 (off) or a multiple of log_every ({c.log_every}): "
            "curve points are written into the metric rows"
        )
    if e.every and e.curve_tasks < 2:
        _fail(f"eval.curve_tasks must be >= 2 for a curve point's mean, got {e.curve_tasks}")
    if e.num_tasks < 2 and not (t.name == "chembl" and e.num_tasks == 0):
        _fail(
            f"eval.num_tasks must be >= 2 for a confidence interval, got {e.num_tasks} (chembl: "
            "0 = every test assay)"
        )
