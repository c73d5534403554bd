"""Rows of the results table, the machine description, and ``bench/results.md``."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.md"
#: ``write`` rewrites the file but keeps what lies between these two lines as it is: the account
#: kept by hand (where targets are missed and what the profiles show, each session's runs), which no
#: run measures. Written once, there: ``python -m bench`` used to write a copy of it from here, and a
#: full run replaced the file's account with that older copy.
KEPT_FROM = "<!-- kept by hand: python -m bench rewrites the table, the machine and the rounds, not this -->"
KEPT_TO = "<!-- end of the part kept by hand -->"
#: The table's columns; ``measured`` says when and on which commit each row was measured.
COLUMNS = ("measurement", "ours", "baseline", "ratio", "target", "met?", "measured")

#: The PostgreSQL the worker benchmarks use unless ``BENCH_DATABASE_URL`` says otherwise.
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test_bench"


@dataclass
class Row:
    measurement: str
    ours: str
    baseline: str
    ratio: str
    target: str
    met: bool | None  # None: informational, no target


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        verdict = {True: "met", False: "MISSED", None: "-"}[row.met]
        print(f"  {row.measurement}: ours {row.ours} | baseline {row.baseline} | {row.ratio} | {row.target}: {verdict}")

    def detail(self, line: str) -> None:
        self.details.append(line)
        print(f"    {line}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _version(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "unknown"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "unknown"


def _postgres_version() -> str:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES)
    out = _version(["psql", url, "-Atc", "show server_version"])
    return f"server {out}" if out and out[0].isdigit() else _version(["psql", "--version"])


def machine() -> list[str]:
    import psutil  # the bench's extra: the tests read this module without it

    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as info:
        models = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    load1, load5, _ = os.getloadavg()
    return [
        f"- CPU: {psutil.cpu_count(logical=True)} logical cores ({models[0] if models else cpu})",
        f"- Memory: {psutil.virtual_memory().total / 2**30:.1f} GiB",
        f"- OS: {platform.platform()}",
        f"- Python: {platform.python_version()}",
        f"- Redis: {_version(['redis-server', '--version'])}",
        f"- PostgreSQL: {_postgres_version()}",
        f"- wrk: {_version(['wrk', '--version'])}",
        f"- Load average at the end of the run: {load1:.2f} (1 min), {load5:.2f} (5 min)",
    ]


def commit() -> str:
    """The checkout's commit, ``+`` when its code has changes not committed (documents aside: a run's
    own ``results.md`` is one)."""
    root = RESULTS.parent.parent
    head = _version(["git", "-C", str(root), "rev-parse", "--short", "HEAD"])
    changed = ["git", "-C", str(root), "diff", "--quiet", "HEAD", "--", ".", ":(exclude)*.md"]
    dirty = subprocess.run(changed, capture_output=True, check=False).returncode
    return head + ("+" if dirty else "")


def write(report: Report, command: str, started: datetime, path: Path = RESULTS, *, keep_rows: bool = True) -> None:
    """The table, the machine and the rounds of this run into ``path``.

    A row this run measured replaces the row of the same measurement; with ``keep_rows`` (a run of
    some sections: ``--only``) the other rows stay as they were, each with its own date and commit,
    so the table keeps a row per target whichever sections ran last. The part kept by hand
    (``KEPT_FROM`` to ``KEPT_TO``) is carried over unchanged.
    """
    before = path.read_text() if path.exists() else ""
    measured = f"{started:%Y-%m-%d %H:%M}, {commit()}"
    rows = {row.measurement: _line(row, measured) for row in report.rows}
    table = []
    for name, line in _table(before) if keep_rows else []:
        table.append(rows.pop(name, line))
    table += rows.values()
    elapsed = datetime.now(UTC) - started
    lines = [
        "# Benchmark results",
        "",
        "Each row was measured when, and on the commit, its last column says (`+`: with changes not yet",
        "committed). `python -m bench` replaces the rows it measures and keeps the others (`--only` runs a",
        "subset). Every figure is the median of several short rounds that alternate ours and the baseline,",
        "and the ratio is taken between those medians, so machine noise hits both sides alike. How to run",
        "and what each line means: [README.md](README.md).",
        "",
        f"The last run: `{command}`, {started:%Y-%m-%d %H:%M} UTC, {elapsed.total_seconds() / 60:.1f} min. Its",
        "rounds are at the end; an earlier run's are in this file's git history, at the commit that recorded it.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + " --- |" * len(COLUMNS),
        *table,
        "",
        "## The machine of the last run",
        "",
        *machine(),
    ]
    kept = _kept(before)
    if kept:
        lines += ["", *kept]
    if report.notes:
        lines += ["", "## Notes of the last run", "", *report.notes]
    if report.details:
        lines += ["", "## Rounds of the last run", "", "```", *report.details, "```"]
    path.write_text("\n".join(lines) + "\n")


def _line(row: Row, measured: str) -> str:
    met = {True: "yes", False: "**no**", None: "-"}[row.met]
    return "| " + " | ".join([row.measurement, row.ours, row.baseline, row.ratio, row.target, met, measured]) + " |"


def _table(text: str) -> list[tuple[str, str]]:
    """The rows of the file's table, by measurement, in their order; rows of another layout are dropped."""
    rows = []
    for line in text.split("\n## ", 1)[0].splitlines():
        cells = [cell.strip() for cell in line.strip().removeprefix("|").removesuffix("|").split(" | ")]
        if line.startswith("| ") and len(cells) == len(COLUMNS) and cells[0] not in ("measurement", "---"):
            rows.append((cells[0], line))
    return rows


def _kept(text: str) -> list[str]:
    """The part kept by hand, its two marker lines included; none if the file has no such part."""
    start, end = text.find(KEPT_FROM), text.find(KEPT_TO)
    if start < 0 or end < start:
        return []
    return text[start : end + len(KEPT_TO)].splitlines()
