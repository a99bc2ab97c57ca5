r"""learn2learn's second-order MAML outer step for several meta-batch sizes and inner-step counts
(the anchor ../shared/anchors/l2l_maml.py, parameterized), on the sinusoid MLP or its Omniglot CNN.
Run with the anchor's python (bench_suite.py does): prints one JSON line per configuration.

    PYTHONPATH=<l2lenv>/stubs <l2lenv>/bin/python benchmarks/l2l_sweep.py \
        --meta-batch 1,8,32 --inner-steps 1 --steps 30
    ... l2l_sweep.py --shape omniglot --queries 1 \
        --meta-batch 1,2,4,8,16   # 20-way 1-shot, like bench_suite's shape
"""

import argparse
import json
import statistics
import time

import learn2learn as l2l
import torch
import torch.nn as nn


def sinusoid(tasks: int, shots: int = 10, queries: int = 10):
    model = nn.Sequential(
        nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1)
    )

    def batch():
        amp = torch.rand(tasks, 1, 1) * 4.9 + 0.1
        ph = torch.rand(tasks, 1, 1) * 3.14159
        x = torch.rand(tasks, shots + queries, 1) * 10 - 5
        y = amp * torch.sin(x + ph)
        return x[:, :shots], y[:, :shots], x[:, shots:], y[:, shots:]

    return model, batch, nn.MSELoss(), 0.01


def omniglot(tasks: int, queries: int, ways: int = 20, shots: int = 1):
    """The anchor's Omniglot setting (OmniglotCNN, inner lr 0.4) with `queries` per class; random
    images (the step's cost does not depend on the pixels)."""
    model = l2l.vision.models.OmniglotCNN(output_size=ways)

    def batch():
        xs = torch.randn(tasks, ways * shots, 1, 28, 28)
        xq = torch.randn(tasks, ways * queries, 1, 28, 28)
        ys = torch.arange(ways).repeat_interleave(shots).expand(tasks, -1)
        yq = torch.arange(ways).repeat_interleave(queries).expand(tasks, -1)
        return xs, ys, xq, yq

    return model, batch, nn.CrossEntropyLoss(), 0.4


def measure(shape: str, tasks: int, inner_steps: int, steps: int, queries: int) -> float:
    torch.manual_seed(0)
    model, batch, loss_fn, inner_lr = (
        sinusoid(tasks) if shape == "sinusoid" else omniglot(tasks, queries)
    )
    maml = l2l.algorithms.MAML(model, lr=inner_lr, first_order=False)
    opt = torch.optim.Adam(maml.parameters(), 1e-3)

    def step():
        xs, ys, xq, yq = batch()
        opt.zero_grad()
        for i in range(tasks):
            learner = maml.clone()
            for _ in range(inner_steps):
                learner.adapt(loss_fn(learner(xs[i]), ys[i]))
            loss_fn(learner(xq[i]), yq[i]).backward()
        for p in maml.parameters():
            p.grad.data.mul_(1.0 / tasks)
        opt.step()

    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", choices=("sinusoid", "omniglot"), default="sinusoid")
    p.add_argument("--meta-batch", default="25")
    p.add_argument("--inner-steps", default="1")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--queries", type=int, default=1, help="queries per class (omniglot)")
    args = p.parse_args()
    torch.set_num_threads(2)
    for t in map(int, args.meta_batch.split(",")):
        for s in map(int, args.inner_steps.split(",")):
            row = {
                "meta_batch": t,
                "inner_steps": s,
                "median_step_s": measure(args.shape, t, s, args.steps, args.queries),
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
