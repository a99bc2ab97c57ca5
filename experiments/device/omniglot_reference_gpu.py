"""The reference-protocol Omniglot cells (MAML, +MetaMix, +TRLearner, seeds 0-2) side by side on one
borrowed GPU until a wall-clock deadline (docs/reproduction_omniglot.md, "The reference protocol on
a GPU"): curve points every DEVICE_EVAL_EVERY steps land in each run's metrics.jsonl, and a snapshot
of every run (no checkpoints) goes to $OUT/runs.tar.gz every minute and at the end. If a run fails
in the first third of the time, every run restarts with the carried flax/optax/chex/orbax
(/tmp/site_fb) ahead of the machine's own.

    # 540 seconds of training, then stop and snapshot:
    python experiments/device/omniglot_reference_gpu.py 540

Then `python -m metareg.analysis.tables regime --root ... --at-step S` judges the
runs at a common curve point.
"""

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

T0 = time.time()
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.environ.get("OUT", "/tmp/out")
os.makedirs(OUT, exist_ok=True)
DEADLINE = float(sys.argv[1])  # seconds after start at which training stops
VARIANT = os.environ.get("DEVICE_VARIANT", "reference")
EVAL_EVERY = os.environ.get("DEVICE_EVAL_EVERY", "250")
ROOT = os.environ.get("DEVICE_ROOT", "/tmp/runs")
COLUMN = "20way1shot_reference"
CELLS = {
    "maml": "experiments/omniglot_maml.py",
    "maml_metamix": "experiments/omniglot_maml_metamix.py",
    "maml_trlearner": "experiments/omniglot_maml_trlearner.py",
}
SEEDS = [int(s) for s in os.environ.get("DEVICE_SEEDS", "0,1,2").split(",")]
LOG = open(os.path.join(OUT, "driver.log"), "a")


def say(msg):
    line = f"[{time.time() - T0:6.1f}s] {msg}"
    print(line, flush=True)
    LOG.write(line + "\n")
    LOG.flush()


def launch(extra_path):
    env = dict(
        os.environ,
        XLA_PYTHON_CLIENT_PREALLOCATE="false",
        PYTHONUNBUFFERED="1",
        METAREG_CPU_MALLOC="default",
    )
    env["PYTHONPATH"] = os.pathsep.join(
        [p for p in (extra_path, env.get("PYTHONPATH", ""), os.getcwd()) if p]
    )
    procs = {}
    for seed in SEEDS:
        for method, path in CELLS.items():
            wd = os.path.join(ROOT, COLUMN, method, f"seed_{seed}")
            shutil.rmtree(wd, ignore_errors=True)
            os.makedirs(wd)
            cmd = [
                sys.executable,
                os.path.join(HERE, "run_without_tfds.py"),
                f"--config={path}:{VARIANT}",
                f"--workdir={wd}",
                f"--config.seed={seed}",
                "--config.progress_bar=False",
                f"--config.experiment=omniglot_{method}_reference",
                f"--config.eval.every={EVAL_EVERY}",
                "--config.eval.curve_tasks=100",
                "--config.checkpoint_every=500",
            ]
            procs[(method, seed)] = subprocess.Popen(
                cmd,
                stdout=open(os.path.join(wd, "log.txt"), "w"),
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
    say(f"launched {len(procs)} runs (extra path {extra_path or 'none'})")
    return procs


def stop(procs):
    for p in procs.values():
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    t = time.time()
    while time.time() - t < 15 and any(p.poll() is None for p in procs.values()):
        time.sleep(0.5)
    for p in procs.values():
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)


def snapshot():
    tmp = os.path.join(OUT, ".runs.tar.gz")
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(
            ROOT,
            arcname="runs",
            filter=lambda ti: (
                None if ("/checkpoints" in ti.name or "/tensorboard" in ti.name) else ti
            ),
        )
    os.replace(tmp, os.path.join(OUT, "runs.tar.gz"))


def gpu_state():
    try:
        return subprocess.run(
            ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout.strip()
    except Exception as e:  # noqa: BLE001
        return f"nvidia-smi failed: {e}"


say(f"start; gpu {gpu_state()}; variant {VARIANT}; deadline {DEADLINE}s")
procs = launch("")
fallback_used = False
last_snap = time.time()
while time.time() - T0 < DEADLINE:
    time.sleep(5)
    failed = [k for k, p in procs.items() if p.poll() not in (None, 0)]
    if failed and not fallback_used and time.time() - T0 < DEADLINE / 3:
        k = failed[0]
        tail = open(os.path.join(ROOT, COLUMN, k[0], f"seed_{k[1]}", "log.txt")).read()[-3000:]
        say(
            f"{k} failed early (rc {procs[k].returncode}); log tail:\n{tail}\n"
            "retrying with the carried flax/optax/chex/orbax"
        )
        stop(procs)
        shutil.copytree(ROOT, os.path.join(ROOT + "_first_try"), dirs_exist_ok=True)
        procs = launch("/tmp/site_fb")
        fallback_used = True
    if all(p.poll() is not None for p in procs.values()):
        say("every run ended")
        break
    if time.time() - last_snap > 60:
        snapshot()
        last_snap = time.time()
        say(f"snapshot; gpu {gpu_state()}; running {sum(p.poll() is None for p in procs.values())}")
say("deadline: stopping")
stop(procs)
say("rcs " + ", ".join(f"{m}/s{s}={p.returncode}" for (m, s), p in procs.items()))
if os.path.exists(ROOT + "_first_try"):
    shutil.move(ROOT + "_first_try", os.path.join(ROOT, "_first_try"))
snapshot()
say("done")
