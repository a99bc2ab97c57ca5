"""benchmarks/parity (MetaMix Omniglot parity, issue 33): the report from fake outputs of both
implementations, the reference's input files, and the shell script's argument sets."""

from __future__ import annotations

import importlib.util
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import needs_data

REPO = Path(__file__).resolve().parents[1]
PARITY = REPO / "benchmarks" / "parity"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"parity_{name}", PARITY / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


compare = _module("compare")
make_data = _module("make_reference_data")

STEPS = (500, 1000, 1500, 2000)


def _ref_run(folder: Path, accs: dict, mix: bool) -> None:
    folder.mkdir(parents=True)
    test = ["Namespace(...)", "MetaMix.data_omniglot..."]
    test += [f"test_epoch is {s}, acc is {a}, ci95 is 0.01" for s, a in accs.items()]
    (folder / "test.log").write_text("\n".join(test + ["TEST_DONE 3 s"]) + "\n")
    loss = "tensor([2.5000], grad_fn=<AddBackward0>)" if mix else "tensor(2.5, grad_fn=<Div>)"
    train = [f"iter: 100, loss_all: {loss}, acc: tensor(0.5000)"]
    train += [f"iter: 200, loss_all: {loss}, acc: tensor(0.9900)"]
    (folder / "train.log").write_text("\n".join(train) + "\n")


def _ours_run(folder: Path, accs: dict, final: float) -> None:
    folder.mkdir(parents=True)
    rows = [{"step": 50, "loss": 3.0}]
    for s, a in accs.items():
        rows.append(
            {
                "step": s,
                "loss": 1.0,
                "curve/test/accuracy@10": a,
                "curve/test/accuracy@1": a - 0.05,
                "curve/train/accuracy@1": a + 0.05,
                "curve/train/accuracy@0": 0.2,
            }
        )
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "config.json").write_text(json.dumps({"learner": {"inner_steps": 1}}))
    results = {
        "metric": "accuracy@10",
        "mean": final,
        "ci95": 0.01,
        "num_tasks": 600,
        "steps": STEPS[-1],
        "step_time_s": 1.0,
    }
    (folder / "results.json").write_text(json.dumps(results))


def _fake_tree(root: Path, ours_shift: float = 0.0) -> None:
    """Three seeds; reference MAML 0.80/0.82/0.84, MetaMix +0.02/+0.03/+0.04; ours the same
    shifted by `ours_shift`."""
    for seed, base in enumerate((0.80, 0.82, 0.84)):
        for method, delta in (("maml", 0.0), ("metamix", 0.02 + 0.01 * seed)):
            acc = base + delta
            curve = {s: acc - 0.1 * (len(STEPS) - 1 - i) / 3 for i, s in enumerate(STEPS)}
            _ref_run(root / "reduced" / "ref" / method / f"seed_{seed}", curve, method != "maml")
            ours = {s: a + ours_shift for s, a in curve.items()}
            _ours_run(root / "reduced" / "ours" / method / f"seed_{seed}", ours, acc + ours_shift)


