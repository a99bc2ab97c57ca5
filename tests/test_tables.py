"""The omniglot / chembl / pose tables: cells from results.json files, paired claims, the papers'
numbers beside."""

import json

from metareg.analysis import tables


def _write(root, column, method, seed, metric, mean, extra=None):
    d = root / column / method / f"seed_{seed}"
    d.mkdir(parents=True)
    entry = {"mean": mean, "ci95": 0.01, "median": mean, **(extra or {})}
    (d / "results.json").write_text(
        json.dumps({"metric": metric, "steps": 2000, "metrics": {metric: entry}})
    )
    (d / "config.json").write_text(json.dumps({"meta_batch_size": 8}))


def test_omniglot_table_and_claims(tmp_path):
    for s, (base, reg, worse) in enumerate(
        [(0.80, 0.85, 0.70), (0.82, 0.86, 0.71), (0.81, 0.87, 0.69)]
    ):
        _write(tmp_path, "20way1shot_nme", "maml", s, "accuracy@5", base)
        _write(tmp_path, "20way1shot_nme", "maml_trlearner", s, "accuracy@5", reg)
        _write(tmp_path, "20way1shot_nme", "maml_metamix", s, "accuracy@5", worse)
    text = tables.omniglot_table(tables.collect(tmp_path))
    assert "| MAML | 81.00 ± 2.48 (n=3) | 2000 steps, T=8 | 87.15 ± 0.61 | 87.40 |" in text
    assert (
        "| 20way1shot_nme | MAML+TRLearner improves MAML | +5.00 ± 2.48 (seeds=3) | supported "
        "| TRLearner +7.08: consistent | TRLearner: differs by -6.15 (paper 87.15) |" in text
    )
    assert (
        "MAML+MetaMix improves MAML | -11.00 ± 2.48 (seeds=3) | contradicted "
        "| TRLearner +4.82: ruled out; MetaMix +4.42: ruled out |" in text
    )


def test_chembl_claims_on_counts_and_pose_lower_is_better(tmp_path):
    for s in range(3):
        counts = {"num_above_0.3": 100 + s, "fraction_above_0.3": (100 + s) / 200}
        _write(tmp_path / "c", "group0", "anil", s, "r2@5", 0.40 + 0.01 * s, counts)
        _write(tmp_path / "c", "group0", "anil+trlearner", s, "r2@5", 0.40 + 0.012 * s, counts)
        _write(tmp_path / "p", "k10", "maml", s, "mse_clean@20", 3.0 + 0.1 * s)
        _write(tmp_path / "p", "k10", "maml_metamix", s, "mse_clean@20", 2.0 + 0.1 * s)
    chembl = tables.chembl_table(tables.collect(tmp_path / "c"), None)
    assert "ANIL+TRLearner improves ANIL" in chembl and "inconclusive" in chembl
    pose = tables.pose_table(tables.collect(tmp_path / "p"))
    assert "| k10 | MAML+MetaMix improves MAML | -1.000 ± 0.000 (seeds=3) | supported |" in pose
    assert "3.113 / 2.496" in pose  # the TRLearner paper's MAML row beside ours
    assert (
        "| MAML+MetaMix improves MAML | k10 | -1.000 ± 0.000 (seeds=3) | supported |" in pose
    )  # pooled over shot counts (one here)


def test_pooled_claims_keep_the_seed_as_the_unit(tmp_path):
    """Over all groups: each seed's difference is its mean over the groups (df = seeds - 1, not
    groups x seeds - 1); a group without the backbone adds nothing, and a seed that misses a group
    is left out."""
    deltas = {
        ("group0", 0): -0.02,
        ("group0", 1): -0.03,
        ("group0", 2): -0.01,
        ("group1", 0): -0.01,
        ("group1", 1): -0.02,
        ("group1", 2): -0.03,
    }
    for (group, seed), delta in deltas.items():
        _write(tmp_path, group, "maml", seed, "r2@5", 0.4 + 0.05 * seed)
        _write(tmp_path, group, "maml+trlearner", seed, "r2@5", 0.4 + 0.05 * seed + delta)
    _write(tmp_path, "group2", "maml+trlearner", 0, "r2@5", 0.9)
    _write(tmp_path, "group0", "maml", 3, "r2@5", 0.5)  # seed 3 ran group 0 only
    _write(tmp_path, "group0", "maml+trlearner", 3, "r2@5", 0.1)
    lines = tables.pooled_claims(tables.collect(tmp_path), "r2@5", True)
    # per seed: -0.015, -0.025, -0.020: mean -0.020, sd 0.005, t(2) = 4.303: half-width 0.012
    assert lines[2] == (
        "| MAML+TRLearner improves MAML | group0, group1 | -0.020 ± 0.012 (seeds=3) "
        "| contradicted |"
    )


