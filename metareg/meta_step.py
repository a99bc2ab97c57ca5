"""The meta-objective: the one vmap over tasks, the meta-loss, and the pure outer step.

`meta_loss` draws any stochastic meta-parameters (MR-MAML-W), adapts every task of a meta-batch
(vmap of the learner's inner loop), scores the query sets (or MetaMix's mixed sets), and adds the
regularizers' outer terms (TRLearner, MR-MAML's KL), all traced into one function; `meta_train_step`
samples the step's episodes from (key, step) (uniformly, or through the objective's adaptive task
sampler), takes the gradient of `meta_loss` and applies the optimizer. Both are pure; `train.py`
jits the step.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from metareg.losses import get_loss
from metareg.regularizers.base import Regularizer, check_composition
from metareg.rng import named_key
from metareg.types import Episode, check_episode

PyTree = Any


@dataclasses.dataclass(frozen=True)
class MetaObjective:
    """A learner and its regularizers: everything static about the outer loss (hashable)."""

    learner: Any
    regularizers: tuple = ()
    # How the tasks of a meta-batch are executed: 0 = one vmap over all T tasks; c > 0 = `lax.map`
    # over groups of c tasks, each group vmapped (smaller working set per pass; same numbers up to
    # rounding); -1 = a Python loop over tasks unrolled into the graph (longest compile).
    task_chunk: int = 0
    # How the meta-batch is chosen: None = uniformly by the family (the default); an AdaptiveSampler
    # (metareg.samplers) = meta_batch_size of its num_candidates uniform draws, by their task
    # scores.
    sampler: Any = None

    def __post_init__(self):
        strangers = [r for r in self.regularizers if not isinstance(r, Regularizer)]
        if strangers:
            raise TypeError(
                f"{type(strangers[0]).__name__} is not a metareg.regularizers.Regularizer: "
                "subclass it and override the hooks it needs (metareg/regularizers/base.py lists "
                "them)"
            )
        mixers = [r.name for r in self.regularizers if r.replaces_query_loss]
        if len(mixers) > 1:
            raise ValueError(f"at most one regularizer may replace the query loss, got {mixers}")
        names = [r.name for r in self.regularizers]
        if len(set(names)) != len(names):
            raise ValueError(f"a regularizer is listed twice: {names}")
        check_composition(self.regularizers)
        # Regularizers that change the forward pass (Dropout-Bins, MetaCRL) wrap the learner once,
        # for training and meta-test alike; idempotent, so dataclasses.replace keeps one wrapping.
        learner = self.learner
        for r in self.regularizers:
            learner = r.wrap_learner(learner)
        object.__setattr__(self, "learner", learner)

    @property
    def query_mixer(self):
        return next((r for r in self.regularizers if r.replaces_query_loss), None)

    def init(self, key: jax.Array, example: Episode) -> PyTree:
        """Meta-parameters {"model", "learner", "regularizers"} from one single-task example."""
        model_params = _init_model(self.learner.model, named_key(key, "model"), example.support_x)
        reg_params = {}
        for r in self.regularizers:
            params = r.init(named_key(key, r.name), self.learner, model_params, example)
            if params is not None:
                reg_params[r.name] = params
        return {
            "model": model_params,
            "learner": self.learner.init_learner_params(named_key(key, "learner"), model_params),
            "regularizers": reg_params,
        }


# The model's initializers as one compiled program: run eagerly, each initializer op compiles on its
# own (about 100 small compilations for the pose network, 7 s on CPU; 3 s jitted). Its values are
# the eager ones, bit for bit (tested); the regularizers' few init ops stay eager, where XLA would
# fuse their `1 + noise * normal` differently.
_init_model = jax.jit(lambda model, key, x: model.init(key, x), static_argnums=0)


def meta_loss(
    meta_params: PyTree,
    episodes: Episode,
    key: jax.Array,
    objective: MetaObjective,
    step: jax.Array | None = None,
) -> tuple[jax.Array, dict]:
    """Outer loss of a meta-batch: mean_i [L(D_i^q, f_i) (or MetaMix's loss)] + sum_r w_r * R_r.

    episodes: batched Episode with leading task axis T. key: randomness of the regularizers. step:
    the outer step, for schedules (Channel Shuffle starts late; None = past every start).
    Returns (loss, metrics), metrics being scalars (for logging).
    """
    learner = objective.learner
    for r in objective.regularizers:
        episodes = r.transform_episodes(episodes, named_key(key, f"{r.name}/episodes"))
    # Stochastic meta-parameters (MR-MAML-W): one reparameterized draw per outer step, shared by
    # every task. The tasks adapt from the draw, and so do the penalties that read theta
    # (TRLearner's task representations); a sampling regularizer's own penalty (the KL) gets the
    # unsampled ones.
    mean_params = meta_params
    for r in objective.regularizers:
        meta_params = r.sample_meta_params(meta_params, named_key(key, f"{r.name}/weights"))
    loss_fn, _ = get_loss(learner.loss_name)
    mixer = objective.query_mixer
    task_keys = jax.random.split(named_key(key, "per_task"), episodes.num_tasks)
    shuffle_on = (
        None if mixer is None else mixer.shuffle_on(named_key(key, "channel_shuffle"), step)
    )

    def per_task(episode: Episode, task_key: jax.Array):
        # the query mixer draws from the task key itself (as it always has); the others from
        # their named sub-keys (Dropout-Bins' per-task dropout masks)
        inner = learner
        for r in objective.regularizers:
            if r is mixer:
                inner = r.inner_learner(inner, episode, task_key, shuffle_on)
            else:
                inner = r.inner_learner(inner, episode, named_key(task_key, r.name), None)
        phi = inner.adapt(
            meta_params, episode.support_x, episode.support_y, mask=episode.support_mask
        )
        query = loss_fn(
            learner.predict(phi, episode.query_x, episode.query_mask),
            episode.query_y,
            episode.query_mask,
        )
        outer = (
            query
            if mixer is None
            else mixer.query_loss(learner, phi, episode, task_key, shuffle_on)
        )
        return phi, query, outer

    phi, query_losses, outer_losses = map_tasks(per_task, episodes, task_keys, objective.task_chunk)
    total = jnp.mean(outer_losses)
    metrics = {"query_loss": jnp.mean(query_losses)}
    if mixer is not None:
        metrics[f"{mixer.name}_loss"] = jnp.mean(outer_losses)
    for r in objective.regularizers:
        # shapes are static: a bad meta-batch fails at trace time
        r.check_meta_batch(episodes.num_tasks)
        params = mean_params if r.samples_meta_params else meta_params
        out = r.penalty(params, learner, episodes, phi, key=named_key(key, f"{r.name}/penalty"))
        if out is not None:
            total = total + r.weight * out[0]
            metrics[f"{r.name}_loss"] = out[0]
    metrics["loss"] = total
    return total, metrics


# Models with at least this many meta-parameters run their tasks as a loop on CPU (task_chunk =
# None): measured on 2 cores, the loop's steps are faster than one vmap's for Conv4, ChEMBL's MLP
# and the pose network, slower for the sinusoid MLP (1.7k parameters); it costs 2-4x the compile
# time, once per run (benchmarks/results/task_execution_cpu.json).
LOOP_MIN_PARAMS_CPU = 10_000


def auto_task_chunk(
    objective: MetaObjective, example: Episode, backend: str, task_devices: int = 1
) -> int:
    """The task execution `task_chunk = None` stands for.

    An unrolled loop (-1) on CPU for models of at least LOOP_MIN_PARAMS_CPU meta-parameters; one
    vmap (0) otherwise, on accelerators (batched kernels; a loop would serialize small ones) and
    whenever the tasks are split over a device mesh."""
    if backend != "cpu" or task_devices != 1:
        return 0
    # abstract: nothing is computed. The model's and the learner's meta-parameters (MetaSGD's step
    # sizes) size a task's work; a regularizer's own (MetaCRL's factor layer: 6.8k on the sinusoid
    # MLP, which would tip MetaSGD and T-Net into a 10x slower-to-compile loop) do not count.
    shapes = jax.eval_shape(objective.init, jax.random.key(0), example)
    num_params = sum(
        math.prod(x.shape) for x in jax.tree.leaves((shapes["model"], shapes["learner"]))
    )
    return -1 if num_params >= LOOP_MIN_PARAMS_CPU else 0


def map_tasks(fn, episodes: Episode, task_keys: jax.Array, task_chunk: int = 0):
    """fn(episode, key) over the leading task axis: vmap (0), lax.map over vmapped groups of c
    tasks (c), or an unrolled loop (-1); the outputs are stacked along a new leading task axis
    either way."""
    num_tasks = episodes.num_tasks
    if task_chunk == 0 or task_chunk >= num_tasks:
        return jax.vmap(fn)(episodes, task_keys)
    if task_chunk > 0:
        return jax.lax.map(lambda a: fn(*a), (episodes, task_keys), batch_size=task_chunk)
    outs = [fn(jax.tree.map(lambda x, i=i: x[i], episodes), task_keys[i]) for i in range(num_tasks)]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *outs)


@flax.struct.dataclass
class TrainState:
    """Everything a run needs to continue: step counter, meta-parameters, optimizer state."""

    step: jax.Array
    meta_params: PyTree
    opt_state: PyTree


def init_train_state(
    key: jax.Array,
    objective: MetaObjective,
    optimizer: optax.GradientTransformation,
    example: Episode,
) -> TrainState:
    """Step 0: the objective's meta-parameters (model and regularizers) initialized from `key` on an
    example episode's shapes, and the optimizer's state for them. The example is checked against
    the learner's loss first (`types.check_episode`: a flat [K] regression target would broadcast
    into a wrong loss), with the fix named."""
    loss_name = getattr(objective.learner, "loss_name", None)
    try:
        check_episode(example, loss_name, None)
    except ValueError as e:
        raise ValueError(
            f"{e}; or, if the family's tasks need another loss than {loss_name!r}, build "
            f"{type(objective.learner).__name__} with loss_name=family.loss_name"
        ) from None
    meta_params = objective.init(key, example)
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        meta_params=meta_params,
        opt_state=optimizer.init(meta_params),
    )


def check_losses(learner, family) -> None:
    """ValueError (at trace time) when the learner trains with another loss than the family's
    tasks need, e.g. MAML's default "mse" on Omniglot: the CLI takes the loss from the family, the
    API cannot."""
    wanted, got = getattr(family, "loss_name", None), getattr(learner, "loss_name", None)
    if wanted is not None and got is not None and wanted != got:
        raise ValueError(
            f"{type(learner).__name__} trains with loss {got!r} but {type(family).__name__}'s "
            f"tasks need {wanted!r}: build the learner with loss_name=family.loss_name"
        )


def meta_train_step(
    state: TrainState,
    family: Any,
    train_key: jax.Array,
    objective: MetaObjective,
    optimizer: optax.GradientTransformation,
    meta_batch_size: int,
    task_sharding: jax.sharding.Sharding | None = None,
) -> tuple[TrainState, dict]:
    """One outer step.

    The episodes and regularizer draws of step s derive from fold_in(train_key, s), so a resumed
    run repeats the draws of an uninterrupted one. With `objective.sampler` set, the step draws the
    sampler's candidates from the same "tasks" key and chooses among them with the key "sampler";
    its diagnostics (sampler/...) join the metrics.

    task_sharding: where to place the episodes' task axis (e.g. NamedSharding(mesh, P("tasks")));
    the compiler then runs each device's tasks locally and inserts the collectives that terms
    coupling all tasks (TRLearner's relation matrix and consistency loss, the mean) need, so they
    stay exact. None: wherever the inputs are (one device).
    """
    check_losses(objective.learner, family)
    step_key = jax.random.fold_in(train_key, state.step)
    sampler, sampler_metrics = objective.sampler, {}
    if sampler is None:  # uniform: the family's own draw of the meta-batch
        episodes = family.sample_train(named_key(step_key, "tasks"), meta_batch_size)
    else:  # adaptive: score num_candidates uniform draws at theta, keep meta_batch_size of them
        candidates = family.sample_train(
            named_key(step_key, "tasks"), sampler.candidates_for(meta_batch_size)
        )
        episodes, sampler_metrics = sampler.select(
            state.meta_params,
            objective.learner,
            candidates,
            named_key(step_key, "sampler"),
            meta_batch_size,
        )
    if task_sharding is not None:
        episodes = jax.lax.with_sharding_constraint(episodes, task_sharding)
    grad_fn = jax.value_and_grad(meta_loss, has_aux=True)
    (_, metrics), grads = grad_fn(
        state.meta_params, episodes, named_key(step_key, "regularizers"), objective, state.step
    )
    updates, opt_state = optimizer.update(grads, state.opt_state, state.meta_params)
    meta_params = optax.apply_updates(state.meta_params, updates)
    metrics["grad_norm"] = optax.tree.norm(grads)
    metrics.update(sampler_metrics)
    return state.replace(step=state.step + 1, meta_params=meta_params, opt_state=opt_state), metrics
