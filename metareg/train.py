"""The training loop: restore-or-init, step, log, checkpoint, evaluate, results.json.

The run is assembled by `metareg.assemble.build`, its checkpoints are `metareg.checkpoints`', and
the workdir's identity, lock and files `metareg.workdir`'s; this module drives them. Everything it
runs is pure (meta_step, evaluate); the randomness of step s is a function of (seed, s), so a run
killed at any moment and restarted with the same workdir resumes from its last checkpoint and ends
with the same numbers.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from tqdm import tqdm

from metareg.assemble import build, validate_config
from metareg.checkpoints import checkpoint_manager, restore_or_init
from metareg.config import ConfigError
from metareg.evaluate import IndexedEpisodes, evaluate, sample_test_episodes
from metareg.learners import GRADIENT_FREE
from metareg.meta_step import (
    meta_train_step,
)
from metareg.rng import named_key
from metareg.runtime import backend_choices, machine_info
from metareg.sharding import is_primary, replicate, task_mesh, task_sharding
from metareg.workdir import (
    WorkdirError,
    check_resume,
    config_dict,
    exclusive,
    load_run_config,
    record_checkpoint_digest,
    write_atomic,
)


class NonFiniteLossError(FloatingPointError):
    """Raised when a logged loss is NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(Exception):
    """Ctrl-C or SIGTERM: the run stopped after a whole step; the message is the one line a user
    needs (where it stopped, where it resumes). exit_code: 128 + the signal's number."""

    def __init__(self, signum: int, step: int | None, checkpoint: int | None, workdir: Path):
        self.exit_code = 128 + signum
        name = signal.Signals(signum).name
        where = f"at step {step}" if step is not None else "before training"
        resume = (
            f"the last checkpoint is step {checkpoint}"
            if checkpoint is not None
            else "no checkpoint yet, it starts again"
        )
        super().__init__(
            f"interrupted ({name}) {where} in {workdir}; {resume}; run the same command to resume"
        )


class _StopOnSignal:
    """SIGINT / SIGTERM while training set a flag the loop reads after each whole step (so a
    checkpoint is never half-written); outside the loop (compiling, evaluating) they stop at
    once. Installed only in the main thread; the previous handlers come back afterwards."""

    def __init__(self):
        self.signum: int | None = None
        self.in_loop = False
        self._previous = {}

    def _handler(self, signum, frame):
        del frame
        self.signum = signum
        if not self.in_loop:
            raise _Stop(signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


class _Stop(BaseException):
    """A signal outside the training loop (BaseException: no `except Exception` swallows it)."""

    def __init__(self, signum: int):
        self.signum = signum


class MetricWriter:
    """Metrics to metrics.jsonl and TensorBoard event files (tensorboardX, no TensorFlow)."""

    def __init__(self, workdir: Path, resume_step: int):
        self.path = workdir / "metrics.jsonl"
        rows = []
        # On resume, drop rows logged after the checkpoint (those steps run again)
        # and a torn last line.
        if self.path.exists():
            rows = [
                r
                for r in self.path.read_text().splitlines()
                if _parses(r) and json.loads(r)["step"] <= resume_step
            ]
            write_atomic(self.path, "".join(r + "\n" for r in rows))
        from tensorboardX import SummaryWriter

        # TensorBoard's files lose the steps since their last flush on a kill, and never get them
        # back: they are rebuilt whole from metrics.jsonl (the record) on every start.
        tb_dir = workdir / "tensorboard"
        if tb_dir.exists():
            shutil.rmtree(tb_dir)
        self.tb = SummaryWriter(str(tb_dir))
        for row in map(json.loads, rows):
            self._add(row.pop("step"), row)

    def _add(self, step: int, scalars: dict[str, float]):
        for k, v in scalars.items():
            self.tb.add_scalar(k, v, step)

    def write(self, step: int, scalars: dict[str, float]):
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **scalars}) + "\n")
        self._add(step, scalars)

    def close(self):
        self.tb.close()


class _Reporter:
    """Status lines on stderr: compiling, evaluating, and, where no progress bar shows (stdout not a
    terminal: CI, nohup, a log file), a progress line about every `every_s` seconds (step, loss,
    steps/s, ETA)."""

    def __init__(self, primary: bool, progress_bar: bool, every_s: float = 30.0):
        self.on = primary
        self.lines = primary and not (progress_bar and sys.stderr.isatty())
        self.every_s, self.last = every_s, -every_s

    def __call__(self, message: str):
        if self.on:
            tqdm.write(message, file=sys.stderr)

    def progress(self, done: int, start: int, total: int, loss: float, elapsed: float):
        if not self.lines or (elapsed - self.last < self.every_s and done != total):
            return
        self.last = elapsed
        rate = (done - start) / max(elapsed, 1e-9)
        eta = (total - done) / rate if rate else float("inf")
        self(f"step {done}/{total}  loss {loss:.4f}  {rate:.1f} steps/s  ETA {eta:.0f} s")


