"""The one verdict rule (metareg.analysis.stats.judge), pinned with synthetic numbers and runs: the
seed as the unit when pooling, divergence as an outcome, the paper's effect inside and outside our
CI, the baseline's match, two regularizers judged on their own paired difference, and a verdict
that does not move with the number of curve tasks."""

import json

import jax
import numpy as np
import pytest

from metareg.analysis import report, stats, tables
from metareg.confidence import seed_ci95, t975


def test_t_quantiles_and_the_seed_ci_by_hand():
    # Student t 97.5% quantiles from statistical tables
    for df, t in ((1, 12.7062), (2, 4.3027), (4, 2.7764), (21, 2.0796), (120, 1.9799)):
        assert abs(t975(df) - t) < 1e-4
    with pytest.raises(ValueError, match="df >= 1"):
        t975(0)
    v = [0.1, 0.4, 0.2]
    assert abs(seed_ci95(v) - 4.3027 * np.std(v, ddof=1) / np.sqrt(3)) < 1e-4
    assert np.isnan(seed_ci95([0.3]))


def test_one_shared_seed_is_too_few_and_two_get_the_t_quantile_at_one_df():
    """The t rule at its edges: with one seed both ran, no CI and the verdict "too few seeds" (the
    other seeds of each side do not pair); with two, the CI is t(0.975, df=1) = 12.7062 times
    sd / sqrt(2), i.e. 12.7062 |d1 - d2| / 2, wide enough here to leave the claim inconclusive
    (with df = 2, 4.3027, it would read supported)."""
    j = stats.judge({0: 0.5, 1: 0.4}, {0: 0.6, 2: 0.7}, higher_is_better=False)
    assert j.verdict == "too few seeds" and j.delta.n == 1 and np.isnan(j.delta.ci)
    assert abs(j.delta.mean + 0.1) < 1e-12 and j.delta.text() == "-0.100 (1 seed, no CI)"
    assert j.method.n == 2 and j.base.n == 2  # each side's own estimate keeps all its seeds
    j = stats.judge({0: 0.5, 1: 0.45}, {0: 0.6, 1: 0.6}, higher_is_better=False)
    assert j.delta.n == 2 and abs(j.delta.mean + 0.125) < 1e-12
    assert abs(j.delta.ci - 12.7062 * 0.05 / 2) < 1e-4
    assert j.verdict == "inconclusive"
    assert (
        abs(stats.estimate([1.0, 2.0, 4.0]).ci - 4.3027 * np.std([1, 2, 4], ddof=1) / 3**0.5) < 1e-3
    )


def test_verdicts_from_the_paired_difference():
    base = {0: 1.0, 1: 1.2, 2: 0.9}
    better = {s: v - 0.1 - 0.01 * s for s, v in base.items()}  # Δ -0.11 ± 0.025
    worse = {s: v + 0.1 + 0.01 * s for s, v in base.items()}
    noise = {0: 1.05, 1: 1.15, 2: 0.92}
    assert stats.judge(better, base, higher_is_better=False).verdict == "supported"
    assert stats.judge(worse, base, higher_is_better=False).verdict == "contradicted"
    assert stats.judge(noise, base, higher_is_better=False).verdict == "inconclusive"
    assert stats.judge(better, base, higher_is_better=True).verdict == "contradicted"
    j = stats.judge({0: 0.5}, {0: 0.9, 1: 0.8}, higher_is_better=False)
    assert j.verdict == "too few seeds" and j.delta.n == 1 and not j.delta.has_ci
    d = stats.judge(better, base, higher_is_better=False).delta
    diffs = [-0.10, -0.11, -0.12]
    assert d.n == 3 and abs(d.mean + 0.11) < 1e-12
    assert abs(d.ci - 4.3027 * np.std(diffs, ddof=1) / np.sqrt(3)) < 1e-4


