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

import psutil

RESULTS = Path(__file__).resolve().parent / "results.md"
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
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    except OSError:
        return "unknown"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "unknown"


def _postgres_version() -> str:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES)
    out = _version(["psql", url, "-Atc", "show server_version"])
    return f"server {out}" if out and out[0].isdigit() else _version(["psql", "--version"])


def machine() -> list[str]:
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


def write(report: Report, command: str, started: datetime, path: Path = RESULTS) -> None:
    elapsed = datetime.now(UTC) - started
    lines = [
        "# Benchmark results",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC with `{command}` in {elapsed.total_seconds() / 60:.1f} min.",
        "Every figure is the median of several short rounds that alternate ours and the baseline, and the",
        "ratio is taken between those medians, so machine noise hits both sides alike. How to run and what each",
        "line means: [README.md](README.md).",
        "",
        "| measurement | ours | baseline | ratio | target | met? |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in report.rows:
        met = {True: "yes", False: "**no**", None: "-"}[row.met]
        lines.append(f"| {row.measurement} | {row.ours} | {row.baseline} | {row.ratio} | {row.target} | {met} |")
    lines += ["", "## Machine", "", *machine()]
    if report.notes:
        lines += ["", "## Notes", "", *report.notes]
    if report.details:
        lines += ["", "## Rounds", "", "```", *report.details, "```"]
    path.write_text("\n".join(lines) + "\n")
