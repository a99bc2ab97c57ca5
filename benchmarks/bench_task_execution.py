r"""vmap or a loop over a meta-batch's tasks, per experiment: the outer step of each experiment's
own config built with `task_chunk = 0` (one vmap) and `-1` (an unrolled loop), compile time and
median step, timed interleaved in one process, with the huge-page malloc tunable a training run
uses. The measurements behind `task_chunk = None` (auto: metareg.meta_step.auto_task_chunk).

    python benchmarks/bench_task_execution.py \
        --out benchmarks/results/task_execution_cpu.json [--steps 12]
    python benchmarks/bench_task_execution.py \
        --experiments sinusoid_maml,omniglot_maml --steps 4   # a subset
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
from pathlib import Path

import jax
from common import compile_variant, summary, time_interleaved

from metareg.assemble import validate_config
from metareg.runtime import reexec_with_tuned_malloc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the experiments/ package
EXPERIMENTS = (
    "sinusoid_maml",
    "sinusoid_trlearner",
    "omniglot_maml",
    "omniglot_maml_trlearner",
    "omniglot_maml_metamix",
    "omniglot_protonet",
    "omniglot_protonet_trlearner",
    "chembl_maml",
    "pose_maml",
    "pose_maml_trlearner",
)
CHOICES = {"vmap": 0, "loop": -1}


def experiment_config(name: str, task_chunk: int):
    spec, _, arg = name.partition(":")
    config = importlib.import_module(f"experiments.{spec}").get_config(arg or None)
    config.task_chunk = task_chunk
    validate_config(config)
    return config


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--experiments", default=",".join(EXPERIMENTS))
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    reexec_with_tuned_malloc()  # as `python -m metareg.main` trains (metareg/runtime.py)
    result = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "jax": jax.__version__,
            "backend": jax.default_backend(),
            "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        },
        "steps_timed": args.steps,
        "experiments": {},
    }
    for name in args.experiments.split(","):
        variants = {
            choice: compile_variant(experiment_config(name, chunk), warmup=2)
            for choice, chunk in CHOICES.items()
        }
        time_interleaved(variants, args.steps, 2)
        row = {choice: summary(v) for choice, v in variants.items()}
        row["loop_over_vmap"] = row["loop"]["median_step_s"] / row["vmap"]["median_step_s"]
        result["experiments"][name] = row
        print(
            name,
            {
                c: (round(row[c]["compile_s"], 1), round(row[c]["median_step_s"], 4))
                for c in CHOICES
            },
            "loop/vmap",
            round(row["loop_over_vmap"], 3),
            flush=True,
        )
        del variants
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