def test_t_ci95_uses_the_exact_student_t_quantile():
    from metareg.analysis.stats import t_ci95

    values = [0.0, 1.0] * 6  # n = 12, sd 0.522: t(11) = 2.201, not the normal 1.96
    assert abs(t_ci95(values) - 2.2010 * 0.5222329678670935 / 12**0.5) < 1e-4
    # n = 22 (df 21): 2.0796, between a table's 20 (2.086) and 25 (2.060) entries
    values = [0.0, 1.0] * 11
    assert abs(t_ci95(values) - 2.0796 * 0.511766315719159 / 22**0.5) < 1e-4
    assert abs(t_ci95([0.0, 1.0] * 200) - 1.9659 * 0.5006261743217588 / 400**0.5) < 1e-4


def test_omniglot_fit_rows_compare_training_loss_with_test_nll_at_the_training_inner_steps(
    tmp_path,
):
    for method, learner, key, test_nll in [
        ("maml", "maml", "nll@1", 0.9),
        ("protonet", "protonet", "nll@0", 0.3),
    ]:
        d = tmp_path / "20way1shot_nme" / method / "seed_0"
        d.mkdir(parents=True)
        # A decoy at another inner-step count: the row must use the training's own (1 for MAML, 0
        # for ProtoNet).
        metrics = {
            "accuracy@5": {"mean": 0.8, "ci95": 0.01},
            key: {"mean": test_nll},
            "nll@5": {"mean": 7.0},
        }
        (d / "results.json").write_text(
            json.dumps({"metric": "accuracy@5", "steps": 1000, "metrics": metrics})
        )
        (d / "config.json").write_text(
            json.dumps({"meta_batch_size": 8, "learner": {"name": learner, "inner_steps": 1}})
        )
        # Only steps after 800 count (the last 200): 0.4 and 0.6 -> 0.5; the early 5.0 is left out.
        lines = [
            {"step": 500, "query_loss": 5.0},
            {"step": 900, "query_loss": 0.4},
            {"step": 1000, "query_loss": 0.6},
        ]
        (d / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    text = tables.omniglot_table(tables.collect(tmp_path))
    assert "| 20way1shot_nme | MAML | 0.500 | 0.900 | +0.400 | 1 |" in text
    assert "| 20way1shot_nme | ProtoNet | 0.500 | 0.300 | -0.200 | 1 |" in text


def _write_curve(root, column, method, seed, test_error, train_before, reg_delta=0.0):
    """A run with results.json and a metrics.jsonl whose last curve point has the given errors."""
    _write(root, column, method, seed, "mse_clean@1", test_error + reg_delta, {"ci95": 0.1})
    d = root / column / method / f"seed_{seed}"
    (d / "config.json").write_text(
        json.dumps({"meta_batch_size": 10, "learner": {"inner_steps": 1}})
    )
    rows = [
        {"step": 100, "loss": 1.0},
        {"step": 1000, "loss": 1.0, "curve/train/mse_clean@0": 9.0},  # an early point, ignored
        {
            "step": 2000,
            "loss": 1.0,
            "curve/train/mse_clean@0": train_before,
            "curve/train/mse_clean@1": 0.05,
            "curve/test/mse_clean@1": test_error,
        },
    ]
    (d / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_nme_claims_carry_the_regime_beside_the_verdict(tmp_path):
    """k5: MAML solves training tasks without support (train@0 ~ 0.01) and fails the test (3.0):
    it memorizes. k10: no memorization, but it overfits. Either way the verdict is the CI's, and
    the regime stands beside it."""
    for s in range(3):
        _write_curve(tmp_path, "k5", "maml", s, 3.0 + 0.1 * s, 0.01)
        _write_curve(tmp_path, "k5", "maml+mr_maml", s, 3.0 + 0.1 * s, 0.5, reg_delta=-1.0)
        _write_curve(tmp_path, "k10", "maml", s, 1.0 + 0.1 * s, 1.0 + 0.1 * s)
        _write_curve(tmp_path, "k10", "maml+mr_maml", s, 1.0 + 0.1 * s, 1.0, reg_delta=-1.0)
    text = tables.nme_table(tables.collect(tmp_path))
    assert (
        "| k5 | MAML+MR-MAML improves MAML | -1.000 ± 0.000 (seeds=3) | supported "
        "| +3.090 ± 0.248 (seeds=3) | +3.050 ± 0.248 (seeds=3) |"
    ) in text
    # k10: no memorization, and its training tasks after adaptation (0.05) beat the test tasks
    # (1.0-1.2): overfits
    assert (
        "| k10 | MAML+MR-MAML improves MAML | -1.000 ± 0.000 (seeds=3) | supported "
        "| +0.000 ± 0.000 (seeds=3) | +1.050 ± 0.248 (seeds=3) |"
    ) in text
    assert (
        "| MAML | 3.100 ± 0.248 (n=3) | 0.010 ± 0.000 (n=3) | 0.050 ± 0.000 (n=3) "
        "| 3.100 ± 0.248 (n=3) |" in text
    )


def test_claims_where_the_backbone_neither_memorizes_nor_overfits_are_still_judged(tmp_path):
    """No regime gate: a backbone with no gap gets the CI's verdict like any other."""
    for s in range(3):  # test after adaptation == training tasks after adaptation
        _write_curve(tmp_path, "k5", "maml", s, 0.05 + 0.01 * s, 2.0)
        _write_curve(tmp_path, "k5", "maml+trlearner", s, 0.05 + 0.01 * s, 2.0, reg_delta=0.5)
    text = tables.regime_table(tables.collect(tmp_path), "Table 1")
    assert text.startswith("## Table 1: test mse_clean@1")
    assert "| k5 | MAML+TRLearner improves MAML | +0.500 ± 0.000 (seeds=3) | contradicted |" in text
    assert tables.regime(tables.collect(tmp_path)[("k5", "maml")], "mse_clean").state == (
        "no gap shown"
    )


def test_learning_curves_figure_from_curve_rows(tmp_path):
    from metareg.analysis import figures

    for s in range(2):
        _write_curve(tmp_path, "k5", "maml", s, 3.0, 0.01)
    figures.learning_curves(tmp_path, tmp_path / "curves.png", hlines={"paper": 0.6})
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_head_spread_is_zero_for_identical_heads_and_grows_with_their_difference():
    import numpy as np

    z = np.random.default_rng(0).normal(size=(6, 4))
    same = tables.head_spread(np.ones((4, 4)), z)
    assert same["weight_spread"] == 0 and same["relation_spread"] < 1e-6
    diverse = tables.head_spread(np.abs(np.random.default_rng(1).normal(size=(4, 4))) + 0.1, z)
    assert diverse["weight_spread"] > 0.3 and diverse["relation_spread"] > 0.05


def test_regime_of_an_accuracy_metric_is_judged_in_error_terms(tmp_path):
    """Omniglot: accuracy is higher-is-better, so the backbone overfits when its training tasks'
    accuracy after adaptation beats the test tasks', and a regularizer is supported when it raises
    test accuracy."""
    for s in range(3):
        for method, acc in (("maml", 0.85 + 0.01 * s), ("maml_metamix", 0.88 + 0.01 * s)):
            _write(tmp_path, "20way1shot_norot", method, s, "accuracy@5", acc)
            d = tmp_path / "20way1shot_norot" / method / f"seed_{s}"
            (d / "config.json").write_text(
                json.dumps({"meta_batch_size": 8, "learner": {"inner_steps": 1}})
            )
            row = {
                "step": 4000,
                "curve/train/accuracy@0": 0.2,
                "curve/train/accuracy@1": 0.91 + 0.01 * s,
                "curve/test/accuracy@1": acc,
            }
            (d / "metrics.jsonl").write_text(json.dumps(row) + "\n")
    text = tables.regime_table(tables.collect(tmp_path), "Omniglot")
    # memorization gap (error) = train@0 - test@k < 0: no; overfitting gap = train@k - test@k =
    # 0.06 > 0: overfits
    assert (
        "| 20way1shot_norot | MAML+MetaMix improves MAML | +0.030 ± 0.000 (seeds=3) | supported "
        "| -0.660 ± 0.025 (seeds=3) | +0.060 ± 0.000 (seeds=3) |"
    ) in text


def test_runs_stopped_before_their_final_evaluation_are_judged_at_a_curve_point(tmp_path):
    """collect_at_step: the curve point at the step every run reached stands in for results.json,
    and the regime columns read no later point (MAML seed 0 ran on to step 750, where it
    memorizes)."""
    for s in range(3):
        for method, acc in (("maml", 0.80 + 0.01 * s), ("maml_metamix", 0.70 + 0.01 * s)):
            d = tmp_path / "20way1shot_reference" / method / f"seed_{s}"
            d.mkdir(parents=True)
            config = {"meta_batch_size": 8, "learner": {"inner_steps": 5}}
            config["eval"] = {"curve_tasks": 100, "primary_inner_steps": 10}
            (d / "config.json").write_text(json.dumps(config))
            rows = [{"step": 250, "loss": 2.0}]
            for step, train_before in ((500, 0.05), (750, 0.90)):
                rows.append(
                    {
                        "step": step,
                        "curve/train/accuracy@0": train_before,
                        "curve/train/accuracy@5": acc,
                        "curve/test/accuracy@5": acc,
                        "curve/test/accuracy@10": acc + 0.01,
                    }
                )
            if method == "maml_metamix":
                rows = rows[:2]  # stopped before step 750
            (d / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cells = tables.collect_at_step(tmp_path, 500)
    run = cells[("20way1shot_reference", "maml")][0]
    assert run["metric"] == "accuracy@10" and run["metrics"]["accuracy@10"]["mean"] == 0.81
    assert run["metrics"]["accuracy@10"]["num_tasks"] == 100
    text = tables.regime_table(cells, "Omniglot")
    assert "on 100 fixed curve tasks per seed (the curve point at step 500" in text
    assert (
        "| MAML | 0.820 ± 0.025 (n=3) | 0.050 ± 0.000 (n=3) |" in text
    )  # train@0 of step 500, not 750
    assert "| -0.100 ± 0.000 (seeds=3) | contradicted | -0.760 ± 0.025 (seeds=3, 100 curve" in text
    assert not tables.collect_at_step(tmp_path, 750).get(("20way1shot_reference", "maml_metamix"))
