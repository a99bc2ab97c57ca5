"""learn2learn's second-order MAML outer step on the sinusoid MLP for several meta-batch sizes and
inner-step counts (the anchor ../shared/anchors/l2l_maml.py, parameterized). Run with the anchor's
python (bench_suite.py does): prints one JSON line per configuration.

    PYTHONPATH=<l2lenv>/stubs <l2lenv>/bin/python benchmarks/l2l_sweep.py --meta-batch 1,8,32 --inner-steps 1 --steps 30
"""

import argparse
import json
import statistics
import time

import learn2learn as l2l
import torch
import torch.nn as nn


def measure(tasks: int, inner_steps: int, steps: int, shots: int = 10, queries: int = 10) -> float:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))
    maml = l2l.algorithms.MAML(model, lr=0.01, first_order=False)
    opt = torch.optim.Adam(maml.parameters(), 1e-3)
    loss_fn = nn.MSELoss()

    def step():
        amp = torch.rand(tasks, 1, 1) * 4.9 + 0.1
        ph = torch.rand(tasks, 1, 1) * 3.14159
        x = torch.rand(tasks, shots + queries, 1) * 10 - 5
        y = amp * torch.sin(x + ph)
        opt.zero_grad()
        for i in range(tasks):
            learner = maml.clone()
            for _ in range(inner_steps):
                learner.adapt(loss_fn(learner(x[i, :shots]), y[i, :shots]))
            loss_fn(learner(x[i, shots:]), y[i, shots:]).backward()
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
    p.add_argument("--meta-batch", default="25")
    p.add_argument("--inner-steps", default="1")
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args()
    torch.set_num_threads(2)
    for t in map(int, args.meta_batch.split(",")):
        for s in map(int, args.inner_steps.split(",")):
            print(json.dumps({"meta_batch": t, "inner_steps": s, "median_step_s": measure(t, s, args.steps)}), flush=True)


if __name__ == "__main__":
    main()
