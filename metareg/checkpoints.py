"""Checkpoints: the Orbax manager of a workdir, restore-or-init that skips (and sets aside)
damaged checkpoints and refuses ones written for another model, and `save` / `load` for a state or
parameters trained through the Python API (the same Orbax format).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NamedTuple

import jax
import orbax.checkpoint as ocp

from metareg.meta_step import TrainState, init_train_state
from metareg.rng import named_key
from metareg.workdir import WorkdirError, check_checkpoint_digest


def checkpoint_manager(workdir: Path, config) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=config.max_checkpoints, enable_async_checkpointing=False, create=True
    )
    return ocp.CheckpointManager((workdir / "checkpoints").absolute(), options=options)


def restore_or_init(
    open_manager, family, objective, optimizer, root, move_unreadable: bool = False
) -> tuple[ocp.CheckpointManager, TrainState, int | None]:
    """(checkpoint manager, newest intact checkpoint's state or a fresh one, step restored or None).

    A checkpoint whose files differ from the digest recorded when it was saved
    (`workdir.checkpoint_digest`: a flipped bit, a truncated file), or that has no digest and orbax
    cannot read (a partial save), is skipped with a warning and the next older one tried; with
    `move_unreadable` (the training run's writer) it is also moved aside, never deleted
    (`set_aside`), so later saves and clean-ups do not trip over it. One whose files match its
    digest but do not restore (another model or metareg version) is a WorkdirError, never skipped.
    `open_manager()` makes a manager: a failed restore can leave orbax's manager in a wrong state,
    so each attempt gets a new one.
    """
    state = init_train_state(
        named_key(root, "init"), objective, optimizer, family.example_episode()
    )
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)
    manager = open_manager()
    for step in sorted(manager.all_steps(), reverse=True):
        step_dir = Path(str(manager.directory)) / str(step)
        intact = False
        try:
            intact = check_checkpoint_digest(step_dir)
            return manager, manager.restore(step, args=ocp.args.StandardRestore(abstract)), step
        except Exception as e:  # noqa: BLE001 -- orbax and tensorstore raise many types
            # whole files that do not fit: not damage but another model or version;
            # keep them where they are
            if intact:
                _quiet_closed_event_loop()
                raise WorkdirError(
                    f"checkpoint {step} in {step_dir.parent} is intact but does not fit this "
                    f"run's state ({type(e).__name__}: {_first_line(e)}); it was written by "
                    "another version of the model or of metareg. Use a new --workdir, or the "
                    "version that wrote it"
                ) from None
            where = "left in place"
            if move_unreadable:
                where = f"moved to {set_aside(step_dir)}"
            print(
                f"warning: checkpoint {step} cannot be restored ({type(e).__name__}: "
                f"{_first_line(e)}); {where}; trying the next older one",
                file=sys.stderr,
            )
            manager.close()
            manager = open_manager()
    return manager, state, None


def _quiet_closed_event_loop() -> None:
    """After a failed restore, orbax's restore threads may still call into an asyncio loop that
    has closed; Python prints that as an ignored-exception traceback at an unpredictable moment,
    in the middle of the one-line error. Filter exactly that RuntimeError; anything else goes to
    the previous hook."""
    previous = sys.unraisablehook

    def hook(unraisable):
        e = unraisable.exc_value
        if isinstance(e, RuntimeError) and str(e) == "Event loop is closed":
            return
        previous(unraisable)

    sys.unraisablehook = hook


def set_aside(step_dir: Path) -> Path:
    """Move an unreadable checkpoint out of orbax's sight, to
    <workdir>/checkpoints_unreadable/<step>[.N]."""
    target_dir = step_dir.parent.parent / "checkpoints_unreadable"
    target_dir.mkdir(exist_ok=True)
    target, n = target_dir / step_dir.name, 1
    while target.exists():
        target, n = target_dir / f"{step_dir.name}.{n}", n + 1
    step_dir.rename(target)
    return target


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [""])[0][:200]


class Saved(NamedTuple):
    """What `load` returns: the saved tree (a TrainState, meta-parameters or any pytree) and the
    config saved beside it (None without one)."""

    tree: Any
    config: Any


def save(path: str | Path, tree: Any, config=None) -> Path:
    """Save a TrainState or any pytree of arrays (e.g. meta-parameters) to a new directory `path`
    in Orbax's format, the one the command line's checkpoints use, with `config` (a run's
    ConfigDict) beside it as config.json. Refuses an existing non-empty directory."""
    path = Path(path).absolute()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"{path} exists and is not empty: save to a new path")
    path.mkdir(parents=True, exist_ok=True)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(path / "tree", tree)
    checkpointer.wait_until_finished()
    kind = "train_state" if isinstance(tree, TrainState) else "tree"
    (path / "saved.json").write_text(json.dumps({"kind": kind, "format": "orbax"}) + "\n")
    if config is not None:
        (path / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True))
    return path


def load(path: str | Path, like: Any = None) -> Saved:
    """Load what `save` wrote. `like`: a tree of the same structure to restore into (e.g. a fresh
    TrainState); without one, a saved TrainState with a config is rebuilt as the config's run
    builds it (so `load(p).tree` is a TrainState), anything else comes back as nested dicts."""
    path = Path(path).absolute()
    meta_path = path / "saved.json"
    if not meta_path.exists():
        hint = (
            " (a command-line workdir: use metareg.restore_run / restore_training)"
            if (path / "checkpoints").exists()
            else ""
        )
        raise FileNotFoundError(f"{path} holds nothing metareg.save wrote{hint}")
    meta = json.loads(meta_path.read_text())
    config = None
    if (path / "config.json").exists():
        from metareg.workdir import load_run_config

        config = load_run_config(path)
    if like is None and meta["kind"] == "train_state" and config is not None:
        from metareg.assemble import build

        family, objective, optimizer, root = build(config)
        like = init_train_state(
            named_key(root, "init"), objective, optimizer, family.example_episode()
        )
    checkpointer = ocp.StandardCheckpointer()
    if like is None:
        tree = checkpointer.restore(path / "tree")
    else:
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like)
        tree = checkpointer.restore(path / "tree", abstract)
    return Saved(tree, config)
