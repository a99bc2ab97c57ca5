"""A run's directory: one run, one writer, files that are whole.

- Identity: a workdir belongs to the config that first trained in it. On resume the new config is
  compared with the saved config.json; only the fields in `RESUMABLE` may differ (the run's length,
  evaluation, logging and checkpoint cadence, where the data lives); any other difference is refused
  with each field's old and new value, so a result can never claim a config it was not trained with.
  Allowed changes are recorded in results.json.
- One writer: an exclusive OS lock (flock) on `.lock` for the whole run; a second process exits at
  once naming the holder's pid.
- Reading a run back: `load_run_config` (its config.json), `restore_run` / `restore_training` (its
  latest checkpoint, rebuilt through `metareg.assemble.build`), for notebooks and the analysis
  without the training loop.
- Whole files: config.json and results.json are written to a temporary file and renamed. Each
  checkpoint's files get a digest when it is saved (`record_checkpoint_digest`); a resume checks it,
  so a flipped bit or a truncated file is found before its numbers are trusted (orbax itself reads a
  flipped bit without error).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import ml_collections

# Fields a resumed run may change: they do not change what the checkpointed model is or how it was
# trained up to its step. num_steps only upwards of the checkpoint (checked in `check_resume`).
RESUMABLE = (
    "num_steps",
    "eval.",
    "log_every",
    "checkpoint_every",
    "max_checkpoints",
    "progress_bar",
    "data.",
    "task_chunk",
    "mesh.",
    "distributed.",
)


class WorkdirError(RuntimeError):
    """A workdir that cannot take this run; the message names the problem and the fix."""


def flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
    return out


def config_dict(config) -> dict:
    """The config as plain JSON values (tuples as lists), as config.json stores it."""
    return json.loads(config.to_json_best_effort(sort_keys=True))


def config_changes(saved: dict, new: dict) -> list[tuple[str, object, object]]:
    """(field, old, new) for every field that differs."""
    a, b = flatten(saved), flatten(new)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def check_resume(workdir: Path, saved: dict, new: dict, checkpoint_step: int | None) -> list[dict]:
    """The allowed changes between the saved and the new config; WorkdirError naming any others."""
    changes = config_changes(saved, new)
    refused = [c for c in changes if not c[0].startswith(RESUMABLE)]
    if refused:
        fields = "; ".join(f"{k}: {old!r} -> {new!r}" for k, old, new in refused)
        raise WorkdirError(
            f"{workdir} holds a run with another config ({fields}); its checkpoints are not this "
            f"run's. Use a new --workdir for this config, or the run's own config: `metareg "
            f"train --workdir {workdir}` resumes it, `metareg evaluate --workdir {workdir}` "
            "evaluates it"
        )
    steps = new.get("num_steps")
    if checkpoint_step is not None and steps is not None and steps < checkpoint_step:
        raise WorkdirError(
            f"{workdir} has a checkpoint at step {checkpoint_step}, beyond num_steps = {steps}: a "
            f"run cannot be shortened; use num_steps >= {checkpoint_step}, or a new --workdir"
        )
    return [{"field": k, "old": old, "new": new} for k, old, new in changes]


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all (a temporary file in the same folder, renamed)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


DIGEST_FILE = "digest.sha256"  # beside orbax's files in each checkpoint's step directory


def checkpoint_digest(step_dir: Path) -> str:
    """sha256 over a checkpoint's files (relative paths and contents), except the digest file."""
    h = hashlib.sha256()
    for p in sorted(step_dir.rglob("*")):
        if p.is_file() and p.name != DIGEST_FILE:
            h.update(str(p.relative_to(step_dir)).encode() + b"\0")
            h.update(p.read_bytes())
    return h.hexdigest()


def record_checkpoint_digest(step_dir: Path) -> None:
    write_atomic(step_dir / DIGEST_FILE, checkpoint_digest(step_dir) + "\n")


def check_checkpoint_digest(step_dir: Path) -> bool:
    """True if the checkpoint's files match the digest recorded at save time, False if it has none
    (killed between save and digest, or written by an older version: left to orbax); ValueError if
    they differ."""
    path = step_dir / DIGEST_FILE
    if not path.exists():
        return False
    if path.read_text().strip() != checkpoint_digest(step_dir):
        raise ValueError("its files differ from the digest recorded when it was saved")
    return True


@contextlib.contextmanager
def exclusive(workdir: Path):
    """Hold the workdir's lock for the block; WorkdirError at once if another process holds it."""
    if workdir.exists() and not workdir.is_dir():
        raise WorkdirError(
            f"--workdir {workdir} is a file, not a directory: choose a directory path"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    f = open(workdir / ".lock", "a+")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise WorkdirError(
                f"{workdir} is in use by another process (pid {holder}); wait for it to finish, "
                "or use another --workdir"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        yield
    finally:
        f.close()  # releases the lock


def load_run_config(workdir: str | Path) -> ml_collections.ConfigDict:
    """The config a run was trained with, from its config.json (lists back to tuples; fields this
    version added since keep their defaults)."""
    saved = json.loads((Path(workdir) / "config.json").read_text())
    from metareg.config import default_config

    config = default_config()

    def merge(node, values, prefix=""):
        for k, v in values.items():
            if k not in node:
                from metareg.config import ConfigError

                raise ConfigError(
                    f"{workdir}/config.json has field {prefix}{k}, unknown to this version of "
                    "metareg"
                )
            if isinstance(node[k], ml_collections.ConfigDict):
                merge(node[k], v, f"{prefix}{k}.")
            else:
                with node.ignore_type():
                    node[k] = tuple(v) if isinstance(v, list) else v

    merge(config, saved)
    return config


def restore_run(workdir: str | Path):
    """(config, family, objective, meta-parameters) of a trained run's latest checkpoint: for
    figures and notebooks that look inside a trained model."""
    run = restore_training(workdir)
    return run.config, run.family, run.objective, run.state.meta_params


class Training(NamedTuple):
    """A trained run, ready to go on training: `metareg.meta_train_step(state, family, train_key,
    objective, optimizer, config.meta_batch_size)` takes the outer step the command line would take
    next (same draws)."""

    config: Any
    family: Any
    objective: Any  # metareg.MetaObjective
    optimizer: Any
    state: Any  # metareg.TrainState
    train_key: Any  # jax.Array: the run's training key


def restore_training(workdir: str | Path) -> Training:
    """A run's latest checkpoint, ready to go on training in a notebook (`Training`)."""
    from metareg.assemble import build
    from metareg.checkpoints import checkpoint_manager, restore_or_init
    from metareg.rng import named_key

    config = load_run_config(workdir)
    family, objective, optimizer, root = build(config)  # checked first
    _, state, latest = restore_or_init(
        lambda: checkpoint_manager(Path(workdir), config), family, objective, optimizer, root
    )
    if latest is None:
        raise FileNotFoundError(
            f"no checkpoint in {Path(workdir) / 'checkpoints'}: train the run first"
        )
    return Training(config, family, objective, optimizer, state, named_key(root, "train"))
