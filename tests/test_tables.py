"""The omniglot / chembl / pose tables: cells from results.json files, paired claims, the papers' numbers beside."""

import json

from metareg import tables


def _write(root, column, method, seed, metric, mean, extra=None):
    d = root / column / method / f"seed_{seed}"
    d.mkdir(parents=True)
    entry = {"mean": mean, "ci95": 0.01, "median": mean, **(extra or {})}
    (d / "results.json").write_text(json.dumps({"metric": metric, "steps": 2000, "metrics": {metric: entry}}))
    (d / "config.json").write_text(json.dumps({"meta_batch_size": 8}))


def test_omniglot_table_and_claims(tmp_path):
    for s, (base, reg, worse) in enumerate([(0.80, 0.85, 0.70), (0.82, 0.86, 0.71), (0.81, 0.87, 0.69)]):
        _write(tmp_path, "20way1shot_nme", "maml", s, "accuracy@5", base)
        _write(tmp_path, "20way1shot_nme", "maml_trlearner", s, "accuracy@5", reg)
        _write(tmp_path, "20way1shot_nme", "maml_metamix", s, "accuracy@5", worse)
    text = tables.omniglot_table(tables.collect(tmp_path))
    assert "| MAML | 81.00 ± 2.48 (n=3) | 2000 steps, T=8 | 87.15 ± 0.61 | 87.40 |" in text
    assert "| 20way1shot_nme | MAML+TRLearner improves MAML | 5.00 ± 2.48 (seeds=3) | supported |" in text
    assert "MAML+MetaMix improves MAML | -11.00 ± 2.48 (seeds=3) | contradicted |" in text


def test_chembl_claims_on_counts_and_pose_lower_is_better(tmp_path):
    for s in range(3):
        _write(tmp_path / "c", "group0", "anil", s, "r2@5", 0.40 + 0.01 * s, {"num_above_0.3": 100 + s})
        _write(tmp_path / "c", "group0", "anil+trlearner", s, "r2@5", 0.40 + 0.012 * s, {"num_above_0.3": 100 + s})
        _write(tmp_path / "p", "k10", "maml", s, "mse_clean@20", 3.0 + 0.1 * s)
        _write(tmp_path / "p", "k10", "maml_metamix", s, "mse_clean@20", 2.0 + 0.1 * s)
    chembl = tables.chembl_table(tables.collect(tmp_path / "c"), None)
    assert "ANIL+TRLearner improves ANIL" in chembl and "inconclusive" in chembl
    pose = tables.pose_table(tables.collect(tmp_path / "p"))
    assert "| k10 | MAML+MetaMix improves MAML | -1.000 ± 0.000 (seeds=3) | supported |" in pose
    assert "3.113 / 2.496" in pose  # the TRLearner paper's MAML row beside ours
