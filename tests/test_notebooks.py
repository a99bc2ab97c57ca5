"""The tutorial notebooks (notebooks/*.ipynb) run top to bottom on CPU, and are committed without
outputs.

Each notebook runs in a fresh python3 kernel of this environment (nbclient; ipykernel, nbclient and
nbformat are in the `dev` extra), with a temporary directory as its working directory; a cell that
raises fails the test with that cell's source and traceback.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import FULL_PIPELINE, ROOT

NOTEBOOKS = (
    "01_sinusoid_trlearner_metamix.ipynb",
    "02_custom_task_family.ipynb",
    "03_restore_a_run.ipynb",
)
# Run-bound notebooks (01 trains 3,000 steps in the kernel): XLA's full pipeline runs them faster
# than the cheap one the compile-bound suite uses (tests/conftest.py); measured 78 s vs 111 s.
RUN_BOUND = ("01_sinusoid_trlearner_metamix.ipynb",)


def test_notebooks_listed_and_clean():
    """Every notebook is run below, and each is valid nbformat with its outputs cleared."""
    import nbformat

    assert sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")) == sorted(NOTEBOOKS)
    for name in NOTEBOOKS:
        nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        nbformat.validate(nb)
        dirty = [
            i
            for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and (c.outputs or c.execution_count is not None)
        ]
        assert not dirty, f"{name}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    if name in RUN_BOUND:  # the kernel inherits this process's environment
        for name_, value in FULL_PIPELINE.items():
            monkeypatch.setenv(name_, value)
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    client = NotebookClient(
        nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
        error = None
    except (
        CellExecutionError
    ) as e:  # its message: the failing cell's source, then the error and traceback
        error = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # without the terminal colours
    if error:
        pytest.fail(f"{name} raised in a cell:\n{error}", pytrace=False)
