"""HTTP load with ``wrk`` (a separate C process, so the load generator costs no Python time).

The Lua script POSTs the same signed body on every request but gives each one its own
``X-Kobana-Delivery-Id`` (the header is not signed, as with Kobana), so every request is a new
event that is enqueued, never a duplicate answered from the fence. ``done()`` prints exact
percentiles as one JSON line, so nothing depends on wrk's human-readable units.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "wrk is missing: install it with `apt-get update && apt-get install -y wrk` (Debian/Ubuntu)"

LUA = r"""
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Kobana-Signature"] = os.getenv("BENCH_SIGNATURE")
local prefix = os.getenv("BENCH_PREFIX")
local threads = {}
local n = 0

function setup(thread)
  n = n + 1
  thread:set("tid", n)
  table.insert(threads, thread)
end

local counter = 0
function request()
  counter = counter + 1
  wrk.headers["X-Kobana-Delivery-Id"] = prefix .. "-" .. tid .. "-" .. counter
  return wrk.format()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class Round:
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    errors: int
    #: CPU time the server's processes spent per request (user + system), filled in by the caller.
    cpu_ms: float = float("nan")


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(INSTALL_HINT)
    return path


def run(url: str, body: Path, signature: str, prefix: str, seconds: float, connections: int = 16) -> Round:
    """One round of ``wrk`` against ``url``; ``prefix`` keeps delivery ids unique across rounds."""
    wrk = require_wrk()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA)
    env = {"BENCH_BODY": str(body), "BENCH_SIGNATURE": signature, "BENCH_PREFIX": prefix, "PATH": "/usr/bin:/bin"}
    try:
        out = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout=10s",
                f"--script={script.name}",
                url,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=seconds + 60,
        )
    finally:
        Path(script.name).unlink()
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(data[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts"))
    return Round(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        errors=errors,
    )