def _parses(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def _check_finite(rows: list[dict], first_step: int, workdir: Path, last_good: int | None):
    for offset, row in enumerate(rows):
        for name, value in row.items():
            if not math.isfinite(float(value)):
                if last_good:
                    kept = (
                        f"the last good checkpoint (step {last_good}) is kept in "
                        f"{workdir / 'checkpoints'}"
                    )
                else:
                    kept = "no checkpoint had been written yet"
                raise NonFiniteLossError(
                    f"{name} is {float(value)} at step {first_step + offset}; stopping. {kept}. "
                    "Lower optimizer.learning_rate or learner.inner_lr (or set "
                    "optimizer.clip_norm) and train in a new --workdir: this one keeps the run "
                    "as configured."
                )


def _test_samplers(objective) -> tuple:
    # MR-MAML-W with test_weights="sample": each test task adapts from its own draw of the weights.
    return tuple(r for r in objective.regularizers if r.sample_at_test)


def evaluate_meta_params(config, family, objective, root, meta_params) -> tuple[str, dict]:
    """(primary metric name, all metrics) on the seed's fresh test tasks."""
    episodes = sample_test_episodes(family, named_key(root, "test"), config.eval.num_tasks)
    metrics = evaluate(
        meta_params,
        objective.learner,
        episodes,
        tuple(config.eval.inner_steps),
        config.eval.batch_size,
        samplers=_test_samplers(objective),
        key=named_key(root, "test_weights"),
    )
    return f"{config.eval.metric}@{config.eval.primary_inner_steps}", metrics


class CurveEvaluator:
    """In-training evaluation (config.eval.every): the learning curve and the memorization measure.

    Two task sets are drawn once from their own named keys: `curve_tasks` meta-test tasks and as
    many meta-training tasks (drawn like training batches, so from the training pool or slots). Both
    are scored before adaptation (0 inner steps: a model that memorized its training tasks solves
    them without the support set) and after the training's and the primary test step counts. Pure
    reads of the meta-parameters: the training trajectory is the same with or without it.
    """

    def __init__(self, config, family, objective, root):
        e, learner = config.eval, objective.learner
        self.steps = (
            (0,)
            if config.learner.name in GRADIENT_FREE
            else tuple(sorted({0, config.learner.inner_steps, e.primary_inner_steps}))
        )
        self.batch_size, self.objective, self.key = (
            e.batch_size,
            objective,
            named_key(root, "curve_weights"),
        )
        self.test = sample_test_episodes(family, named_key(root, "curve_test"), e.curve_tasks)
        # Training tasks in meta-batch-sized draws: every family can draw a
        # meta-batch from its pool.
        b, train_key = config.meta_batch_size, named_key(root, "curve_train")
        batches = [
            family.sample_train(jax.random.fold_in(train_key, i), b)
            for i in range(-(-e.curve_tasks // b))
        ]
        train = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a)[: e.curve_tasks], *batches)
        self.train = IndexedEpisodes.from_batch(train)
        self.learner = learner

    def __call__(self, meta_params) -> dict[str, float]:
        scalars = {}
        for split, episodes in (("test", self.test), ("train", self.train)):
            metrics = evaluate(
                meta_params,
                self.learner,
                episodes,
                self.steps,
                self.batch_size,
                samplers=_test_samplers(self.objective),
                key=self.key,
            )
            scalars.update({f"curve/{split}/{name}": m["mean"] for name, m in metrics.items()})
        return scalars


def reevaluate(
    config: ml_collections.ConfigDict, workdir: str | Path, name: str | None = None
) -> dict:
    """Evaluate a run's latest checkpoint again (e.g. other eval.inner_steps), without training.

    The run's identity comes first: `config` must agree with the workdir's config.json in every
    field that names the run (the same check, and the same message, as a resumed training; only
    `workdir.RESUMABLE` fields such as eval.* may differ). The evaluation goes to its own file,
    WORKDIR/eval/NAME.json (NAME: `name`, else the checkpoint's step and the time), with the
    evaluation's settings; results.json, the training's result, is never replaced. The one
    exception: a run whose results.json is missing (killed during its final evaluation) gets it
    back when this evaluation is the training's own (same eval settings, the final checkpoint).
    """
    checked = validate_config(config)
    workdir = Path(workdir)
    probe = checkpoint_manager(workdir, config)
    latest_on_disk = probe.latest_step()
    probe.close()
    if latest_on_disk is None:
        raise FileNotFoundError(f"no checkpoint in {workdir / 'checkpoints'}: train the run first")
    saved = _saved_config(workdir, latest_on_disk)
    changes = [] if saved is None else check_resume(workdir, saved, config_dict(config), None)
    family, objective, optimizer, root = build(config, checked)
    _, state, latest = restore_or_init(
        lambda: checkpoint_manager(workdir, config), family, objective, optimizer, root
    )
    if latest is None:
        raise FileNotFoundError(f"no checkpoint in {workdir / 'checkpoints'}: train the run first")
    primary, metrics = evaluate_meta_params(config, family, objective, root, state.meta_params)
    evaluation = {
        "experiment": config.experiment,
        "seed": config.seed,
        "metric": primary,
        "mean": metrics[primary]["mean"],
        "ci95": metrics[primary]["ci95"],
        "num_tasks": metrics[primary]["num_tasks"],
        "metrics": metrics,
        "evaluated_step": int(latest),
        "eval": config.eval.to_dict(),
        "config_changes": changes,  # vs config.json: what this evaluation changed (eval.*)
    }
    results_path = workdir / "results.json"
    own = saved is not None and saved.get("eval") == config_dict(config)["eval"]
    if own and not results_path.exists() and int(latest) == saved.get("num_steps"):
        evaluation["steps"] = int(latest)
        write_atomic(results_path, json.dumps(evaluation, indent=2) + "\n")
        return {**evaluation, "written_to": str(results_path)}
    if name is not None and (not name or "/" in name or name.startswith(".")):
        raise ConfigError(f"--eval_name {name!r} must be a plain file name, e.g. steps16")
    name = name or f"step{int(latest)}_{time.strftime('%Y%m%d-%H%M%S')}"
    path = workdir / "eval" / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    write_atomic(path, json.dumps(evaluation, indent=2) + "\n")
    return {**evaluation, "written_to": str(path)}


def _run_record(workdir: Path) -> dict | None:
    """run.json: the experiment and overrides the command line started this run with (None for a
    run started from the API)."""
    path = workdir / "run.json"
    return json.loads(path.read_text()) if path.exists() and _parses(path.read_text()) else None


def _saved_config(workdir: Path, latest: int | None) -> dict | None:
    """The workdir's saved config as plain values, with this version's defaults for fields it
    predates."""
    if (workdir / "config.json").exists():
        try:
            return config_dict(load_run_config(workdir))
        except json.JSONDecodeError as e:
            raise WorkdirError(
                f"{workdir / 'config.json'} is not valid JSON ({e}), so whose checkpoints these "
                "are cannot be checked: restore the file (it is the run's config), or use a new "
                "--workdir"
            ) from None
    if latest is not None:
        raise WorkdirError(
            f"{workdir} has checkpoints but no config.json, so whose they are cannot be checked: "
            "use a new --workdir"
        )
    return None


def _read_progress(workdir: Path, latest: int | None) -> dict:
    """Times and resumes accumulated up to the restored checkpoint (progress.json, written with
    each checkpoint)."""
    path = workdir / "progress.json"
    if latest is None or not path.exists():
        return {"train_time_s": 0.0, "curve_time_s": 0.0, "num_resumes": 0}
    try:
        progress = json.loads(path.read_text())
    except json.JSONDecodeError:
        # written atomically, so only an outside hand breaks it; it holds only timings
        print(
            f"warning: {path} is not valid JSON; the earlier processes' times are left out of "
            "results.json",
            file=sys.stderr,
        )
        return {"train_time_s": 0.0, "curve_time_s": 0.0, "num_resumes": 1}
    return {**progress, "num_resumes": progress.get("num_resumes", 0) + 1}


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str | Path, spec: dict | None = None
) -> dict:
    """Train (or resume) the run in `workdir`, evaluate it, write results.json, return the results.

    The workdir is locked for the run (metareg.workdir): a second process is refused, a resumed run
    must have the saved config up to `workdir.RESUMABLE` fields, and config.json is (re)written only
    once the build and the restore have succeeded, so a failed attempt leaves the workdir as it was.
    Ctrl-C / SIGTERM stop after the current step (`TrainingInterrupted`); the same call resumes.
    `spec`: what the command line ran (its experiment and overrides, `main.run_spec`), kept in
    run.json from the run's first start and copied into results.json.
    """
    checked = validate_config(config)  # before the workdir is touched
    workdir = Path(workdir)
    with _StopOnSignal() as stop:
        try:
            # only process 0 writes files and holds the lock; every process runs the same steps
            if not is_primary():
                return _train_and_evaluate(config, checked, workdir, False, stop, spec)
            with exclusive(workdir):
                return _train_and_evaluate(config, checked, workdir, True, stop, spec)
        except _Stop as e:
            raise TrainingInterrupted(e.signum, None, None, workdir) from None


