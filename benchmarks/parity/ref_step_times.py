"""Outer-step time of the (patched) MetaMix reference, measured without touching its code.

Runs the reference's own `main.py` (its training loop, data loader and test loop) in this process
with `torch.optim.Adam.step` wrapped to record a timestamp per call; the time between consecutive
optimizer steps is one whole outer step of the reference's loop (task sampling, the meta-batch's
inner loops, the outer backward and the update). In test mode (`--train=0`) `MAML.forward` is
wrapped instead: the time between consecutive test tasks. Both wall-clock and this process's CPU
time are recorded: on a loaded machine the CPU time (with one thread) is the cost of the step.

    ../parity/venv/bin/python benchmarks/parity/ref_step_times.py --ref ../parity/ref/omniglot \
        --out times.json -- --datasource=omniglot --metatrain_iterations=20 ...

Run it with the reference venv's Python (torch), not the project's. The JSON holds every interval
and the median after `--skip` warm-up intervals.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import statistics
import sys
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ref", required=True, help="the reference's omniglot/ folder (patched)")
    p.add_argument("--out", required=True, help="JSON to write")
    p.add_argument("--skip", type=int, default=2, help="warm-up intervals left out of the median")
    p.add_argument("args", nargs=argparse.REMAINDER, help="-- then main.py's arguments")
    a = p.parse_args()
    ref_args = a.args[1:] if a.args[:1] == ["--"] else a.args
    ref = os.path.abspath(a.ref)
    sys.path.insert(0, ref)
    import torch  # noqa: E402  (the reference venv's)

    stamps: list[float] = []  # wall clock
    cpu: list[float] = []  # this process's CPU time (all threads): unaffected by other load
    testing = "--train=0" in ref_args
    if testing:
        import maml as ref_maml  # noqa: E402

        forward = ref_maml.MAML.forward

        def timed_forward(self, *args, **kwargs):
            out = forward(self, *args, **kwargs)
            stamps.append(time.perf_counter())
            cpu.append(time.process_time())
            return out

        ref_maml.MAML.forward = timed_forward
    else:
        step = torch.optim.Adam.step

        def timed_step(self, *args, **kwargs):
            out = step(self, *args, **kwargs)
            stamps.append(time.perf_counter())
            cpu.append(time.process_time())
            return out

        torch.optim.Adam.step = timed_step
    sys.argv = [os.path.join(ref, "main.py"), *ref_args]
    t0 = time.perf_counter()
    cwd = os.getcwd()
    os.chdir(ref)
    try:
        runpy.run_path("main.py", run_name="__main__")
    finally:
        os.chdir(cwd)
    wall = time.perf_counter() - t0
    intervals = [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)]
    kept = intervals[a.skip :] or intervals
    cpu_intervals = [b - a for a, b in zip(cpu[:-1], cpu[1:], strict=True)]
    cpu_kept = cpu_intervals[a.skip :] or cpu_intervals
    result = {
        "what": "test task" if testing else "outer step",
        "args": ref_args,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "count": len(stamps),
        "median_s": statistics.median(kept) if kept else None,
        "mean_s": statistics.fmean(kept) if kept else None,
        "cpu_median_s": statistics.median(cpu_kept) if cpu_kept else None,
        "cpu_mean_s": statistics.fmean(cpu_kept) if cpu_kept else None,
        "intervals_s": intervals,
        "cpu_intervals_s": cpu_intervals,
        "wall_s": wall,
    }
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if not k.endswith("intervals_s")}))


if __name__ == "__main__":
    main()
