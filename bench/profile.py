"""``python -m bench.profile web|worker``: where the CPU goes, with py-spy, on the bench's own setup.

``web`` samples both gunicorn workers while wrk sends the signed Kobana body (16 connections);
``worker`` samples one ``python -m workers`` draining a backlog into SQLite. ``--gil`` (the
default) samples only the thread holding the GIL, i.e. Python CPU time, not waiting. Prints
the functions with the largest inclusive share; ``--raw FILE`` keeps the collapsed stacks
(feed them to any flamegraph tool).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import bodies, load
from bench.ack import service_env
from bench.procs import Server, Workers, redis_server, servers


def _py_spy() -> str:
    path = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(path).exists():
        raise SystemExit("py-spy is missing: pip install -e '.[bench]'")
    return path


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    argv = [_py_spy(), "record", "--pid", str(pid), "--subprocesses", "--gil", "--nonblocking", "-r", "200",
            "--format", "raw", "-o", str(out), "--duration", str(seconds)]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize(raw: Path, top: int = 40) -> list[str]:
    """Inclusive share of each function (``name (file)``) over all samples."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        names = {re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if not f.startswith(("process ", "thread "))}
        for name in names:
            inclusive[name] += n
    return [f"{100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)] if total else []


def web(workdir: Path, seconds: int, out: Path) -> None:
    with redis_server(workdir / "redis") as url:
        env = service_env(url, workdir)
        with servers(Server("wsgi:app", env, workdir / "web.log")) as (server,):
            body = workdir / "body.json"
            raw = bodies.paid()
            body.write_bytes(raw)
            load.run(server.url + "/webhooks/kobana", body, bodies.signature(raw), "warm", 1)
            assert server.proc is not None
            spy = record(server.proc.pid, seconds, out)
            time.sleep(1)
            load.run(server.url + "/webhooks/kobana", body, bodies.signature(raw), "profile", seconds - 2)
            spy.wait()


def worker(workdir: Path, seconds: int, out: Path) -> None:
    from bench import worker as bench_worker

    store = bench_worker.sqlite_store(workdir, "profile").reset()
    with redis_server(workdir / "redis") as url:
        bench_worker.enqueue(url, bench_worker.envelopes(3000, "profile", 0))
        env = service_env(url, workdir, DATABASE_URL=store.url)
        with Workers([sys.executable, "-m", "workers"], env, workdir / "worker.log", count=1) as procs:
            time.sleep(3)  # imports and registration are not what we are after
            record(procs.pids()[0], seconds, out).wait()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("target", choices=("web", "worker"))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    out = args.raw or workdir / "stacks.txt"
    try:
        {"web": web, "worker": worker}[args.target](workdir, args.seconds, out)
        print("\n".join(summarize(out)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
