"""The README's notebook example runs as written."""

import re

from tests.conftest import ROOT


def test_readme_notebook_example_runs(capsys):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## In a notebook\n\n```python\n(.*?)```", text, re.S).group(1)
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "mse_clean@10" in out
