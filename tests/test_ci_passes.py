"""``--only-using FIXTURE`` (tests/conftest.py): how .ci/run repeats only what reaches PostgreSQL or Redis.

The repeated passes are only as good as this selection: a test that reaches the database must be
in the PostgreSQL pass, and a selection that keeps nothing must fail, not pass having run nothing.
"""

from __future__ import annotations

import subprocess
import sys

from config import PROJECT_ROOT

#: One file whose tests all use the database, one whose tests use neither.
LEDGER, SCHEMAS = "tests/test_ledger_handlers.py", "tests/test_schemas.py"


def _collect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *args],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _files(listing: str) -> set[str]:
    return {line.split("::")[0] for line in listing.splitlines() if "::" in line}


def test_only_using_database_url_keeps_the_tests_that_reach_the_database_and_no_other():
    found = _collect(LEDGER, SCHEMAS, "--only-using", "database_url")
    assert found.returncode == 0, found.stderr
    assert _files(found.stdout) == {LEDGER}


def test_only_using_a_fixture_no_test_uses_is_an_error_not_an_empty_pass():
    found = _collect(SCHEMAS, "--only-using", "database_ulr")
    assert found.returncode != 0
    assert "--only-using database_ulr: no collected test uses that fixture" in found.stderr
