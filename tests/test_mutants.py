"""benchmarks/mutants.py (`make mutants`): every mutant still applies to the code and names tests
that exist, a mutant whose text moved is named, and the runner reads pytest's first failure.

The mutant run itself (each bug applied to a scratch copy, its tests run) is `make mutants`; these
checks are here so that a refactor that moves a mutant's text fails the ordinary suite too.
"""

from __future__ import annotations

import importlib.util
import re
import sys

from tests.conftest import ROOT


def _runner():
    if "metareg_mutants" not in sys.modules:  # registered first: its dataclasses look it up
        path = ROOT / "benchmarks" / "mutants.py"
        spec = importlib.util.spec_from_file_location("metareg_mutants", path)
        sys.modules[spec.name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["metareg_mutants"]


def test_every_mutant_applies_exactly_once_and_names_existing_tests():
    m = _runner()
    assert m.check_mutants(ROOT) == []
    assert len(m.MUTANTS) >= 17 and len({x.name for x in m.MUTANTS}) == len(m.MUTANTS)
    for mutant in m.MUTANTS:
        source = (ROOT / mutant.file).read_text()
        assert m.mutate(source, mutant) != source, mutant.name
        for test in mutant.tests:
            path, name = test.split("::")
            function = re.sub(r"\[.*\]$", "", name)
            assert f"def {function}(" in (ROOT / path).read_text(), (mutant.name, test)


def test_a_mutant_whose_text_moved_is_named(tmp_path):
    m = _runner()
    mutant = m.MUTANTS[0]
    (tmp_path / mutant.file).parent.mkdir(parents=True)
    source = (ROOT / mutant.file).read_text()
    (tmp_path / mutant.file).write_text(source.replace(mutant.edits[0][0], "# refactored\n"))
    for test in mutant.tests:
        (tmp_path / test.split("::")[0]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / test.split("::")[0]).write_text("")
    problems = m.check_mutants(tmp_path, (mutant,))
    assert len(problems) == 1 and problems[0].startswith(f"{mutant.name}: in {mutant.file}")
    assert "is not found" in problems[0]
    (tmp_path / mutant.file).write_text(source + source)  # twice: ambiguous
    assert "found 2 times" in m.check_mutants(tmp_path, (mutant,))[0]


def test_the_first_failed_or_error_line_names_the_killer():
    m = _runner()
    out = (
        "..F\n=== short test summary info ===\n"
        "FAILED tests/test_a.py::test_x[1-2] - AssertionError: no\n"
        "ERROR tests/test_b.py::test_y - RuntimeError\n"
    )
    assert m.first_failure(out) == "tests/test_a.py::test_x[1-2]"
    assert m.first_failure("ERROR tests/test_b.py - ImportError\n") == "tests/test_b.py"
    assert m.first_failure("3 passed in 1.0s\n") is None