def test_report_from_fake_runs(tmp_path):
    _fake_tree(tmp_path / "runs")
    out = tmp_path / "docs" / "parity"
    compare.main(["report", "--root", str(tmp_path / "runs"), "--out", str(out)])
    doc = json.loads(out.with_suffix(".json").read_text())
    s = doc["configs"]["reduced"]
    ref, ours = s["impls"]["ref"], s["impls"]["ours"]
    assert ref["methods"]["maml"]["final"]["mean"] == pytest.approx(0.82)
    assert ref["methods"]["maml"]["final"]["n"] == 3
    # paired: deltas 0.02, 0.03, 0.04 -> mean 0.03, sd 0.01, t(0.975, 2) = 4.303
    assert ref["delta"]["mean"] == pytest.approx(0.03)
    assert ref["delta"]["ci95"] == pytest.approx(4.302653 * 0.01 / 3**0.5, rel=1e-5)
    assert ours["delta"]["mean"] == pytest.approx(0.03)
    assert ref["final_step"]["maml"] == [2000] and ours["final_step"]["maml"] == [2000]
    assert s["parity"] == {
        "maml_inside_ref_ci": True,
        "maml_difference": pytest.approx(0.0, abs=1e-12),
        "delta_inside_ref_ci": True,
        "parity": True,
    }
    # curves: four points per implementation and method
    assert sorted(ref["methods"]["metamix"]["curve"], key=int) == [str(x) for x in STEPS]
    regime = ours["methods"]["maml"]["regime"]["0"]
    assert regime["train@k"] == pytest.approx(0.85) and regime["test@k"] == pytest.approx(0.75)
    # the reference's train log: the second print is rescaled by 100/99
    ref_regime = ref["methods"]["maml"]["regime"]["0"]
    assert ref_regime["step"] == 200 and ref_regime["train_batch_acc"] == pytest.approx(1.0)
    md = out.with_suffix(".md").read_text()
    assert "**Parity: yes**" in md and "parity_reduced.png" in md
    assert (out.parent / "parity_reduced.png").stat().st_size > 0


def test_report_flags_a_shifted_implementation(tmp_path):
    _fake_tree(tmp_path / "runs", ours_shift=-0.10)
    out = tmp_path / "parity"
    compare.main(["report", "--root", str(tmp_path / "runs"), "--out", str(out), "--no-figures"])
    p = json.loads(out.with_suffix(".json").read_text())["configs"]["reduced"]["parity"]
    assert p["maml_inside_ref_ci"] is False and p["delta_inside_ref_ci"] is True
    assert p["parity"] is False
    assert "**Parity: no**" in out.with_suffix(".md").read_text()


def test_report_with_one_seed_has_no_ci_and_no_verdict(tmp_path):
    _ref_run(tmp_path / "runs/published/ref/maml/seed_0", {20: 0.3}, False)
    _ref_run(tmp_path / "runs/published/ref/metamix/seed_0", {20: 0.25}, True)
    _ours_run(tmp_path / "runs/published/ours/maml/seed_0", {20: 0.31}, 0.31)
    out = tmp_path / "parity"
    compare.main(["report", "--root", str(tmp_path / "runs"), "--out", str(out), "--no-figures"])
    s = json.loads(out.with_suffix(".json").read_text())["configs"]["published"]
    assert s["impls"]["ref"]["delta"]["mean"] == pytest.approx(-0.05)
    assert s["impls"]["ref"]["delta"]["ci95"] is None
    assert s["parity"]["maml_inside_ref_ci"] is None and s["parity"]["parity"] is None


