"""CI fails on a skip that is not expected (tests/skips.py); a listed skip passes."""
import os
import sys
from pathlib import Path

import pytest

from tests import skips

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


def test_only_listed_skips_for_this_leg_are_expected():
    leg_skip = skips.Skip("tests/curation/test_processes.py::test_x[postgresql]", "runs in the postgresql leg of the suite")
    assert skips.unexpected([leg_skip], "sqlite") == []
    assert skips.unexpected([leg_skip], "postgresql") == [leg_skip]  # on its own leg it must run
    missing_tool = skips.Skip("tests/review/test_browser_review.py::test_keys", "/usr/bin/chromium is not installed")
    assert skips.unexpected([missing_tool], "sqlite") == [missing_tool]


@pytest.mark.parametrize("strict, reason, outcome", [
    ("1", "chromium is not installed", 1),             # a tool missing in CI: the run fails
    ("1", "runs in the postgresql leg of the suite", 0),  # listed for the sqlite leg
    ("0", "chromium is not installed", 0),             # a developer's machine: skips are allowed
])
def test_the_run_fails_on_an_unexpected_skip(pytester, monkeypatch, strict, reason, outcome):
    monkeypatch.setenv("TCIA_STRICT_SKIPS", strict)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT)] + sys.path))
    monkeypatch.delenv("DATABASE_URL", raising=False)  # the sqlite leg
    pytester.makeconftest("from tests.conftest import pytest_runtest_logreport, pytest_sessionfinish\n")
    pytester.makeini("[pytest]\nDJANGO_SETTINGS_MODULE = tcia.settings_test\n")
    path = pytester.mkdir("tests").joinpath("curation")
    path.mkdir()
    path.joinpath("test_processes.py").write_text(
        "import pytest\n\ndef test_x():\n    pytest.skip(%r)\n\ndef test_y():\n    assert True\n" % reason)
    result = pytester.runpytest_subprocess("tests/curation/test_processes.py", "-p", "no:cacheprovider")
    assert result.ret == outcome, result.stdout.str()
    if outcome:
        result.stdout.fnmatch_lines(["*skipped that must run on this machine*",
                                     "*test_processes.py::test_x: chromium is not installed*"])
