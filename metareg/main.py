"""Command line: train or evaluate one experiment.

    metareg train NAME[:VARIANTS] [--workdir DIR] [--config.FIELD=VALUE ...]  (workdir: runs/NAME)
    metareg train --workdir DIR [--config.num_steps=N]  (resume DIR with the config it trained with)
    metareg evaluate --workdir DIR [--config.eval.FIELD=VALUE ...] [--eval_name NAME]
        (the latest checkpoint again, into DIR/eval/NAME.json; results.json is never replaced)
    metareg config NAME[:VARIANTS] [--config.FIELD=VALUE ...]  (every field, its value and why)
    metareg list  (experiments and their variants)
    python -m metareg.main --config experiments/NAME.py[:VARIANTS] --workdir DIR
        [--config.FIELD=VALUE ...]

VARIANTS are comma-separated tokens, e.g. omniglot_maml:5shot,me or sinusoid_trlearner:quick.
Overrides go after the experiment, e.g. --config.seed=3 --config.num_steps=500; the config is
locked, so a misspelt field is an error. A workdir is one run: a command that names an experiment
for an existing workdir must agree with the saved config.json in every field that names the run.
Ctrl-C (or SIGTERM) stops after the current step; the same command resumes.
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
    ["train", "evaluate", "config"],
    "train: train (or resume) then evaluate; evaluate: evaluate the latest checkpoint again; "
    "config: print every field of the config with its value and why",
)
_EVAL_NAME = flags.DEFINE_string(
    "eval_name",
    None,
    "evaluate: the name of the evaluation's file, WORKDIR/eval/NAME.json (default: the "
    "checkpoint's step and the time)",
)


PROJECT_ROOT = Path(__file__).resolve().parents[1]  # holds experiments/ in a source checkout
SAVED_CONFIG = Path(__file__).resolve().parent / "saved_config.py"  # a workdir's config.json


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
    if Path(name).resolve() == SAVED_CONFIG:  # a run's own config: checked when it is read
        return spec
    if name.endswith(".json"):  # a run's config.json (metareg train W/config.json --workdir W)
        if not Path(name).is_file():
            sys.exit(f"error: no config file {name}")
        return f"{SAVED_CONFIG}:{Path(name).resolve()}"
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


def experiment_preset(spec: str):
    """The config an experiment file gives before any --config.* override (None for a saved run's
    config)."""
    name, _, variant = spec.partition(":")
    if Path(name).resolve() == SAVED_CONFIG:
        return None
    module_spec = importlib.util.spec_from_file_location(f"_preset_{Path(name).stem}", name)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(variant or None)


def run_spec(config) -> dict:
    """What the command line ran: the experiment (file and variants) and every field it set beyond
    the experiment's preset, for results.json (a table must not read "sinusoid_maml" for a run whose
    learner and regularizers were overridden)."""
    from metareg.workdir import config_changes, config_dict

    spec = next(
        (a.split("=", 1)[1] for a in sys.argv if a.startswith("--config=")),
        None,
    )
    preset = experiment_preset(spec) if spec else None
    if preset is None:
        return {"experiment": spec, "overrides": None}
    changes = config_changes(config_dict(preset), config_dict(config))
    return {
        "experiment": f"{Path(spec.split(':')[0]).stem}"
        + (f":{spec.split(':', 1)[1]}" if ":" in spec else ""),
        "overrides": {k: new for k, _, new in changes},
    }


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
    from metareg.train import NonFiniteLossError, TrainingInterrupted
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
    if isinstance(e, TrainingInterrupted):
        return str(e)
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
    if _MODE.value == "config":
        from metareg.config_reference import text

        print(text(_CONFIG.value), end="")
        return
    from metareg.sharding import initialize_distributed
    from metareg.train import TrainingInterrupted, reevaluate, train_and_evaluate

    initialize_distributed(_CONFIG.value)  # before any other JAX call
    if _WORKDIR.value is None:
        sys.exit("error: --workdir is required (a directory for checkpoints and results)")
    try:
        if _MODE.value == "train":
            results = train_and_evaluate(
                _CONFIG.value, _WORKDIR.value, spec=run_spec(_CONFIG.value)
            )
        else:
            results = reevaluate(_CONFIG.value, _WORKDIR.value, name=_EVAL_NAME.value)
    except Exception as e:
        message = error_message(e, _WORKDIR.value)
        if message is None:
            raise
        # Exit without interpreter teardown: a failed orbax restore leaves coroutines and threads
        # that print tracebacks while Python shuts down, burying the one line that matters.
        print(message, file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(e.exit_code if isinstance(e, TrainingInterrupted) else 1)
    keys = ("experiment", "metric", "mean", "ci95", "num_tasks", "seed", "steps", "wall_time_s")
    keys += ("written_to",)  # an evaluation says which file it wrote
    summary = {k: results[k] for k in keys if k in results}
    print(json.dumps(summary, indent=2))


def cli():
    """The `metareg` console script: `metareg train|evaluate NAME[:VARIANTS] [flags]` or
    `metareg list`."""
    usage = (
        "usage: metareg train|evaluate NAME[:VARIANTS] [--workdir DIR] [--config.FIELD=VALUE ...]"
        " | metareg train|evaluate --workdir DIR [--config.FIELD=VALUE ...]"
        " | metareg config NAME[:VARIANTS] | metareg list"
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
    if args[0] not in ("train", "evaluate", "config") or len(args) < 2:
        sys.exit(f"error: {usage}")
    command = args[0]
    if args[1].startswith("-"):  # no experiment: the workdir's own config
        rest = args[1:]
        workdir = _workdir_argument(rest)
        if command == "config" or workdir is None:
            sys.exit(
                f"error: metareg {command} without an experiment needs --workdir DIR (a run to "
                f"{'resume' if command == 'train' else 'read'}); {usage}"
            )
        experiment = f"{SAVED_CONFIG}:{workdir}"
    else:
        experiment, rest = args[1], args[2:]
    if command != "config" and _workdir_argument(rest) is None:
        if command == "evaluate":
            sys.exit("error: metareg evaluate needs --workdir DIR (the run to evaluate again)")
        rest.append(f"--workdir=runs/{experiment.replace(':', '_')}")
    sys.argv = [sys.argv[0], f"--config={experiment}", f"--mode={command}", *rest]
    run()


def _workdir_argument(args: list[str]) -> str | None:
    """The value of --workdir DIR / --workdir=DIR among args, None if absent."""
    for i, a in enumerate(args):
        if a.startswith("--workdir="):
            return a.split("=", 1)[1]
        if a == "--workdir" and i + 1 < len(args):
            return args[i + 1]
    return None


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