def test_unfinished_runs_are_skipped(tmp_path):
    (tmp_path / "runs/reduced/ref/maml/seed_0").mkdir(parents=True)  # training, no test.log yet
    with pytest.raises(SystemExit, match="no finished parity runs"):
        compare.main(["report", "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "o")])


def test_estimate_sums_core_hours():
    c = {
        "ref": {
            "maml": {"cpu_median_s": 1.0},
            "metamix": {"cpu_median_s": 2.0},
            "test_task": {"cpu_median_s": 0.5},
        },
        "ours": {"maml": {"cpu_median_s": 0.5}},
    }
    e = compare.estimate(c, steps=2000, seeds=3)
    assert e["core_hours"]["ref_maml_train"] == pytest.approx(2000 * 3 / 3600, abs=0.01)
    assert e["core_hours"]["ref_metamix_test"] == pytest.approx(4 * 601 * 0.5 * 3 / 3600, abs=0.01)
    assert e["ref_core_hours"] == pytest.approx(
        2000 * 3 * 3 / 3600 + 2 * 4 * 601 * 0.5 * 3 / 3600, abs=0.1
    )
    assert "ours_metamix_train" not in e["core_hours"]


# --------------------------------------------------------------------- the reference's inputs


class _Family:
    def __init__(self, slots, sizes):
        self.train_slots, self.train_slot_sizes = slots, sizes


def test_slot_table_is_the_20_by_60_partition():
    perm = np.random.default_rng(0).permutation(1200)
    slots = np.stack([np.sort(perm[j::20]) for j in range(20)])
    table = make_data.slot_table(_Family(slots, np.full(20, 60)))
    assert table.dtype == np.int64 and table.shape == (20, 60)
    np.testing.assert_array_equal(table, slots)
    with pytest.raises(SystemExit, match="20 slots of 60"):
        make_data.slot_table(_Family(slots[:, :59], np.full(20, 59)))
    broken = slots.copy()
    broken[0, 0] = broken[0, 1]
    with pytest.raises(SystemExit, match="partition"):
        make_data.slot_table(_Family(broken, np.full(20, 60)))


def test_images_are_what_our_episodes_hold():
    u8 = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    import jax.numpy as jnp

    ours = np.asarray(jnp.asarray(u8).astype(jnp.float32) / 255.0)
    np.testing.assert_array_equal(make_data.as_float(u8), ours)


REAL_DATA = REPO.parent / "shared" / "data" / "omniglot" / "images_background.zip"


@needs_data(REAL_DATA.exists, f"Omniglot archives not in {REAL_DATA.parent}")
def test_reference_files_hold_our_training_split_and_slots(tmp_path):
    """The pickles the reference reads hold the classes and the slot partition our training
    builds for that seed (metareg.assemble.build)."""
    from metareg.assemble import build

    make_data.build(tmp_path, [1], None)
    folder = tmp_path / "seed_1" / "Omniglot"
    with open(folder / "omniglot_train_label_assign.pkl", "rb") as f:
        slots = pickle.load(f)
    with open(folder / "omniglot_train.pkl", "rb") as f:
        train = pickle.load(f)
    c = make_data.reference_config(1, None)
    family = build(c)[0]
    np.testing.assert_array_equal(slots, np.asarray(family.train_slots))
    assert train.shape == (1200, 20, 28, 28) and train.dtype == np.float32
    np.testing.assert_array_equal(train, make_data.as_float(np.asarray(family.train_images)))
    # bit for bit the pixels of our training episodes
    import jax

    key = jax.random.key(3)
    classes, drawers = (np.asarray(a) for a in family.sample_indices(key, 2))
    episodes = family.sample_train(key, 2)
    np.testing.assert_array_equal(
        np.asarray(episodes.support_x)[..., 0], train[classes, drawers[..., 0]]
    )
    np.testing.assert_array_equal(
        np.asarray(episodes.query_x)[..., 0], train[classes, drawers[..., 1]]
    )
    with open(folder / "omniglot_test.pkl", "rb") as f:
        assert pickle.load(f).shape == (423, 20, 28, 28)


# ------------------------------------------------------------------------------ the script


def _script(*args, env=None):
    return subprocess.run(
        ["bash", str(PARITY / "metamix_omniglot.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
    )


def test_script_refuses_an_unknown_config_and_names_the_fix(tmp_path):
    import os

    env = {**os.environ, "PARITY_WORK": str(tmp_path), "PARITY_RESULTS": str(tmp_path / "r")}
    r = _script("run", "tiny", "ours", "maml", "0", env=env)
    assert r.returncode != 0 and "unknown CONFIG 'tiny'" in r.stderr
    r = _script("run", "reduced", "ref", "maml", "0", env=env)
    assert r.returncode != 0 and "run" in r.stderr and "setup" in r.stderr
    env["PARITY_REF_GIT"] = str(tmp_path / "nowhere")
    r = _script("setup", env=env)
    assert r.returncode != 0 and "git clone https://github.com/huaxiuyao/MetaMix" in r.stderr