def test_the_papers_effect_inside_and_outside_our_ci_and_the_baseline_match():
    base = {0: 0.60, 1: 0.62, 2: 0.58}
    x = {0: 0.55, 1: 0.58, 2: 0.52}  # Δ -0.05 ± 0.0248 over [-0.075, -0.025]
    inside = stats.judge(x, base, higher_is_better=False, paper=(0.55, 0.593))  # paper Δ -0.043
    assert inside.paper_effect == "consistent" and inside.baseline_match is True
    assert inside.baseline_text() == "matches (0.593 in our CI)"
    outside = stats.judge(x, base, higher_is_better=False, paper=(0.40, 0.593))  # paper Δ -0.193
    assert outside.paper_effect == "ruled out"
    far = stats.judge(x, base, higher_is_better=False, paper=(0.30, 0.40))
    assert far.baseline_match is False and far.baseline_text() == "differs by +0.200 (paper 0.400)"
    assert stats.judge(x, base, higher_is_better=False).paper_effect is None
    # the effect test needs a CI: one seed gives none
    assert (
        stats.judge({0: 0.5}, {0: 0.6}, higher_is_better=False, paper=(0.4, 0.6)).paper_effect
        is None
    )


def test_no_difference_from_or_against_a_diverged_seed():
    base = {0: 0.6, 1: 0.6, 2: 0.6}
    x = {0: 0.5, 1: 0.5, 2: 0.5}
    j = stats.judge(x, base, higher_is_better=False, base_diverged={0})
    assert j.verdict == "diverged" and j.delta is None and j.base is None
    assert j.base_diverged == (1, 3) and j.prevents_divergence
    assert "prevents divergence" in j.verdict_text()
    j = stats.judge(x, base, higher_is_better=False, method_diverged={1, 2}, base_diverged={0})
    assert j.verdict == "diverged" and not j.prevents_divergence
    assert j.verdict_text() == "diverged (X in 2/3 seeds; baseline in 1/3 seeds)"
    j = stats.judge(x, base, higher_is_better=False, paper=(0.4, 0.6), base_diverged={2})
    assert j.paper_effect is None and j.baseline_text() == "diverged"


def test_a_seed_diverges_on_non_finite_tasks_or_an_error_beyond_the_documented_multiple():
    limit = stats.DIVERGENCE_MULTIPLE * stats.FUNCTION_VARIANCE["sinusoid_w1"]
    ok = {"mean": limit * 0.99, "num_nonfinite": 0}
    assert not stats.diverged(ok, "mse_clean@10", "sinusoid_w1")
    assert stats.diverged({"mean": limit * 1.01}, "mse_clean@10", "sinusoid_w1")
    assert stats.diverged({"mean": 0.3, "num_nonfinite": 1}, "mse_clean@1", "sinusoid_w1")
    assert stats.diverged({"mean": float("inf")}, "accuracy@5", "omniglot")
    # bounded metrics diverge only by non-finite tasks; unknown families only so too
    assert not stats.diverged({"mean": 50.0}, "accuracy@5", "omniglot")
    assert not stats.diverged({"mean": 50.0}, "mse_clean@1", "some_new_family")


@pytest.mark.parametrize("name", ["sinusoid", "sinusoid_w1", "sinusoid_nme", "harmonic"])
def test_function_variance_matches_the_familys_own_test_distribution(name):
    from metareg.tasks.regression import regression_family

    family = regression_family(name, jax.random.key(0), num_shots=5, num_queries=20)
    clean = np.asarray(family.sample_test(jax.random.key(1), 50_000).query_y_clean)
    assert abs(clean.var() / stats.FUNCTION_VARIANCE[name] - 1) < 0.02


def test_pooling_keeps_the_seed_as_the_unit():
    groups = [{0: 1.0, 1: 2.0, 2: 3.0}, {0: 3.0, 1: 4.0, 2: 5.0, 3: 9.0}]
    assert stats.pool(groups) == {0: 2.0, 1: 3.0, 2: 4.0}  # seed 3 misses group 0: left out
    assert stats.pool([]) == {}


def _run(root, column, method, seed, value, curve=None, task="sinusoid_w1", curve_tasks=100):
    d = root / column / method / f"seed_{seed}"
    d.mkdir(parents=True)
    entry = {"mean": value, "ci95": 0.01, "median": value, "num_tasks": 600, "num_nonfinite": 0}
    (d / "results.json").write_text(
        json.dumps(
            {
                "metric": "mse_clean@1",
                "metrics": {"mse_clean@1": entry},
                "steps": 1000,
                "step_time_s": 1e-3,
                "task": task,
            }
        )
    )
    (d / "config.json").write_text(
        json.dumps({"learner": {"inner_steps": 1}, "eval": {"curve_tasks": curve_tasks}})
    )
    if curve:
        row = {"step": 1000, "curve/train/mse_clean@0": curve[0]}
        row |= {"curve/train/mse_clean@1": curve[1], "curve/test/mse_clean@1": curve[2]}
        (d / "metrics.jsonl").write_text(json.dumps(row) + "\n")


