"""Command line: python -m metareg.main --config experiments/NAME.py[:quick] --workdir DIR.

Overrides go after it, e.g. --config.seed=3 --config.num_steps=500; the config is locked, so a
misspelt field is an error.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment file, e.g. experiments/sinusoid_trlearner.py:quick", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and results.json (resumes if it holds a run).")
_MODE = flags.DEFINE_enum(
    "mode", "train", ["train", "evaluate"], "train: train (or resume) then evaluate; evaluate: evaluate the latest checkpoint again"
)


PROJECT_ROOT = Path(__file__).resolve().parents[1]  # holds experiments/ in a source checkout


def resolve_experiment(spec: str) -> str:
    """--config's value as an existing file: a path as given, else relative to the project root, else a bare
    experiment name ("sinusoid_maml[:quick]" -> PROJECT_ROOT/experiments/sinusoid_maml.py[:quick]), so the
    command works from any directory. Exits with the list of experiments when none exists."""
    name, sep, variant = spec.partition(":")
    candidates = [Path(name), PROJECT_ROOT / name, PROJECT_ROOT / "experiments" / f"{Path(name).stem}.py"]
    for path in candidates:
        if path.is_file():
            return f"{path.resolve()}{sep}{variant}"
    known = sorted(p.stem for p in (PROJECT_ROOT / "experiments").glob("*.py") if p.stem not in ("base", "__init__"))
    sys.exit(f"error: unknown experiment {Path(name).stem!r} (no file {name}); choose from {known}")


def check_experiment_exists(argv: list[str]) -> None:
    """Point --config at an existing experiment file (see `resolve_experiment`), in place in argv."""
    for i, a in enumerate(argv):
        if a.startswith("--config="):
            argv[i] = "--config=" + resolve_experiment(a.split("=", 1)[1])
        elif a == "--config" and i + 1 < len(argv):
            argv[i + 1] = resolve_experiment(argv[i + 1])


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    from metareg.config import ConfigError
    from metareg.sharding import initialize_distributed
    from metareg.train import NonFiniteLossError, reevaluate, train_and_evaluate
    from metareg.workdir import WorkdirError

    initialize_distributed(_CONFIG.value)  # before any other JAX call
    if _WORKDIR.value is None:
        sys.exit("error: --workdir is required (a directory for checkpoints and results)")
    try:
        run = train_and_evaluate if _MODE.value == "train" else reevaluate
        results = run(_CONFIG.value, _WORKDIR.value)
    except ConfigError as e:
        sys.exit(f"config error: {e}")
    except FileNotFoundError as e:  # missing data (the message says where the files go) or checkpoint
        sys.exit(f"error: {e}")
    except (WorkdirError, NonFiniteLossError) as e:  # the message names the problem and the fix
        sys.exit(f"error: {e}")
    summary = {k: results[k] for k in ("experiment", "metric", "mean", "ci95", "num_tasks", "seed", "steps", "wall_time_s")}
    print(json.dumps(summary, indent=2))


def run():
    from metareg.runtime import reexec_with_tuned_malloc

    try:
        reexec_with_tuned_malloc()  # huge pages for XLA:CPU's step buffers (metareg/runtime.py); glibc reads them at start
    except ValueError as e:  # a bad METAREG_CPU_MALLOC
        sys.exit(f"error: {e}")
    # Experiment files import experiments.base: make the project root importable (from any directory).
    sys.path.insert(0, str(PROJECT_ROOT))
    check_experiment_exists(sys.argv)
    flags.mark_flag_as_required("config")
    try:
        app.run(main)
    except AttributeError as e:  # ml_collections on an override of a field the config lacks: no traceback
        if "instead of" not in str(e):
            raise
        hint = re.search(r'Did you mean "([^"]+)" instead of "([^"]+)"', str(e))
        fix = f"{hint.group(2)!r} is not a config field; did you mean {hint.group(1)!r}?" if hint else str(e)
        sys.exit(f"config error in a --config.* override: {fix}")


if __name__ == "__main__":
    run()