class _Trained(NamedTuple):
    """What a training session hands to the evaluation and to results.json."""

    state: Any
    family: Any  # replicated over the mesh when the task axis is split
    t0: float  # before compilation: results.json's wall time counts from it
    compile_time: float
    train_time: float  # without the curve points
    curve_time: float
    num_traces: int


def _train(config, workdir, built, manager, state, latest, progress, say, stop) -> _Trained:
    """Compile the outer step and run it from the restored step to num_steps: log, curve points,
    checkpoints (each after its losses were checked finite) and progress.json beside them. `built`
    is `build(config)`; only the primary process (`say.on`) writes files."""
    family, objective, optimizer, root = built
    primary_process = say.on
    start = int(state.step)
    sharding = None
    if config.mesh.task_devices != 1:  # split the task axis over devices, replicate the rest
        mesh = task_mesh(config.mesh.task_devices)
        state, family = replicate(state, mesh), replicate(family, mesh)
        sharding = task_sharding(mesh)

    traces = {"count": 0}

    def counted_step(*args, **kwargs):  # counts traces: the step must trace once per run
        traces["count"] += 1
        return meta_train_step(*args, **kwargs)

    step_fn = jax.jit(
        functools.partial(
            counted_step,
            objective=objective,
            optimizer=optimizer,
            meta_batch_size=config.meta_batch_size,
            task_sharding=sharding,
        ),
        donate_argnums=0,
    )
    train_key = named_key(root, "train")
    t0 = time.perf_counter()
    say(
        f"{config.experiment}: compiling the outer step"
        + (f" (resuming at step {start})" if start else "")
    )
    compiled = step_fn.lower(state, family, train_key).compile()
    compile_time = time.perf_counter() - t0
    choices = backend_choices(config.model.name, config.model.conv_impl, objective.task_chunk)
    say(
        f"{config.experiment}: compiled in {compile_time:.1f} s; training steps "
        f"{start}..{config.num_steps}; " + ", ".join(f"{k} {v}" for k, v in choices.items())
    )

    curve = CurveEvaluator(config, family, objective, root) if config.eval.every else None
    curve_time = 0.0
    writer = MetricWriter(workdir, start) if primary_process else None
    pending: list[dict] = []
    show_bar = None if config.progress_bar and primary_process else True
    bar = tqdm(total=config.num_steps, initial=start, disable=show_bar, desc=config.experiment)
    train_start = time.perf_counter()
    last_good = latest
    stop.in_loop = True
    try:
        for step in range(start, config.num_steps):
            state, metrics = compiled(state, family, train_key)
            pending.append(metrics)
            done = step + 1
            if done % config.log_every == 0 or done == config.num_steps:
                rows = jax.device_get(pending)
                _check_finite(rows, done - len(rows) + 1, workdir, last_good)
                means = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
                # before the checkpoint: a kill re-runs it
                if curve and done % config.eval.every == 0:
                    t_curve = time.perf_counter()
                    means.update(curve(state.meta_params))
                    curve_time += time.perf_counter() - t_curve
                if writer:
                    writer.write(done, means)
                bar.update(len(rows))
                bar.set_postfix(loss=f"{means['loss']:.4f}")
                say.progress(
                    done, start, config.num_steps, means["loss"], time.perf_counter() - train_start
                )
                pending = []
            if done % config.checkpoint_every == 0 or done == config.num_steps:
                manager.save(done, args=ocp.args.StandardSave(state))
                last_good = done
                # its digest; times up to this checkpoint, for results.json after resumes
                if primary_process:
                    record_checkpoint_digest(workdir / "checkpoints" / str(done))
                    elapsed = time.perf_counter() - train_start - curve_time
                    write_atomic(
                        workdir / "progress.json",
                        json.dumps(
                            {
                                "step": done,
                                "train_time_s": progress["train_time_s"] + elapsed,
                                "curve_time_s": progress["curve_time_s"] + curve_time,
                                "num_resumes": progress["num_resumes"],
                            }
                        ),
                    )
            if stop.signum is not None:
                raise TrainingInterrupted(stop.signum, done, last_good, workdir)
    finally:
        stop.in_loop = False
        bar.close()
        if writer:
            writer.close()
        manager.wait_until_finished()
    train_time = time.perf_counter() - train_start - curve_time
    return _Trained(state, family, t0, compile_time, train_time, curve_time, traces["count"])


