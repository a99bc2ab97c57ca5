"""A saved run's config as an experiment file, for the command line.

`--config=<this file>:PATH` is the config the run at PATH trained with (PATH a workdir, or its
config.json), so a run is resumed or evaluated from its own config, never a retyped one:

    metareg train --workdir W                      # resumes W with the config it trained with
    metareg evaluate --workdir W [--config.eval.inner_steps="(1,4)"]
    metareg train W/config.json --workdir W        # the same, naming the file

Overrides on the command line apply on top, and the workdir's identity check (metareg.workdir)
refuses any that would change what the run is.
"""

from __future__ import annotations

from pathlib import Path


def get_config(path: str | None = None):
    from metareg.workdir import load_run_config

    if not path:
        raise ValueError("a saved config needs a path: --config=saved_config.py:WORKDIR")
    p = Path(path)
    workdir = p.parent if p.name.endswith(".json") else p
    if not (workdir / "config.json").is_file():
        raise ValueError(
            f"{workdir} holds no run (no config.json): give an experiment to start one, e.g. "
            f"metareg train sinusoid_maml --workdir {workdir}"
        )
    return load_run_config(workdir)
