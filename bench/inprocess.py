"""``python -m bench.inprocess door|drain``: CPU per request and per batch with no server around it.

The HTTP rounds measure the service as providers meet it, and two cores shared by gunicorn, the
workers, PostgreSQL, Redis and the load generator make them noisy. These two measure our own code
alone, in this process, with ``time.process_time`` (user + system), median of several rounds:

- ``door``: signed Kobana ``bank_billet.paid`` requests straight into the WSGI app (ours, then bare
  Flask), and what the durable append alone costs of ours; then both again, served by several
  threads at once as gunicorn serves them;
- ``drain``: a backlog of distinct unregistered boletos (as ``bench.worker`` builds them) drained
  by ``workers.jobs.drain_inbox`` into PostgreSQL at fixed batch sizes: CPU per batch and per
  event, from which a batch's fixed cost and an event's own follow.

Both start a redis-server of their own; ``drain`` uses the schema ``bench_inprocess`` of the bench's
database (``BENCH_DATABASE_URL``, else ``test_bench``). bench/results.md quotes their figures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import bodies
from bench.ack import service_env
from bench.procs import redis_server


@contextlib.contextmanager
def _lines_to_devnull() -> Iterator[None]:
    """Logging configured in here writes to /dev/null: its handler keeps the stream it found, so
    that stream stays open for the life of the process."""
    devnull = open(os.devnull, "w")  # not closed: the handler writes to it after the block
    with contextlib.redirect_stderr(devnull):
        yield


def _rounds(run: Callable[[int], float], rounds: int) -> float:
    """Median over ``rounds`` of ``run(round)``, each returning a CPU figure."""
    return statistics.median(run(r) for r in range(rounds))


def _environ(raw: bytes, signature: str) -> Callable[[str], dict[str, Any]]:
    """A signed request's WSGI environ (Werkzeug builds it once) for each delivery id: a fresh body
    stream and the one header that differs, so building it costs the loop almost nothing."""
    from werkzeug.test import EnvironBuilder

    headers = {"X-Kobana-Signature": signature}
    base = EnvironBuilder("/webhooks/kobana", method="POST", data=raw, content_type="application/json",
                          headers=headers).get_environ()  # fmt: skip

    def environ(delivery: str) -> dict[str, Any]:
        return {**base, "wsgi.input": io.BytesIO(raw), "HTTP_X_KOBANA_DELIVERY_ID": delivery}

    return environ


def door(requests: int, rounds: int, threads: int) -> None:
    """Microseconds of CPU per acknowledged request, ours and bare Flask's, and the append's share;
    then the same served by ``threads`` threads at once.

    With one thread the GIL is never contended. A gunicorn worker serves with several: whenever one
    waits (the Redis round trip, the log line's write), another takes the GIL, and the first must win
    it back to go on. Bare Flask waits on nothing in here; under gunicorn it writes an access line, as
    ours writes its one line, so the Redis round trip is the wait only ours makes.
    """
    raw = bodies.paid()
    environ = _environ(raw, bodies.signature(raw))
    with tempfile.TemporaryDirectory(prefix="bench-inprocess-") as tmp, redis_server(Path(tmp) / "redis") as url:
        os.environ.update(service_env(url, Path(tmp)), PROMETHEUS_MULTIPROC_DIR=tmp)
        with _lines_to_devnull():  # every log line is written, as served, just not to a terminal
            from bench.apps.bare import app as bare
            from workers import stream
            from wsgi import app as ours

        appended = [0.0]
        append = stream.append

        def timed_append(connection: Any, envelope: Any) -> int:
            started = time.process_time()
            try:
                return append(connection, envelope)
            finally:
                appended[0] += time.process_time() - started

        stream.append = timed_append  # type: ignore[assignment]

        def serve(app: Any, name: str, threads: int = 1) -> Callable[[int], float]:
            def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
                if not status.startswith("200"):
                    raise SystemExit(f"bench.inprocess: {name} answered {status}")

            def requests_of(tag: str, count: int) -> None:
                for i in range(count):
                    b"".join(app(environ(f"{tag}-{i}"), start_response))

            def one_round(r: int) -> float:
                tags = [f"{name}-{threads}-{r}-{t}" for t in range(threads)]
                serving = [threading.Thread(target=requests_of, args=(tag, requests // threads)) for tag in tags]
                started = time.process_time()
                for thread in serving:
                    thread.start()
                for thread in serving:
                    thread.join()
                return (time.process_time() - started) / (requests // threads * threads) * 1e6

            one_round(-1)  # warm up: imports, the Redis connection, the compiled statements
            return one_round

        bare_us = _rounds(serve(bare, "bare"), rounds)
        ours_round = serve(ours, "ours")
        appended[0] = 0.0
        ours_us = _rounds(ours_round, rounds)
        append_us = appended[0] / (requests * rounds) * 1e6
        stream.append = append  # type: ignore[assignment]
        threaded = {name: _rounds(serve(app, name, threads), rounds) for name, app in (("bare", bare), ("ours", ours))}
    print(f"door, {requests} requests x {rounds} rounds, median CPU per request:")
    print(f"  bare Flask {bare_us:6.0f} us")
    print(f"  ours       {ours_us:6.0f} us, of which the durable append {append_us:.0f} us")
    print(f"  served by {threads} threads at once, as a gunicorn worker's threads serve (WEB_THREADS):")
    print(f"  bare Flask {threaded['bare']:6.0f} us")
    handover = threaded["ours"] - ours_us
    print(f"  ours       {threaded['ours']:6.0f} us (+{handover:.0f} us: the GIL changing hands at each wait)")


def drain(events: int, batches: list[int]) -> None:
    """Milliseconds of worker CPU per drained batch at each size, and microseconds per event."""
    from bench.worker import enqueue, envelopes, postgres_base, postgres_store

    store = postgres_store(postgres_base(), "bench_inprocess")
    with tempfile.TemporaryDirectory(prefix="bench-inprocess-") as tmp, redis_server(Path(tmp) / "redis") as url:
        os.environ.update(service_env(url, Path(tmp)), DATABASE_URL=store.url, DRAIN_LINGER_MS="0",
                          PROMETHEUS_MULTIPROC_DIR=tmp)  # fmt: skip
        store.reset()
        import redis

        from config import Settings
        from ops.logconfig import configure_logging
        from workers import jobs

        connection = redis.Redis.from_url(url)
        start = 0

        def backlog(count: int) -> None:
            nonlocal start
            enqueue(url, envelopes(count, "inprocess", start))
            start += count
            connection.delete("rq:queue:events")  # drained here, not by an RQ worker

        print(f"drain into PostgreSQL, {events} events per batch size, CPU of drain_inbox:")
        for batch in batches:
            settings = Settings.from_env({**os.environ, "DRAIN_BATCH": str(batch)})
            jobs.configure(settings)
            backlog(min(events, 5 * batch))
            jobs.drain_inbox()  # warm up, and the drain's pace is measured: later batches are full
            backlog(events)
            with _lines_to_devnull():  # after the enqueuing app's own (errors only): a line per event, as served
                configure_logging(settings)
            started = time.process_time()
            done = jobs.drain_inbox()
            seconds = time.process_time() - started
            taken = max(done["processed"], 1)
            per_batch = seconds / -(-taken // batch) * 1000
            print(f"  batches of {batch:3d}: {per_batch:6.2f} ms per batch, {seconds / taken * 1e6:6.0f} us per event")


def main(argv: list[str] | None = None) -> int:
    from config import Settings

    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["door", "drain"])
    parser.add_argument("--requests", type=int, default=1000, help="door: requests per round")
    parser.add_argument("--rounds", type=int, default=7, help="door: rounds per side")
    parser.add_argument("--threads", type=int, default=Settings.web_threads, help="door: serving threads (WEB_THREADS)")
    parser.add_argument("--events", type=int, default=600, help="drain: events drained per batch size")
    parser.add_argument("--batches", default="1,6,28", help="drain: batch sizes, comma-separated")
    args = parser.parse_args(argv)
    if args.what == "door":
        door(args.requests, args.rounds, args.threads)
    else:
        drain(args.events, [int(b) for b in args.batches.split(",")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
