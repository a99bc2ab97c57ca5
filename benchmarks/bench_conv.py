"""Outer-step speed of Omniglot Conv4 MAML by convolution implementation, beside learn2learn's,
written as JSON.

Configuration (the issue's and ../shared/anchors' `l2l_maml.py omniglot`): 20-way 1-shot, 15 queries
per class, meta-batch 16, 1 inner step (lr 0.4), second-order MAML, Adam 1e-3, Conv4 of width 64,
transductive BatchNorm. Variants, each a jitted `metareg.meta_step.meta_train_step` (episode
sampling from random uint8 "characters" through the real OmniglotFamily sampler included):

  * conv_impl "im2col" (the CPU default) and, with --with-lax, "lax" (lax.conv_general_dilated:
    grouped convs under vmap, ~20 s per step on a 2-core CPU, so it gets --lax-steps timed steps
    only);
  * two architectures: "max" (stride-1 convs + 2x2 max-pool, flattened 2x2x64 readout: our default)
    and "stride" (stride-2 convs, no pool, spatial-mean readout: learn2learn's OmniglotCNN and
    MAML's Omniglot net, the like-for-like comparison with the anchor);
  * "stride/im2col/loop": the tasks as an unrolled loop (`task_chunk=-1`) instead of vmap;
  * with --with-reduce-window, "max/im2col/reduce_window": im2col with the max-pool replaced by
    `nn.max_pool` (lax.reduce_window, whose derivatives are select_and_scatter /
    select_and_gather_add), to measure what the phase-max pool of metareg.models.conv saves.

--malloc tuned (the default, as `python -m metareg.main` runs) re-executes the script with glibc's
huge-page tunable (metareg.runtime); --malloc default runs it without. The tunable is read at
process start, so the two are separate runs. learn2learn runs as shipped (GLIBC_TUNABLES empty) and
also, unless --no-l2l-tuned, with the same tunable, so each side is measured with and without the
allocator change.

For each: compile time (lower + compile), XLA's peak-memory and FLOP estimates, median / min wall
time of one outer step (blocked until done), variants interleaved over rounds. learn2learn runs
before and after ours (its median is the median of the two), with the python printed by
../shared/anchors/setup_learn2learn.sh and PYTHONPATH=<its venv>/stubs.

    python benchmarks/bench_conv.py [--malloc tuned|default] [--with-lax] [--no-l2l] [--steps 30]
        [--out benchmarks/results/omniglot_conv_step.json]
    python benchmarks/bench_conv.py --quick    # smoke test: tiny sizes, seconds;
                                               # writes ..._quick.json
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import statistics
import sys
from pathlib import Path
from unittest import mock

import flax.linen as nn
import jax
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import anchor_step, compile_step, summary, time_interleaved  # noqa: E402

from metareg.learners import MAML  # noqa: E402
from metareg.meta_step import MetaObjective, init_train_state, meta_train_step  # noqa: E402
from metareg.models import conv, conv4  # noqa: E402
from metareg.regularizers import TRLearner  # noqa: E402
from metareg.runtime import HUGETLB_TUNABLE, reexec_with_tuned_malloc  # noqa: E402
from metareg.tasks.omniglot import make_omniglot_family  # noqa: E402

FULL = dict(ways=20, shots=1, queries=15, meta_batch=16, width=64)  # the configuration
QUICK = dict(
    ways=5, shots=1, queries=2, meta_batch=2, width=8
)  # smoke test only: numbers mean nothing

ARCHITECTURES = {
    "max": dict(pool="max", readout="flatten"),
    "stride": dict(pool="stride", readout="mean"),
}


def reduce_window_pool(x):
    """The max-pool as nn.max_pool (lax.reduce_window), for the comparison variant."""
    return nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")


def random_family(ways, shots, queries, num_classes=200, seed=0):
    """An OmniglotFamily over random uint8 images [C, 20, 28, 28] (timing does not depend on the
    pixels)."""
    rng = np.random.default_rng(seed)
    images = lambda c: rng.integers(0, 256, (c, 20, 28, 28), dtype=np.uint8)
    return make_omniglot_family(
        images(num_classes),
        images(max(ways, 20)),
        ways=ways,
        shots=shots,
        queries=queries,
        setting="mutually_exclusive",
    )


def compile_variant(
    family, size, conv_impl, arch, pool_impl="phase", task_chunk=0, warmup=2, regularizers=()
):
    """The jitted outer step of one variant: compile time, XLA's analyses, a warmed-up state."""
    model = conv4(family.ways, width=size["width"], conv_impl=conv_impl, **ARCHITECTURES[arch])
    # l2l anchor: inner lr 0.4, 1 step
    objective = MetaObjective(
        MAML(model, "cross_entropy", inner_lr=0.4, num_steps=1),
        tuple(regularizers),
        task_chunk=task_chunk,
    )
    optimizer = optax.adam(1e-3)
    state = init_train_state(jax.random.key(1), objective, optimizer, family.example_episode())
    step = jax.jit(
        functools.partial(
            meta_train_step,
            objective=objective,
            optimizer=optimizer,
            meta_batch_size=size["meta_batch"],
        ),
        donate_argnums=0,
    )
    # The pool is looked up when the step is traced, so patching it around lower() swaps it for this
    # variant only.
    patch = (
        mock.patch.object(conv, "max_pool_2x2", reduce_window_pool)
        if pool_impl == "reduce_window"
        else contextlib.nullcontext()
    )
    with patch:
        return compile_step(step, state, family, jax.random.key(2), warmup)


