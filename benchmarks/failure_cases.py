r"""Every bad input and fault we know of, tried through the CLI as a user would: exit code, the
message, whether a traceback shows, and whether the workdir was left as it was (issue 20's list).

    python benchmarks/failure_cases.py --out benchmarks/results/failure_cases.json \
        --markdown docs/failure_cases.md

Each case runs `python -m metareg.main` (or the `metareg` script) in a fresh temporary directory on
the quick sinusoid run (seconds). Repeated kills are the fault-injection test
(tests/test_faults.py), not repeated here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK = [
    "--config.num_steps=40",
    "--config.log_every=20",
    "--config.checkpoint_every=20",
    "--config.eval.num_tasks=10",
    "--config.eval.batch_size=10",
    "--config.progress_bar=False",
]


def metareg(*args, cwd, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "metareg.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def quick(workdir, *extra, experiment="sinusoid_maml:quick", cwd):
    return metareg(f"--config={experiment}", f"--workdir={workdir}", *QUICK, *extra, cwd=cwd)


def start_long_run(cwd, workdir: Path, ready: Path, **popen) -> subprocess.Popen:
    """A quick-sized run with 100,000 steps in `workdir`, started in the background; returns once
    `ready` exists (at most 120 s)."""
    run = subprocess.Popen(
        [sys.executable, "-m", "metareg.main", "--config=sinusoid_maml:quick",
         f"--workdir={workdir}", *QUICK[1:], "--config.num_steps=100000"],
        cwd=cwd, **popen,
    )  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and not ready.exists():
        time.sleep(0.1)
    return run


def snapshot(workdir: Path) -> dict:
    if not workdir.is_dir():
        return {}
    return {
        str(p.relative_to(workdir)): p.read_bytes()
        for p in sorted(workdir.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def flip_a_bit(step_dir: Path):
    data = max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    b = bytearray(data.read_bytes())
    b[len(b) // 2] ^= 0xFF
    data.write_bytes(bytes(b))


# name -> (setup(tmp, w) run before the command, command(tmp, w) -> CompletedProcess,
# expected outcome)
def cases():
    trained = lambda t, w: quick(w, cwd=t)  # noqa: E731 -- a finished 40-step run in w

    def second_writer(t, w):
        first = start_long_run(t, w, w / "config.json", stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
        out = quick(w, "--config.num_steps=100000", cwd=t)
        first.send_signal(signal.SIGKILL)
        first.wait()
        return out

    def all_unreadable(t, w):
        for d in (w / "checkpoints").iterdir():
            if d.name.isdigit():
                flip_a_bit(d)

    def corrupt_file(name, text):
        return lambda t, w: (trained(t, w), (w / name).write_text(text))

    yield (
        "unknown experiment",
        None,
        lambda t, w: metareg("--config=sinusoid_mam", f"--workdir={w}", cwd=t),
        "message",
    )
    yield (
        "unknown variant",
        None,
        lambda t, w: quick(w, experiment="omniglot_maml:fiveway", cwd=t),
        "message",
    )
    yield (
        "misspelt config field",
        None,
        lambda t, w: quick(w, "--config.num_step=5", cwd=t),
        "message",
    )
    yield (
        "value of the wrong type",
        None,
        lambda t, w: quick(w, "--config.num_steps=abc", cwd=t),
        "message",
    )
    yield (
        "unknown learner",
        None,
        lambda t, w: quick(w, "--config.learner.name=mamll", cwd=t),
        "message",
    )
    yield (
        "unknown regularizer",
        None,
        lambda t, w: quick(w, "--config.regularizers=('metamixx',)", cwd=t),
        "message",
    )
    yield (
        "max_checkpoints = 0",
        None,
        lambda t, w: quick(w, "--config.max_checkpoints=0", cwd=t),
        "message",
    )
    yield (
        "negative inner_lr",
        None,
        lambda t, w: quick(w, "--config.learner.inner_lr=-0.1", cwd=t),
        "message",
    )
    yield (
        "TRLearner with one task per meta-batch",
        None,
        lambda t, w: quick(
            w, "--config.regularizers=('trlearner',)", "--config.meta_batch_size=1", cwd=t
        ),
        "message",
    )
    yield (
        "more shots than a class has",
        None,
        lambda t, w: quick(
            w, "--config.task.num_shots=25", experiment="omniglot_maml:quick", cwd=t
        ),
        "message",
    )
    yield (
        "more ways than classes",
        None,
        lambda t, w: quick(w, "--config.task.ways=5000", experiment="omniglot_maml:quick", cwd=t),
        "message",
    )
    yield (
        "missing data dir",
        None,
        lambda t, w: quick(
            w, f"--config.data.dir={t / 'nowhere'}", experiment="omniglot_maml:quick", cwd=t
        ),
        "message",
    )
    yield (
        "more task devices than devices",
        None,
        lambda t, w: quick(w, "--config.mesh.task_devices=64", cwd=t),
        "message",
    )
    yield (
        "no --workdir",
        None,
        lambda t, w: metareg("--config=sinusoid_maml:quick", cwd=t),
        "message",
    )
    yield (
        "workdir is a file",
        lambda t, w: w.write_text("x"),
        lambda t, w: quick(w, cwd=t),
        "message",
    )
    yield (
        "resume with another seed",
        trained,
        lambda t, w: quick(w, "--config.seed=1", cwd=t),
        "message",
    )
    yield (
        "resume with another learner",
        trained,
        lambda t, w: quick(w, "--config.learner.name=fomaml", cwd=t),
        "message",
    )
    yield (
        "resume as another experiment",
        trained,
        lambda t, w: quick(w, experiment="harmonic_maml:quick", cwd=t),
        "message",
    )
    yield (
        "resume with fewer num_steps",
        trained,
        lambda t, w: quick(w, "--config.num_steps=20", cwd=t),
        "message",
    )
    yield (
        "resume with more num_steps",
        trained,
        lambda t, w: quick(w, "--config.num_steps=60", cwd=t),
        "resumes",
    )
    yield (
        "resume with other eval settings",
        trained,
        lambda t, w: quick(w, "--config.eval.num_tasks=12", cwd=t),
        "resumes",
    )
    yield (
        "second writer on the same workdir",
        None,
        second_writer,
        "message",
    )  # the first writer changes the workdir
    yield (
        "latest checkpoint has a flipped bit",
        lambda t, w: (trained(t, w), flip_a_bit(w / "checkpoints" / "40")),
        lambda t, w: quick(w, "--config.num_steps=60", cwd=t),
        "resumes",
    )
    yield (
        "latest checkpoint is an empty directory",
        lambda t, w: (
            trained(t, w),
            shutil.rmtree(w / "checkpoints" / "40"),
            (w / "checkpoints" / "40").mkdir(),
        ),
        lambda t, w: quick(w, "--config.num_steps=60", cwd=t),
        "resumes",
    )
    yield (
        "every checkpoint unreadable",
        lambda t, w: (trained(t, w), all_unreadable(t, w)),
        lambda t, w: quick(w, "--config.num_steps=60", cwd=t),
        "resumes",
    )

    def other_model(
        t, w
    ):  # the saved config says (8, 8) as the new one does: only the arrays disagree
        trained(t, w)
        saved = json.loads((w / "config.json").read_text())
        saved["model"]["hidden"] = [8, 8]
        (w / "config.json").write_text(json.dumps(saved))

    yield (
        "intact checkpoint of another model",
        other_model,
        lambda t, w: quick(w, "--config.model.hidden=(8,8)", cwd=t),
        "message",
    )
    yield (
        "checkpoints without config.json",
        lambda t, w: (trained(t, w), (w / "config.json").unlink()),
        lambda t, w: quick(w, cwd=t),
        "message",
    )
    yield (
        "config.json not JSON",
        corrupt_file("config.json", "{not json"),
        lambda t, w: quick(w, cwd=t),
        "message",
    )
    yield (
        "config.json with an unknown field",
        corrupt_file("config.json", '{"no_such_field": 1}'),
        lambda t, w: quick(w, cwd=t),
        "message",
    )
    yield (
        "torn last metrics line",
        corrupt_file("metrics.jsonl", '{"step": 20, "loss": 1.0}\n{"step": 40, "lo'),
        lambda t, w: quick(w, "--config.num_steps=60", cwd=t),
        "resumes",
    )
    yield (
        "progress.json not JSON",
        corrupt_file("progress.json", "{"),
        lambda t, w: quick(w, "--config.num_steps=60", cwd=t),
        "resumes",
    )
    yield (
        "results.json not JSON, evaluate again",
        corrupt_file("results.json", "{"),
        lambda t, w: metareg(
            "--config=sinusoid_maml:quick", f"--workdir={w}", "--mode=evaluate", *QUICK, cwd=t
        ),
        "resumes",
    )
    yield (
        "evaluate a run never trained",
        None,
        lambda t, w: metareg(
            "--config=sinusoid_maml:quick", f"--workdir={w}", "--mode=evaluate", *QUICK, cwd=t
        ),
        "message",
    )
    yield (
        "loss becomes NaN",
        None,
        lambda t, w: quick(w, "--config.optimizer.learning_rate=1e30", cwd=t),
        "message",
    )
    yield (
        "bad METAREG_CPU_MALLOC",
        None,
        lambda t, w: subprocess.run(
            [
                sys.executable,
                "-m",
                "metareg.main",
                "--config=sinusoid_maml:quick",
                f"--workdir={w}",
                *QUICK,
            ],
            cwd=t,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "METAREG_CPU_MALLOC": "banana"},
        ),
        "message",
    )

    def interrupted(t, w):
        run = start_long_run(t, w, w / "checkpoints" / "20", stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
        run.send_signal(signal.SIGINT)
        stdout, stderr = run.communicate(timeout=120)
        return subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr)

    yield (
        "evaluate with another learner than trained",
        trained,
        lambda t, w: metareg(
            "--config=sinusoid_maml:quick",
            f"--workdir={w}",
            "--mode=evaluate",
            *QUICK,
            "--config.learner.name=fomaml",
            cwd=t,
        ),  # fmt: skip
        "message",
    )
    yield (
        "resume from the workdir alone",
        lambda t, w: quick(w, "--config.learner.inner_lr=0.02", cwd=t),
        lambda t, w: subprocess.run(
            [
                Path(sys.executable).with_name("metareg"),
                "train",
                "--workdir",
                str(w),
                "--config.num_steps=60",
            ],
            cwd=t,
            capture_output=True,
            text=True,
            timeout=300,
        ),  # fmt: skip
        "resumes",
    )
    yield (
        "misspelt variant",
        None,
        lambda t, w: quick(w, experiment="sinusoid_maml:quik", cwd=t),
        "message",
    )
    yield (
        "negative TRLearner weight",
        None,
        lambda t, w: quick(
            w, "--config.regularizers=('trlearner',)", "--config.trlearner.weight=-1.0", cwd=t
        ),
        "message",
    )
    yield ("Ctrl-C while training", None, interrupted, "message")
    yield (
        "console script: unknown command",
        None,
        lambda t, w: subprocess.run(
            [Path(sys.executable).with_name("metareg"), "trian", "sinusoid_maml"],
            cwd=t,
            capture_output=True,
            text=True,
            timeout=60,
        ),
        "message",
    )


# Cases whose workdir changes by design: another process is training in it; a run that stops on NaN
# keeps its config and metrics (no checkpoint had been written: docs/design.md); an interrupted run
# keeps what it trained.
WORKDIR_CHANGES = ("second writer on the same workdir", "loss becomes NaN", "Ctrl-C while training")


def run_case(name, setup, command, expected) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        w = t / "run"
        if setup:
            setup(t, w)
        before = snapshot(w)
        start = time.perf_counter()
        out = command(t, w)
        lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
        error_lines = [
            line
            for line in lines
            if line.startswith(("error", "config error", "FATAL", "interrupted"))
        ]
        resumed = out.returncode == 0 and (w / "results.json").exists()
        outcome = (
            "resumes" if resumed else "message" if out.returncode != 0 and error_lines else "other"
        )
        return {
            "case": name,
            "expected": expected,
            "outcome": outcome,
            "ok": outcome == expected and "Traceback" not in out.stderr,
            "exit_code": out.returncode,
            "traceback": "Traceback" in out.stderr,
            "message": (
                error_lines or [line for line in lines if line.startswith("warning")] or [""]
            )[-1][:400],
            "workdir_unchanged": snapshot(w) == before
            if expected == "message" and name not in WORKDIR_CHANGES
            else None,
            "seconds": round(time.perf_counter() - start, 1),
        }


def markdown(results: list[dict]) -> str:
    rows = [
        "| # | case | outcome | exit | one line, no traceback | workdir unchanged "
        "| message (first 200 characters) |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(results, 1):
        unchanged = {True: "yes", False: "NO", None: "n/a"}[r["workdir_unchanged"]]
        message = r["message"][:200].replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")
        rows.append(
            f"| {i} | {r['case']} | {r['outcome']} | {r['exit_code']} "
            f"| {'yes' if not r['traceback'] else 'NO'} | {unchanged} | {message} |"
        )
    return (
        "# Failure cases, tried through the CLI\n\n"
        "Generated by `python benchmarks/failure_cases.py --markdown docs/failure_cases.md` "
        f'({sum(r["ok"] for r in results)}/{len(results)} as expected). "workdir unchanged" '
        "is n/a where the run resumes, where another process is training in the workdir, "
        "for the NaN stop (the run keeps its config and metrics) and for Ctrl-C (it keeps what it "
        "trained). "
        "Repeated SIGKILLs at every stage: tests/test_faults.py.\n\n" + "\n".join(rows) + "\n"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/failure_cases.json")
    parser.add_argument("--markdown", default=None)
    parser.add_argument("--only", default=None, help="substring of the case names to run")
    args = parser.parse_args()
    results = []
    for name, setup, command, expected in cases():
        if args.only and args.only not in name:
            continue
        results.append(run_case(name, setup, command, expected))
        r = results[-1]
        print(
            f"{'ok ' if r['ok'] else 'BAD'} {name}: exit {r['exit_code']}, {r['outcome']}; "
            f"{r['message'][:160]}",
            flush=True,
        )
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(results))
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
