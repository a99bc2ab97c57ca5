"""The timing part of benchmarks/gpu_check.sh: sinusoid and Omniglot outer steps of MAML,
+ TRLearner (exact Eq. 5 and top-1), + MetaMix, on whatever backend JAX picks, with the per-backend
choices each run logs (metareg.runtime.backend_choices), written as one JSON.

    python benchmarks/gpu_check.py [--quick] [--out benchmarks/results/gpu_check.json]

Sinusoid: the library defaults (MAML 1-40-40-1, K = 5, Q = 10, meta-batch 25). Omniglot: the stride
Conv4 of bench_conv.py (20-way 1-shot, 15 queries, T = 16, inner lr 0.4, one step) on random images:
timing does not depend on the pixels. `--quick`: tiny sizes and 2 steps, to check on a CPU that the
script runs (CI does); its times mean nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_conv import FULL, QUICK, random_family  # noqa: E402
from common import (  # noqa: E402
    compile_step,
    compile_variant,
    configured,
    summary,
    time_interleaved,
)

from metareg import MetaObjective, init_train_state, meta_train_step  # noqa: E402
from metareg.learners import MAML  # noqa: E402
from metareg.models import conv4  # noqa: E402
from metareg.regularizers import MetaMix, TRLearner  # noqa: E402
from metareg.runtime import backend_choices, machine_info  # noqa: E402

REGULARIZERS = {  # variant -> (config overrides, regularizer objects for the Omniglot step)
    "maml": ({}, ()),
    "trlearner_exact": ({"regularizers": ("trlearner",)}, (TRLearner(),)),
    "trlearner_top1": (
        {"regularizers": ("trlearner",), "trlearner.num_related": 1},
        (TRLearner(num_related=1),),
    ),
    "metamix": (
        {"regularizers": ("metamix",)},
        (MetaMix(alpha=2.0, layers=(1, 2, 3)),),  # Omniglot's preset (experiments/base.py)
    ),
}


def sinusoid_variants(quick: bool) -> dict:
    out = {}
    for name, (overrides, _) in REGULARIZERS.items():
        extra = {"meta_batch_size": 4} if quick else {}
        config = configured({**overrides, **extra})
        v = compile_variant(config, warmup=1 if quick else 10)
        v["choices"] = backend_choices(config.model.name, config.model.conv_impl, 0)
        out[f"sinusoid/{name}"] = v
    return out


def omniglot_variants(quick: bool) -> dict:
    size = QUICK if quick else FULL
    family = random_family(size["ways"], size["shots"], size["queries"])
    model = conv4(family.ways, width=size["width"], pool="stride", readout="mean")
    out = {}
    for name, (_, regs) in REGULARIZERS.items():
        objective = MetaObjective(MAML(model, "cross_entropy", inner_lr=0.4, num_steps=1), regs)
        optimizer = optax.adam(1e-3)
        state = init_train_state(jax.random.key(1), objective, optimizer, family.example_episode())
        step = jax.jit(
            lambda s, f, k, objective=objective, optimizer=optimizer: meta_train_step(
                s, f, k, objective=objective, optimizer=optimizer,
                meta_batch_size=size["meta_batch"],
            ),
            donate_argnums=0,
        )  # fmt: skip
        v = compile_step(step, state, family, jax.random.key(2), warmup=1 if quick else 2)
        v["choices"] = backend_choices("conv4", "auto", 0)
        out[f"omniglot/{name}"] = v
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script runs")
    parser.add_argument("--out", default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per variant")
    args = parser.parse_args()
    out = Path(args.out or f"benchmarks/results/gpu_check{'_quick' if args.quick else ''}.json")
    steps = args.steps or (2 if args.quick else 20)
    variants = {**sinusoid_variants(args.quick), **omniglot_variants(args.quick)}
    time_interleaved(variants, steps, rounds=1 if args.quick else 2)
    result = {
        "machine": machine_info(),
        "backend": jax.default_backend(),
        "quick": args.quick,
        "omniglot_size": QUICK if args.quick else FULL,
        "variants": {
            name: {**summary(v), "backend_choices": v["choices"]} for name, v in variants.items()
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name, v in result["variants"].items():
        print(f"{name:28s} {v['median_step_s'] * 1e3:9.2f} ms  compile {v['compile_s']:.1f} s")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