def learn2learn_step(steps: int, meta_batch: int, env_extra: dict | None = None) -> dict:
    """learn2learn's second-order MAML on its OmniglotCNN (20-way 1-shot, 15 queries), built beside
    the project."""
    result = anchor_step("omniglot", steps, str(meta_batch), env_extra=env_extra)
    return result if "error" in result else {**result, "meta_batch": meta_batch}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        default=None,
        help="default benchmarks/results/omniglot_conv_step.json (_quick with --quick)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=30,
        help="timed steps per im2col variant, spread over the rounds",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--with-lax", action="store_true", help="also time conv_impl='lax' (~20 s per step on CPU)"
    )
    parser.add_argument("--lax-steps", type=int, default=3, help="timed steps per lax variant")
    parser.add_argument("--no-l2l", action="store_true")
    parser.add_argument(
        "--no-l2l-tuned",
        action="store_true",
        help="skip learn2learn with the tuned malloc settings",
    )
    parser.add_argument(
        "--malloc",
        choices=("tuned", "default"),
        default="tuned",
        help="glibc huge-page tunable (metareg.runtime) or not",
    )
    parser.add_argument(
        "--with-reduce-window",
        action="store_true",
        help="also time the max-pool as lax.reduce_window",
    )
    parser.add_argument("--l2l-steps", type=int, default=20)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, 2 steps: checks the script runs, times nothing",
    )
    args = parser.parse_args()
    if args.malloc == "tuned":
        reexec_with_tuned_malloc()  # returns only once the tunable is in effect (or cannot be)
    elif "hugetlb" in os.environ.get("GLIBC_TUNABLES", ""):
        os.execve(sys.executable, sys.orig_argv, {**os.environ, "GLIBC_TUNABLES": ""})
    size = QUICK if args.quick else FULL
    if args.quick:
        args.steps, args.rounds, args.lax_steps, args.l2l_steps = 2, 1, 1, 1
    out_path = Path(
        args.out or f"benchmarks/results/omniglot_conv_step{'_quick' if args.quick else ''}.json"
    )

    family = random_family(size["ways"], size["shots"], size["queries"])
    specs = {f"{arch}/im2col": dict(conv_impl="im2col", arch=arch) for arch in ARCHITECTURES}
    specs["stride/im2col/loop"] = dict(conv_impl="im2col", arch="stride", task_chunk=-1)
    # exact TRLearner (Eq. 5 over every pair, in chunks of models: TRLearner.query_chunk auto)
    specs["stride/im2col/trlearner"] = dict(
        conv_impl="im2col", arch="stride", regularizers=(TRLearner(),)
    )
    if args.with_reduce_window:
        specs["max/im2col/reduce_window"] = dict(
            conv_impl="im2col", arch="max", pool_impl="reduce_window"
        )
    lax_specs = (
        {f"{arch}/lax": dict(conv_impl="lax", arch=arch) for arch in ARCHITECTURES}
        if args.with_lax
        else {}
    )

    l2l_batch = size["meta_batch"]
    shipped, tuned = {"GLIBC_TUNABLES": ""}, {"GLIBC_TUNABLES": HUGETLB_TUNABLE}
    l2l_before = None if args.no_l2l else learn2learn_step(args.l2l_steps, l2l_batch, shipped)
    l2l_tuned_before = (
        None
        if args.no_l2l or args.no_l2l_tuned
        else learn2learn_step(args.l2l_steps, l2l_batch, tuned)
    )
    variants = {}
    for name, spec in {**specs, **lax_specs}.items():
        variants[name] = compile_variant(
            family, size, warmup=1 if args.quick or name in lax_specs else 2, **spec
        )
        print(f"compiled {name} in {variants[name]['compile_s']:.1f}s", flush=True)
    time_interleaved({k: v for k, v in variants.items() if k in specs}, args.steps, args.rounds)
    if lax_specs:
        time_interleaved({k: v for k, v in variants.items() if k in lax_specs}, args.lax_steps, 1)
    ours = {name: summary(v) for name, v in variants.items()}
    for name, r in ours.items():
        print(
            f"{name:28s} compile {r['compile_s']:6.2f}s  median {r['median_step_s']:.3f}s  "
            f"min {r['min_step_s']:.3f}s  ({r['steps_timed']} steps)",
            flush=True,
        )

    result = {
        "config": (
            f"Omniglot {size['ways']}-way {size['shots']}-shot, {size['queries']} queries/class, "
            f"meta-batch {size['meta_batch']}, Conv4 width {size['width']}, transductive BN, "
            "1 inner step (lr 0.4), second-order MAML, Adam 1e-3; "
            "random images through the OmniglotFamily sampler"
        ),
        "quick": args.quick,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "jax": jax.__version__,
            "backend": jax.default_backend(),
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "cpu_affinity": sorted(os.sched_getaffinity(0)),
        },
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "architectures": {k: dict(v) for k, v in ARCHITECTURES.items()},
        "metareg": ours,
    }
    # the issue-36 goals as numbers: exact TRLearner's XLA peak over MAML's (goal <= 2), and our
    # best stride step over learn2learn's with the same (huge-page) allocator (goal <= 0.6)
    result["trlearner_peak_ratio"] = (
        ours["stride/im2col/trlearner"]["peak_bytes"] / ours["stride/im2col"]["peak_bytes"]
    )
    result["trlearner_step_ratio"] = (
        ours["stride/im2col/trlearner"]["median_step_s"] / ours["stride/im2col"]["median_step_s"]
    )
    if not args.no_l2l:
        model = (
            "learn2learn OmniglotCNN (stride-2 convs, BN, spatial mean), 20-way 1-shot, "
            "15 queries/class, width 64"
        )
        runs = {"learn2learn": (l2l_before, shipped)}
        if not args.no_l2l_tuned:
            runs["learn2learn_tuned_malloc"] = (l2l_tuned_before, tuned)
        for key, (before, env_extra) in runs.items():
            l2l = learn2learn_step(args.l2l_steps, l2l_batch, env_extra)
            if (
                "median_step_s" in l2l and before and "median_step_s" in before
            ):  # measured before and after ours
                l2l["runs_median_step_s"] = [before["median_step_s"], l2l["median_step_s"]]
                l2l["median_step_s"] = statistics.median(l2l["runs_median_step_s"])
            result[key] = {**l2l, "model": model, "env": env_extra or {}}
            if "median_step_s" in l2l:
                result[f"speedup_vs_{key}"] = {
                    name: l2l["median_step_s"] / r["median_step_s"] for name, r in ours.items()
                }
                print(
                    f"{key} median {l2l['median_step_s']:.3f}s; speed-up "
                    + ", ".join(f"{n} x{v:.2f}" for n, v in result[f"speedup_vs_{key}"].items())
                )
            else:
                print(f"{key}:", l2l["error"])
        if "speedup_vs_learn2learn_tuned_malloc" in result:  # step time over l2l's, both tuned
            best = min(ours[n]["median_step_s"] for n in ("stride/im2col", "stride/im2col/loop"))
            result["ratio_same_allocator"] = (
                best / result["learn2learn_tuned_malloc"]["median_step_s"]
            )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
