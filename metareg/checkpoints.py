"""Checkpoints of a run: the Orbax manager of a workdir, and restore-or-init that skips (and sets
aside) damaged checkpoints and refuses ones written for another model.
"""

from __future__ import annotations

import sys
from pathlib import Path

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
