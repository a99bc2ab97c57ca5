"""Command line: train or evaluate one experiment.

    metareg train NAME[:VARIANTS] [--workdir DIR] [--config.FIELD=VALUE ...]  (workdir: runs/NAME)
    metareg evaluate NAME[:VARIANTS] --workdir DIR  (the latest checkpoint again)
    metareg list  (experiments and their variants)
    python -m metareg.main --config experiments/NAME.py[:VARIANTS] --workdir DIR
        [--config.FIELD=VALUE ...]

VARIANTS are comma-separated tokens, e.g. omniglot_maml:5shot,me or sinusoid_trlearner:quick.
Overrides go after the experiment, e.g. --config.seed=3 --config.num_steps=500; the config is
locked, so a misspelt field is an error.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import re
import sys
import textwrap
from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "Experiment file, e.g. experiments/sinusoid_trlearner.py:quick",
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string(
    "workdir",
    None,
    "Directory for checkpoints, metrics and results.json (resumes if it holds a run).",
)
_MODE = flags.DEFINE_enum(
    "mode",
    "train",
    ["train", "evaluate"],
    "train: train (or resume) then evaluate; evaluate: evaluate the latest checkpoint again",
)


PROJECT_ROOT = Path(__file__).resolve().parents[1]  # holds experiments/ in a source checkout


def experiment_names() -> list[str]:
    return sorted(
        p.stem
        for p in (PROJECT_ROOT / "experiments").glob("*.py")
        if p.stem not in ("base", "__init__")
    )


def experiments_listing() -> str:
    """Every experiment with the variant tokens it takes, one family per paragraph."""
    from experiments import base

    families: dict[str, list[str]] = {}
    for name in experiment_names():
        families.setdefault(name.split("_")[0], []).append(name)
    return "\n".join(
        textwrap.fill(", ".join(names), 100, subsequent_indent="  ")
        + "\n    variants: "
        + ", ".join(base.variants(names[0]))
        for names in families.values()
    )


def resolve_experiment(spec: str) -> str:
    """--config's value as an existing file: a path as given, else relative to the project root,
    else a bare experiment name ("sinusoid_maml[:quick]" ->
    PROJECT_ROOT/experiments/sinusoid_maml.py[:quick]), so the command works from any directory.
    Exits with a one-line message for an unknown experiment or variant."""
    name, sep, variant = spec.partition(":")
    candidates = [
        Path(name),
        PROJECT_ROOT / name,
        PROJECT_ROOT / "experiments" / f"{Path(name).stem}.py",
    ]
    for path in candidates:
        if path.is_file():
            check_variant(path, variant)
            return f"{path.resolve()}{sep}{variant}"
    sys.exit(
        f"error: unknown experiment {Path(name).stem!r} (no file {name}); choose from "
        f"{experiment_names()} (`metareg list` shows their variants)"
    )


def check_variant(path: Path, variant: str) -> None:
    """Build the experiment's config once: an unknown variant is a message, not absl's traceback."""
    spec = importlib.util.spec_from_file_location(f"_experiment_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.get_config(variant or None)
    except ValueError as e:
        sys.exit(f"error: experiment {path.stem!r}: {e}")


def check_experiment_exists(argv: list[str]) -> None:
    """Point --config at an existing experiment file (`resolve_experiment`), in place in argv."""
    for i, a in enumerate(argv):
        if a.startswith("--config="):
            argv[i] = "--config=" + resolve_experiment(a.split("=", 1)[1])
        elif a == "--config" and i + 1 < len(argv):
            argv[i + 1] = resolve_experiment(argv[i + 1])


def error_message(e: BaseException, workdir: str) -> str | None:
    """The one-line message for a failure a user can fix, None for a bug (traceback kept)."""
    from metareg.config import ConfigError
    from metareg.data import ChemblDataError, OmniglotArchiveError, Pascal3DFileError
    from metareg.train import NonFiniteLossError
    from metareg.workdir import WorkdirError

    chain, cause = [], e
    # a full disk often arrives wrapped (orbax, tensorstore)
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(
        getattr(c, "errno", None) == errno.ENOSPC or "No space left on device" in str(c)
        for c in chain
    ):
        return (
            f"error: the disk holding {workdir} is full (No space left on device). Free space and "
            "run the same command again: the run resumes from its last checkpoint"
        )
    if isinstance(e, ConfigError):
        return f"config error: {e}"
    if isinstance(e, (FileNotFoundError, OmniglotArchiveError, ChemblDataError, Pascal3DFileError)):
        # missing or damaged data (the message says where the files go) or checkpoint
        return f"error: {e}"
    # the message names the problem and the fix
    if isinstance(e, (WorkdirError, NonFiniteLossError)):
        return f"error: {e}"
    if isinstance(e, PermissionError):
        return (
            f"error: {e.strerror}: {e.filename}; choose a --workdir (or data.dir) this user can "
            "write to"
        )
    return None


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    from metareg.sharding import initialize_distributed
    from metareg.train import reevaluate, train_and_evaluate

    initialize_distributed(_CONFIG.value)  # before any other JAX call
    if _WORKDIR.value is None:
        sys.exit("error: --workdir is required (a directory for checkpoints and results)")
    try:
        run = train_and_evaluate if _MODE.value == "train" else reevaluate
        results = run(_CONFIG.value, _WORKDIR.value)
    except Exception as e:
        message = error_message(e, _WORKDIR.value)
        if message is None:
            raise
        # Exit without interpreter teardown: a failed orbax restore leaves coroutines and threads
        # that print tracebacks while Python shuts down, burying the one line that matters.
        print(message, file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    keys = ("experiment", "metric", "mean", "ci95", "num_tasks", "seed", "steps", "wall_time_s")
    # a re-evaluation of a lost results.json has no timings
    summary = {k: results[k] for k in keys if k in results}
    print(json.dumps(summary, indent=2))


def cli():
    """The `metareg` console script: `metareg train|evaluate NAME[:VARIANTS] [flags]` or
    `metareg list`."""
    usage = (
        "usage: metareg train|evaluate NAME[:VARIANTS] [--workdir DIR] "
        "[--config.FIELD=VALUE ...] | metareg list"
    )
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help", "help"):
        sys.path.insert(0, str(PROJECT_ROOT))
        print(f"{__doc__}\nExperiments:\n{experiments_listing()}")
        return
    if args[0] == "list":
        sys.path.insert(0, str(PROJECT_ROOT))
        print(experiments_listing())
        return
    if args[0] not in ("train", "evaluate") or len(args) < 2 or args[1].startswith("-"):
        sys.exit(f"error: {usage}")
    command, experiment, rest = args[0], args[1], args[2:]
    if not any(a.startswith("--workdir") for a in rest):
        if command == "evaluate":
            sys.exit("error: metareg evaluate needs --workdir DIR (the run to evaluate again)")
        rest.append(f"--workdir=runs/{experiment.replace(':', '_')}")
    sys.argv = [sys.argv[0], f"--config={experiment}", f"--mode={command}", *rest]
    run()


def run():
    from metareg.runtime import reexec_with_tuned_malloc

    try:
        # huge pages for XLA:CPU's step buffers (metareg/runtime.py); glibc reads them at start
        reexec_with_tuned_malloc()
    except ValueError as e:  # a bad METAREG_CPU_MALLOC
        sys.exit(f"error: {e}")
    # Experiment files import experiments.base: make the project root importable
    # (from any directory).
    sys.path.insert(0, str(PROJECT_ROOT))
    check_experiment_exists(sys.argv)
    # what --help prints
    sys.modules["__main__"].__doc__ = f"{__doc__}\nExperiments:\n{experiments_listing()}"
    flags.mark_flag_as_required("config")
    try:
        app.run(main)
    except AttributeError as e:
        # ml_collections on an override of a field the config lacks: no traceback
        if "instead of" not in str(e):
            raise
        hint = re.search(r'Did you mean "([^"]+)" instead of "([^"]+)"', str(e))
        fix = (
            f"{hint.group(2)!r} is not a config field; did you mean {hint.group(1)!r}?"
            if hint
            else str(e)
        )
        sys.exit(f"config error in a --config.* override: {fix}")


if __name__ == "__main__":
    run()
