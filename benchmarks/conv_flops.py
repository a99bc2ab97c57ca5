"""Where the Omniglot Conv4 outer step's FLOPs go (issue 36).

XLA's cost analysis of the parts of one second-order MAML step on the stride net (20-way 1-shot, 15
queries, T = 16, width 64, one inner step), each compiled alone: the forward pass on the support and
query sets, the inner adaptation (support loss and its gradient), the meta-loss (adaptation + query
loss), its meta-gradient, and the whole step with Adam. Differences give the backward share. FLOPs
only: they do not depend on the machine's load; times need idle cores (bench_conv.py).

    python benchmarks/conv_flops.py [--out benchmarks/results/omniglot_conv_flops.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import jax
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_conv import FULL, random_family  # noqa: E402

from metareg import MetaObjective, init_train_state, meta_loss, meta_train_step  # noqa: E402
from metareg.learners import MAML  # noqa: E402
from metareg.models import conv4  # noqa: E402


def flops(fn, *args) -> float:
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get("flops", 0.0))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/omniglot_conv_flops.json")
    args = parser.parse_args()
    size = FULL
    family = random_family(size["ways"], size["shots"], size["queries"])
    model = conv4(family.ways, width=size["width"], conv_impl="im2col")
    learner = MAML(model, "cross_entropy", inner_lr=0.4, num_steps=1)
    objective = MetaObjective(learner, (), task_chunk=0)
    optimizer = optax.adam(1e-3)
    state = init_train_state(jax.random.key(1), objective, optimizer, family.example_episode())
    params = state.meta_params
    episodes = family.sample_train(jax.random.key(2), size["meta_batch"])
    T = size["meta_batch"]

    def forward(p, e):  # the network on both sets of every task, no gradient
        f = lambda x: model.apply(p["model"], x)  # noqa: E731
        return jax.vmap(f)(e.support_x).sum() + jax.vmap(f)(e.query_x).sum()

    def adapt(p, e):  # the inner step on every task: support loss and its gradient
        return jax.vmap(lambda ep: learner.adapt(p, ep.support_x, ep.support_y))(e)

    loss = functools.partial(meta_loss, objective=objective)
    parts = {
        "forward_support_and_query": flops(forward, params, episodes),
        "inner_adaptation": flops(adapt, params, episodes),
        "meta_loss": flops(lambda p, e: loss(p, e, jax.random.key(0))[0], params, episodes),
        "meta_gradient": flops(
            jax.grad(lambda p, e: loss(p, e, jax.random.key(0))[0]), params, episodes
        ),
        "outer_step_with_adam": flops(
            functools.partial(
                meta_train_step, objective=objective, optimizer=optimizer, meta_batch_size=T
            ),
            state,
            family,
            jax.random.key(2),
        ),
    }
    parts["backward_through_adaptation"] = parts["meta_gradient"] - parts["meta_loss"]
    result = {"config": {**size, "pool": "stride", "readout": "mean"}, "gflops": {
        k: v / 1e9 for k, v in parts.items()}}  # fmt: skip
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for k, v in result["gflops"].items():
        print(f"{k:30s} {v:8.1f} GFLOP")


if __name__ == "__main__":
    main()
