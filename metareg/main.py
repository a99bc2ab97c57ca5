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


def _config_path_from_argv(argv: list[str]) -> str | None:
    for i, a in enumerate(argv):
        if a.startswith("--config="):
            return a.split("=", 1)[1]
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def check_experiment_exists(argv: list[str]) -> None:
    """Exit with the list of experiments when --config names a file that does not exist."""
    spec = _config_path_from_argv(argv)
    if spec is None:
        return
    path = Path(spec.split(":", 1)[0])
    if not path.is_file():
        here = path.parent if path.parent.is_dir() else Path("experiments")
        known = sorted(p.stem for p in here.glob("*.py") if p.stem not in ("base", "__init__"))
        sys.exit(f"error: unknown experiment {path.stem!r} (no file {path}); choose from {known}")


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
    # Experiment files import experiments.base: make the project root importable.
    sys.path.insert(0, str(Path.cwd()))
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
