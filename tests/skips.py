"""Expected skips, so that CI fails when a test skips on a machine that has what it needs.

A skipped test proves nothing. On a developer's machine a browser test may skip because Chromium
is missing; in CI, where `.ci/run` installed Chromium, dciodvfy, tesseract, dcmtk, Redis and
PostgreSQL, the same skip would hide a broken test behind a green run. With TCIA_STRICT_SKIPS=1
(`.ci/run` sets it) every skip must match a line of EXPECTED for the database the suite runs on;
any other skip fails the run, naming the test and its reason.

EXPECTED lines: (database, node id prefix, a phrase of the skip reason). `database` is the
suite's leg: "sqlite", "postgresql" or "any". Add a line only for a skip that is right on a fully
equipped machine: a test about the other database's leg, a sample a pydicom release may not bundle.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

EXPECTED: list[tuple[str, str, str]] = [
    # Tests about one database, run in that leg only.
    ("postgresql", "tests/curation/test_processes.py::", "about the embedded SQLite default"),
    ("postgresql", "tests/curation/test_processes.py::", "runs in the sqlite leg of the suite"),
    ("sqlite", "tests/curation/test_processes.py::", "runs in the postgresql leg of the suite"),
    ("sqlite", "tests/curation/test_processes.py::", "two machines share a PostgreSQL server"),
    ("sqlite", "tests/nbia/test_metadata.py::test_postgres_getseries_json_matches_the_python_rows",
     "PostgreSQL fast path"),
]


@dataclass(frozen=True)
class Skip:
    nodeid: str
    reason: str


def database_leg() -> str:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    return "postgresql" if "postgresql" in engine else "sqlite"


def expected(skip: Skip, leg: str) -> bool:
    return any(db in (leg, "any") and skip.nodeid.startswith(prefix) and phrase in skip.reason
               for db, prefix, phrase in EXPECTED)


def strict() -> bool:
    return os.environ.get("TCIA_STRICT_SKIPS") == "1"


def reason_of(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def unexpected(skips: list[Skip], leg: str) -> list[Skip]:
    return [s for s in skips if not expected(s, leg)]
