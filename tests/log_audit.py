"""pytest plugin: every log line the suite produces is scanned for secrets and full CPF/CNPJ numbers.

It records the output of structlog's ``ProcessorFormatter`` (the production pipeline: our lines and
every library's, after ``mask_sensitive``) and the log files of the real processes tests start
(``record_file``). At the end of the session any line carrying a test secret, a Basic token, or a
CPF/CNPJ from ``tests/samples`` unmasked fails the run, with the offending lines printed.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.helpers import CELCOIN_PASSWORD, CELCOIN_USER, KOBANA_SECRET, SAMPLES, TRANSFEERA_SECRET

#: Published test-vector secrets used in tests (providers.md §6): never in a log either.
_VECTOR_SECRETS = (
    "2ef97bc3ec0bb91ba9c61afa301bda735a0fdbf2fbee154c7e738ef39be0211c",
    "5d55729305b197168018fcff2a18e99f78ab8dd4efd03b6e895cf08bf104bca204944e45",
)
_CPF_OR_CNPJ = re.compile(r"^(\d{3}\.?\d{3}\.?\d{3}-?\d{2}|\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2})$")
_DOCUMENT_KEYS = re.compile(r"cpf|cnpj|document|taxid|tax_id", re.IGNORECASE)


def _sample_documents() -> set[str]:
    """Every full CPF/CNPJ in the samples, as written and as bare digits."""
    found: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and _CPF_OR_CNPJ.match(value):
            digits = re.sub(r"\D", "", value)
            if _DOCUMENT_KEYS.search(key) or not value.isdigit():
                found.update({value, digits})

    for path in SAMPLES.rglob("*.json"):
        walk(json.loads(path.read_text()))
    return found


def needles() -> dict[str, str]:
    """What must never be logged, each with a label for the report (never the value itself)."""
    basic_token = base64.b64encode(f"{CELCOIN_USER}:{CELCOIN_PASSWORD}".encode()).decode()
    found = {
        KOBANA_SECRET: "KOBANA_SECRET",
        TRANSFEERA_SECRET: "TRANSFEERA_SECRET",
        CELCOIN_PASSWORD: "CELCOIN_PASSWORD",
        basic_token: "Celcoin Basic token",
        **{secret: "test-vector secret" for secret in _VECTOR_SECRETS},
    }
    for document in sorted(_sample_documents()):
        found[document] = f"CPF/CNPJ from samples ({len(re.sub(r'[^0-9]', '', document))} digits)"
    return found


class LogAudit:
    def __init__(self) -> None:
        self.needles = needles()
        self.lines = 0
        self.leaks: list[str] = []

    def scan(self, text: str, source: str) -> None:
        for line in text.splitlines():
            self.lines += 1
            labels = [label for needle, label in self.needles.items() if needle in line]
            if labels and len(self.leaks) < 50:
                self.leaks.append(f"{source}: {', '.join(labels)} in: {self._redact(line)[:300]}")

    def _redact(self, line: str) -> str:
        for needle, label in self.needles.items():
            line = line.replace(needle, f"<{label}>")
        return line


_AUDIT = LogAudit()


def record_file(path: Path, source: str | None = None) -> None:
    """Scan the log file of a process a test started (gunicorn, workers)."""
    if path.exists():
        _AUDIT.scan(path.read_text(errors="replace"), source or path.name)


def audit() -> LogAudit:
    return _AUDIT


@pytest.fixture(scope="session", autouse=True)
def _scan_every_formatted_log_line() -> Any:
    original = structlog.stdlib.ProcessorFormatter.format

    def format_and_scan(self: Any, record: Any) -> str:
        text: str = original(self, record)
        _AUDIT.scan(text, f"log {record.name}")
        return text

    structlog.stdlib.ProcessorFormatter.format = format_and_scan  # type: ignore[method-assign]
    yield
    structlog.stdlib.ProcessorFormatter.format = original  # type: ignore[method-assign]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _AUDIT.leaks and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _AUDIT.leaks:
        terminalreporter.section("log audit: secrets or full CPF/CNPJ in logs", red=True)
        for leak in _AUDIT.leaks:
            terminalreporter.write_line(leak)
    else:
        terminalreporter.write_line(
            f"log audit: {_AUDIT.lines} log lines scanned for {len(_AUDIT.needles)} secrets and documents, none found"
        )
