"""Tuning on validation tasks: disjoint from the test tasks, the best validation mean
wins, test numbers unused."""

import json

import numpy as np

from metareg import tune
from metareg.evaluate import sample_test_episodes
from metareg.rng import named_key, root_key
from metareg.train import train_and_evaluate
from metareg.workdir import restore_run


def test_selection_uses_validation_tasks_only(tmp_path, quick_config):
    quick_config.learner.name = "anil"
    for lr in (0.001, 0.3):
        quick_config.learner.inner_lr = lr
        train_and_evaluate(quick_config, tmp_path / "k5" / f"lr{lr:g}" / "seed_0")
    run = tmp_path / "k5" / "lr0.3" / "seed_0"
    config, family, _, _ = restore_run(run)
    val = tune.validation_episodes(config, family, 20)
    test = sample_test_episodes(family, named_key(root_key(config.seed), "test"), 20)
    assert not np.allclose(np.asarray(val.query_x), np.asarray(test.query_x))  # another task set
    # tamper with the test numbers: the choice must not move
    for path in tmp_path.glob("k5/*/seed_0/results.json"):
        r = json.loads(path.read_text())
        r["metrics"] = {
            k: {**v, "mean": 0.0 if "lr0.001" in str(path) else 99.0}
            for k, v in r["metrics"].items()
        }
        path.write_text(json.dumps(r))
    result = tune.select(tmp_path, "learner.inner_lr", num_tasks=20)["k5"]
    means = {v: e["mean"] for v, e in result["values"].items()}
    assert set(means) == {"0.001", "0.3"} and result["best"] == min(means, key=means.get)
    direct = tune.validate_run(run, 20)["metrics"]["mse_clean@1"]["mean"]
    assert means["0.3"] == direct  # the validation mean, recomputed from the checkpoint
    assert 0 <= result["values"]["0.3"]["fraction_above_2"][0] <= 1