def test_two_regularizers_are_judged_on_their_own_paired_difference(tmp_path):
    """TRLearner beats MetaMix by a steady 0.05 while both swing with a noisy backbone: the claim
    is supported on its own pairs, whatever the backbone does."""
    noise = [0.0, 0.4, -0.3]
    for s, e in enumerate(noise):
        _run(tmp_path, "sinusoid_w1/k5", "maml", s, 0.6 + 0.5 * e * (-1) ** s)
        _run(tmp_path, "sinusoid_w1/k5", "maml+metamix", s, 0.6 + e)
        _run(tmp_path, "sinusoid_w1/k5", "maml+trlearner", s, 0.55 + e + 0.001 * s)
    cells = report.collect(tmp_path)
    key = ("sinusoid_w1", 5)
    j = report.judgement(cells, (*key, "maml+trlearner"), (*key, "maml+metamix"), "mse_clean@1")
    assert j.verdict == "supported"
    assert report.judgement(
        cells, (*key, "maml+trlearner"), (*key, "maml"), "mse_clean@1"
    ).verdict == ("inconclusive")
    text = report.layout_markdown(cells, "table1", ["mse_clean@1"])
    assert (
        "| MAML | Sin (w=1), 5-shot | TRLearner beats MetaMix | -0.049 ± 0.002 (seeds=3) "
        "| supported |" in text
    )


@pytest.mark.parametrize("curve_tasks, spread", [(100, 0.3), (200, 0.01)])
def test_the_verdict_does_not_move_with_the_number_of_curve_tasks(tmp_path, curve_tasks, spread):
    """The same runs with a noisy (100 curve tasks) or a precise (200) overfitting gap: the regime
    column changes, the verdict does not."""
    for s in range(3):
        gap = 0.05 + spread * (s - 1)
        curve = (3.0, 0.5, 0.5 + gap)
        _run(tmp_path, "k5", "maml", s, 0.6 + 0.01 * s, curve, curve_tasks=curve_tasks)
        _run(tmp_path, "k5", "maml+trlearner", s, 0.7 + 0.01 * s, curve, curve_tasks=curve_tasks)
    cells = tables.collect(tmp_path)
    r = tables.regime(cells[("k5", "maml")], "mse_clean")
    assert r.curve_tasks == curve_tasks
    assert r.state == ("overfits" if spread < 0.1 else "no gap shown")
    text = tables.regime_table(cells, "T")
    assert "| k5 | MAML+TRLearner improves MAML | +0.100 ± 0.000 (seeds=3) | contradicted |" in text
    assert f"{curve_tasks} curve tasks" in text


def test_a_diverged_baseline_gives_no_difference_in_any_table(tmp_path):
    """T-Net seed 0 blows up (2.5e16): no Δ against it, the cell shows the count and the median,
    and the regularizer that stays finite is said to prevent the divergence."""
    for s, v in enumerate((2.5e16, 1.079, 0.284)):
        _run(tmp_path, "sinusoid_w1/k5", "tnet", s, v)
        _run(tmp_path, "sinusoid_w1/k5", "tnet+metamix", s, 0.2 + 0.01 * s)
    cells = report.collect(tmp_path)
    summary = report.summarize(cells, "mse_clean@1")
    row = summary["sinusoid_w1/k5/tnet"]
    assert row["mean"] is None and row["diverged_seeds"] == [0]
    assert report.format_cell(row) == "diverged in 1/3 seeds (median over seeds 1.079)"
    vs = summary["sinusoid_w1/k5/tnet+metamix"]["vs_backbone"]
    assert vs["verdict"] == "diverged" and vs["delta"] is None and vs["prevents_divergence"]
    text = report.layout_markdown(cells, "table1", ["mse_clean@1"])
    assert "-8277020918169163" not in text and "inf" not in text.replace("inference", "")
    assert "diverged (baseline in 1/3 seeds; X in none: prevents divergence)" in text
    assert "| T-Net | Sin (w=1), 5-shot | 0.564 | diverged in 1/3 seeds" in text


def test_a_single_seed_cell_shows_no_ci_over_test_tasks(tmp_path):
    _run(tmp_path, "k10", "maml", 0, 0.5)
    assert tables.cell(tables.collect(tmp_path)[("k10", "maml")], None) == "0.500 (1 seed, no CI)"
