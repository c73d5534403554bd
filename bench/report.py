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
    "- **Issue 16, the door's own CPU (16.1).** In-process (cProfile and process_time over 2,000 signed "
    "requests straight into the WSGI app), ours costs 1.5-2.1 ms against bare Flask's 0.2 ms. Of ours: the "
    "Redis append about a third (one `EVALSHA` round trip; on this VM a round trip costs ~125-135 us of client "
    "CPU whatever its size, 100 B or 16 KB, so compressing the body would save nothing), marshmallow validation "
    "about an eighth, JSON to Decimal about a twentieth (80 us), the log line 60-130 us, the metrics 10 us "
    "(prometheus multiprocess mode: 10.8 us against 9.7 in one process, so no cheaper scheme is worth its "
    "risk), Flask's request context and our hooks the rest. Cut: the second log line (gunicorn's access line "
    "for a webhook: the app's line now carries its fields) and full garbage collections walking ~90,000 "
    "start-up objects (92 ms each in-process, `gc.freeze` after start-up). Tried and dropped: "
    "`cache_logger_on_first_use` (123 vs 131 us per line, noise; and it would hide lines from "
    "`capture_logs`), one joined regex search per log line (every real line holds a digit run in its "
    "idempotency key or event id, so it always took the full path). +1.0 ms would need the append, "
    "validation and log line together to cost what one Redis round trip and Flask's own request do.",
    "- **Issue 16, latency and capacity (16.2, 16.3).** The whole service is CPU-bound on the two cores. "
    "Measured per process in the open-loop rounds: the web 3.1-3.6 ms per request, the workers 2.6-4.4 ms "
    "per event (small batches at a steady rate: the per-drain costs, an RQ job and five statements, are "
    "shared by fewer events than in a backlog drain, ~1.1 ms), PostgreSQL about 0.4 ms, the load generator "
    "0.3 ms: ~7 ms of CPU per delivery, so 300/s needs about one core more than the web alone and 700/s "
    "(~5 cores) is out of reach; even bare Flask at 700/s had p99 300-534 ms here. When the web holds the cores "
    "the workers fall behind (ack -> processed grows through a round) and catch up after it: every "
    "acknowledged event was processed exactly once in every round.",
    "- **Ack throughput and p99 (web).** CPU-bound: the CPU-per-request row is the ceiling on the throughput "
    "ratio (0.20-0.29x before this round of work, 0.28-0.34x in three runs today). Of our request CPU (py-spy "
    "--gil), parsing and marshmallow validation are about a sixth, our structured log line and gunicorn's access "
    "line about a quarter together (the access line bare Flask pays too), the Redis append about a ninth: one Lua"
    " call, whose cost is now mostly the kernel sending 7 KB over loopback; Flask and gunicorn the rest. Fixed, "
    "each in its own commit: the RQ job per event became one `EVALSHA` (fence, `XADD`, doorbell) into the inbox "
    "stream; validation without marshmallow's per-key walk and with fast paths for everyday values; masking that "
    "skips values with nothing to mask; log records without caller/thread lookups. 0.5x would need all of our own"
    " work (HMAC, parse, validate, one durable Redis write, one log line) to cost no more than the bare request "
    "itself. p99 at 16 connections follows throughput (16 in flight / rate); on this machine even bare Flask's "
    "p99 is above 20 ms.",
    "- **Ours vs the naive design.** The naive app is capped by construction at gunicorn threads / 0.2 s = 2 x 4 "
    "/ 0.2 = 40 req/s (24 measured), so the ratio is our door's rate with two workers running over a constant: on"
    " the earlier, faster host (bare Flask 3,700 req/s) it was 14-29x; on this one (bare Flask 850-2,100 req/s) "
    "our door runs 270-640 req/s, so 11-16x. The slow-handler row swings with the machine: -12 %, -18 % and +82 %"
    " in three whole runs today, rounds within one run ranging 250-640 req/s; nothing in the door waits for a "
    "handler (the 200 ms handler runs in the workers, which then sit idle).",
    "- **Worker throughput and the 100k drain.** Events are drained in batches of up to 200 (one RQ job, one "
    "insert, one lock, the ledger's batch form, one marking update per batch; it was one RQ job and two "
    "transactions per event, 115 events/s). Per event, CPU is now about 1.0-1.2 ms in the workers and 0.4 ms in "
    "PostgreSQL (measured per process): the two cores are the ceiling. The drain row is extrapolated from a ~20 s"
    " backlog to keep the bench under 10 minutes; a real 100,000-event backlog drained by 2 workers into "
    "PostgreSQL took 83 s wall, start-up included (1,234 events/s). Found on the way: a 200-key `IN` list lock "
    "was planned as a scan on a table autovacuum had not analysed yet (70 ms per batch at 24,000 rows, halving "
    "long drains); it is now one index lookup per key (`db/lookup.py`). What costs the most now: encoding "
    "executemany parameters (ledger facts and states as JSON), re-validating each body, and waiting on "
    "PostgreSQL.",
    "- **Growth** stays flat within the machine's noise: three whole runs today gave +8 %, -13 % (two rounds "
    "each) and +26 % (three rounds). Every lookup is by a unique index, so a 1,000,000-row log only makes the "
    "B-trees one level deeper.",
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