def _train_and_evaluate(
    config: ml_collections.ConfigDict, checked, workdir: Path, primary_process: bool, stop, spec
) -> dict:
    built = build(config, checked)
    family, objective, optimizer, root = built
    probe = checkpoint_manager(workdir, config)
    latest_on_disk = probe.latest_step()
    probe.close()  # restore_or_init opens its own (a new one per attempt)
    saved = _saved_config(workdir, latest_on_disk)
    changes = (
        [] if saved is None else check_resume(workdir, saved, config_dict(config), latest_on_disk)
    )
    manager, state, latest = restore_or_init(
        lambda: checkpoint_manager(workdir, config),
        family,
        objective,
        optimizer,
        root,
        move_unreadable=primary_process,
    )
    progress = _read_progress(workdir, latest)
    if primary_process:
        write_atomic(
            workdir / "config.json", config.to_json_best_effort(indent=2, sort_keys=True) + "\n"
        )
        if spec is not None and not (workdir / "run.json").exists():  # the run's first start
            write_atomic(workdir / "run.json", json.dumps(spec, indent=2) + "\n")
    start = int(state.step)
    say = _Reporter(primary_process, config.progress_bar)
    trained = _train(config, workdir, built, manager, state, latest, progress, say, stop)
    state, family, t0 = trained.state, trained.family, trained.t0
    compile_time, train_time, curve_time = trained[3:6]

    # Evaluate on each process's own devices from host copies of the (replicated) meta-parameters.
    say(
        f"{config.experiment}: evaluating on {config.eval.num_tasks} test tasks, inner steps "
        f"{tuple(config.eval.inner_steps)}"
    )
    primary, metrics = evaluate_meta_params(
        config, family, objective, root, jax.device_get(state.meta_params)
    )
    steps_run = config.num_steps - start
    results = {
        "experiment": config.experiment,
        "metric": primary,
        "mean": metrics[primary]["mean"],
        "ci95": metrics[primary]["ci95"],
        "num_tasks": metrics[primary]["num_tasks"],
        "seed": config.seed,
        "steps": config.num_steps,
        "wall_time_s": time.perf_counter() - t0,
        "metrics": metrics,
        "task": config.task.name,
        "num_shots": config.task.num_shots,
        "task_config": config.task.to_dict(),
        "learner": config.learner.name,
        "regularizers": list(config.regularizers),
        # what ran, not only the experiment's name: learner and regularizers, and the command
        # line's experiment and overrides (run.json, from the run's first start)
        "method": "+".join([config.learner.name, *config.regularizers]),
        "run": _run_record(workdir),
        "resumed_from_step": start,
        "compile_time_s": compile_time,
        "train_time_s": progress["train_time_s"]
        + train_time,  # over every process that trained this run
        "train_time_s_this_process": train_time,
        "curve_time_s": progress["curve_time_s"]
        + curve_time,  # evaluation during training (eval.every), not in train_time_s
        "num_resumes": progress["num_resumes"],
        "config_changes_on_resume": changes,
        # this process's steps; a process that only evaluated (killed after the last checkpoint)
        # reports the earlier processes' average instead
        "step_time_s": train_time / steps_run
        if steps_run
        else (progress["train_time_s"] / config.num_steps if progress["train_time_s"] else None),
        "num_traces": trained.num_traces,
        # as run: config.task_chunk = None resolves per backend and model
        "task_chunk": objective.task_chunk,
        "backend": jax.default_backend(),
        # what each per-backend "auto" setting resolved to (metareg.runtime.backend_choices)
        "backend_choices": backend_choices(
            config.model.name, config.model.conv_impl, objective.task_chunk
        ),
        "num_devices": len(jax.devices()),
        "num_processes": jax.process_count(),
        "machine": machine_info(),
    }
    if primary_process:
        write_atomic(workdir / "results.json", json.dumps(results, indent=2) + "\n")
    return results
