"""Every experiment file builds a valid config, and its :quick variant trains and evaluates."""

import importlib
from pathlib import Path

import pytest

from metareg.assemble import validate_config
from metareg.train import train_and_evaluate
from tests.conftest import ROOT

EXPERIMENTS = sorted(
    p.stem for p in (ROOT / "experiments").glob("*.py") if p.stem not in ("base", "__init__")
)


def test_the_issue_experiments_exist():
    for task in ("sinusoid", "harmonic"):
        for method in ("maml", "metamix", "trlearner"):
            assert f"{task}_{method}" in EXPERIMENTS


def _real_data_present(name: str) -> bool:
    """Whether the default data dir (../shared/data) holds the family's raw files: a prepared cache
    alone is not enough, since every load checks the prepared data against them
    (metareg.data.provenance)."""
    from metareg.data import chembl, omniglot, pascal3d

    family = name.split("_")[0]
    if family == "omniglot":
        return all((omniglot.omniglot_dir() / f).is_file() for f in omniglot.ARCHIVE_FILES.values())
    if family == "chembl":
        return (chembl.chembl_dir() / "test").is_dir()
    if family == "pose":
        return all((pascal3d.pascal3d_dir() / f"{c}.mat").is_file() for c in pascal3d.CATEGORIES)
    return True


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_quick_variant_runs(name, tmp_path):
    if not _real_data_present(name):
        pytest.skip(f"the raw data of {name} is not in ../shared/data")
    module = importlib.import_module(f"experiments.{name}")
    full = module.get_config()
    validate_config(full)
    assert full.experiment == name
    config = module.get_config("quick")
    assert config.num_steps < full.num_steps
    config.num_steps = 20
    config.log_every = config.checkpoint_every = 10
    config.eval.num_tasks = 10
    config.eval.inner_steps = (
        config.eval.primary_inner_steps,
    )  # one evaluation program (several: test_evaluate)
    config.progress_bar = False
    results = train_and_evaluate(config, Path(tmp_path))
    assert results["experiment"] == name and results["num_traces"] == 1


def test_unknown_variant_is_rejected():
    module = importlib.import_module("experiments.sinusoid_maml")
    with pytest.raises(ValueError, match="unknown config variant 'quik'"):
        module.get_config("quik")
