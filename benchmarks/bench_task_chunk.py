"""Outer-step time of the issue-4 Conv4 MAML step (20-way 1-shot, 15 queries, T = 16, stride-2
im2col) by task execution (`task_chunk`: 0 = vmap, -1 = unrolled loop, c = lax.map over groups of
c), printed per variant.

    taskset -c 0 python benchmarks/bench_task_chunk.py 0,1,4,-1 [timed steps, default 6]
"""

import functools
import sys
from pathlib import Path

import jax
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_conv import ARCHITECTURES, FULL, random_family  # noqa: E402
from common import compile_step, summary, time_interleaved  # noqa: E402

from metareg.learners import MAML  # noqa: E402
from metareg.meta_step import MetaObjective, init_train_state, meta_train_step  # noqa: E402
from metareg.models import conv4  # noqa: E402

chunks = [int(c) for c in sys.argv[1].split(",")]
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 6
size = FULL
family = random_family(size["ways"], size["shots"], size["queries"])
variants = {}
for c in chunks:
    model = conv4(family.ways, width=size["width"], conv_impl="im2col", **ARCHITECTURES["stride"])
    objective = MetaObjective(MAML(model, "cross_entropy", inner_lr=0.4, num_steps=1), task_chunk=c)
    opt = optax.adam(1e-3)
    state = init_train_state(jax.random.key(1), objective, opt, family.example_episode())
    outer = functools.partial(
        meta_train_step, objective=objective, optimizer=opt, meta_batch_size=size["meta_batch"]
    )
    step = jax.jit(outer, donate_argnums=0)
    variants[f"chunk={c}"] = compile_step(step, state, family, jax.random.key(2), 1)
    print(
        c,
        "compiled",
        round(variants[f"chunk={c}"]["compile_s"], 1),
        variants[f"chunk={c}"]["peak_bytes"],
        flush=True,
    )
time_interleaved(variants, steps, 2)
for k, v in variants.items():
    s = summary(v)
    print(k, {a: (round(b, 3) if isinstance(b, float) else b) for a, b in s.items()})
