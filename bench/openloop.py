"""An open-loop HTTP load generator: requests leave on a fixed schedule, whatever the answers do.

``wrk`` is a closed loop (a connection sends its next request when the last one is answered), so
a slow server slows the load down and its latency hides the wait ("coordinated omission").
Here request ``i`` is due at ``start + i / rate``; it goes out on an idle keep-alive connection,
or a new one, or waits for one if ``max_connections`` are busy, and its latency is counted from
its *due* time, so a stall shows in the percentiles as the providers would see it. (``wrk2``
does this but is not packaged in Debian; ``vegeta`` is not either.)

It is light on purpose, as it shares the machine with the service: one process, asyncio
protocols on raw sockets, the request head built once, the answer parsed just enough to find
its status and end. With ``--secret`` each request is a different boleto (the sample's id and
uid replaced, same lengths, as ``bench.worker`` does) signed for it: the same body every time
would pile every event's facts onto one ledger object, which no provider's traffic does. Run as a separate process
(``python -m bench.openloop``) so its CPU is its own; prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import hmac
import json
import random
import resource
import sys
import time
from pathlib import Path

#: An idle connection is not reused after this long; it is closed instead. gunicorn closes a
#: keep-alive connection idle for its ``keepalive`` (5 s, gunicorn.conf.py), and a request sent as
#: it does so is lost with the connection: an error no server fault caused. HTTP clients expire
#: idle connections on their own clock for this reason (httpx's ``keepalive_expiry``, 5 s by
#: default); this one does so a second before gunicorn would.
IDLE_EXPIRY_SECONDS = 4.0


class _Connection(asyncio.Protocol):
    def __init__(self, client: _Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.due = 0.0
        self.closed = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, request: bytes, due: float) -> None:
        assert self.transport is not None
        self.due = due
        self.buffer = b""
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = self.buffer[:head_end]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.buffer) < head_end + 4 + length:
            return
        status = int(head[9:12])
        keep = b"connection: close" not in head.lower()
        self.client.answered(self, status, self.due, keep)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.client.lost(self)


class _Client:
    def __init__(self, host: str, port: int, template: bytes, max_connections: int) -> None:
        self.host, self.port, self.template, self.max_connections = host, port, template, max_connections
        self.loop = asyncio.get_running_loop()
        self.idle: list[_Connection] = []
        self.busy: set[_Connection] = set()
        self.opening = 0
        self.waiting: collections.deque[tuple[bytes, float]] = collections.deque()
        self.latencies: list[float] = []
        self.dues: list[float] = []  # each answered request's due time, in step with ``latencies``
        self.statuses: collections.Counter[int] = collections.Counter()
        self.errors = 0
        self.unconnected = 0  # of the errors: no connection could be opened for the request
        self.outstanding = 0
        self.expired = 0  # idle connections closed rather than reused (IDLE_EXPIRY_SECONDS)

    def submit(self, request: bytes, due: float) -> None:
        self.outstanding += 1
        while self.idle:
            conn = self.idle.pop()
            if conn.closed:
                continue
            if self.loop.time() - conn.idle_since > IDLE_EXPIRY_SECONDS:
                assert conn.transport is not None
                conn.transport.close()
                self.expired += 1
                continue
            self._send(conn, request, due)
            return
        self.waiting.append((request, due))
        if len(self.busy) + self.opening < self.max_connections:
            self.opening += 1
            self.loop.create_task(self._open())

    async def _open(self) -> None:
        try:
            _, conn = await self.loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except OSError:
            self.opening -= 1
            if self.waiting:
                request, due = self.waiting.popleft()
                self.unconnected += 1
                self._failed(due)
            return
        self.opening -= 1
        self._next(conn)

    def _send(self, conn: _Connection, request: bytes, due: float) -> None:
        self.busy.add(conn)
        conn.send(request, due)

    def _next(self, conn: _Connection) -> None:
        if self.waiting:
            request, due = self.waiting.popleft()
            self._send(conn, request, due)
        else:
            conn.idle_since = self.loop.time()
            self.idle.append(conn)

    def answered(self, conn: _Connection, status: int, due: float, keep: bool) -> None:
        self.latencies.append(self.loop.time() - due)
        self.dues.append(due)
        self.statuses[status] += 1
        self.outstanding -= 1
        self.busy.discard(conn)
        if keep:
            self._next(conn)
        else:
            assert conn.transport is not None
            conn.transport.close()

    def lost(self, conn: _Connection) -> None:
        if conn in self.busy:  # the server closed it with a request in flight
            self.busy.discard(conn)
            self._failed(conn.due)
            if self.waiting and len(self.busy) + self.opening < self.max_connections:
                self.opening += 1
                self.loop.create_task(self._open())

    def _failed(self, due: float) -> None:
        self.errors += 1
        self.outstanding -= 1


#: The sample's boleto id and uid (``bench.worker`` replaces them the same way).
_SAMPLE_ID, _SAMPLE_UID = b"84512377", b"BB7F3A2C9D1E4B6A8F05"


def template(host: str, port: int, path: str, body: bytes) -> bytes:
    """The request head with holes for the signature and the delivery id (the headers that change)."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"X-Kobana-Signature: {{signature}}\r\nX-Kobana-Delivery-Id: {{id}}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()


class Bodies:
    """The body of request ``i`` and its signature: the same one, or a distinct boleto each."""

    def __init__(self, body: bytes, signature: str, secret: str | None, prefix: str) -> None:
        self.body, self.signature, self.secret, self.prefix = body, signature.encode(), secret, prefix
        self.base = random.randrange(10_000_000, 90_000_000)

    def __call__(self, i: int) -> tuple[bytes, bytes]:
        if self.secret is None:
            return self.body, self.signature
        uid = f"{self.prefix[:12]}{i:08d}".encode()
        body = self.body.replace(_SAMPLE_ID, str(self.base + i).encode()).replace(_SAMPLE_UID, uid)
        digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return body, b"sha256=" + digest.encode()


async def run(
    host: str, port: int, head: bytes, bodies: Bodies, prefix: str, rate: float, seconds: float, max_connections: int
) -> dict:
    """Send ``rate * seconds`` requests on schedule; wait (up to 10 s) for the last answers."""
    client = _Client(host, port, head, max_connections)
    loop = asyncio.get_running_loop()
    total = int(rate * seconds)
    cpu_start = time.process_time()
    start = loop.time() + 0.05
    start_wall = time.time() + (start - loop.time())
    sent = 0
    while sent < total:
        now = loop.time()
        while sent < total and start + sent / rate <= now:
            body, signature = bodies(sent)
            data = head.replace(b"{signature}", signature).replace(b"{id}", f"{prefix}-{sent}".encode()) + body
            client.submit(data, start + sent / rate)
            sent += 1
        if sent < total:
            await asyncio.sleep(max(0.0, start + sent / rate - loop.time()))
    end_of_schedule = loop.time()
    deadline = end_of_schedule + 10
    while client.outstanding > 0 and loop.time() < deadline:
        await asyncio.sleep(0.01)
    finished = loop.time()
    latencies = sorted(client.latencies)
    ok = sum(n for status, n in client.statuses.items() if 200 <= status < 300)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "offered_rps": rate,
        "sent": sent,
        "answered": len(latencies),
        "ok": ok,
        "errors": client.errors + (len(latencies) - ok) + client.outstanding,
        # What the errors were, so a failed check says which: answers that were not a 2xx (by status),
        # requests no connection could be opened for, requests whose connection closed before an
        # answer, and those unanswered at the end.
        "refused": {str(status): n for status, n in sorted(client.statuses.items()) if not 200 <= status < 300},
        "unconnected": client.unconnected,
        "dropped": client.errors - client.unconnected,
        "unanswered": client.outstanding,
        "achieved_rps": len(latencies) / max(finished - start, 1e-9),
        "p50_ms": _percentile(latencies, 50) * 1000,
        "p90_ms": _percentile(latencies, 90) * 1000,
        "p99_ms": _percentile(latencies, 99) * 1000,
        "max_ms": (latencies[-1] if latencies else float("nan")) * 1000,
        "connections": len(client.idle) + len(client.busy),
        "expired_idle": client.expired,
        "client_cpu_s": time.process_time() - cpu_start,
        "client_maxrss_mb": usage.ru_maxrss / 1024,
        "start_wall": start_wall,
        "timeline": _timeline(client.dues, client.latencies, start),
    }


def _timeline(dues: list[float], latencies: list[float], start: float) -> list[list[float]]:
    """``[second, answered, p99 ms, max ms]`` for each second of the schedule, by due time: when a
    round's p99 is missed, which seconds the slow answers were due in."""
    by_second: dict[int, list[float]] = collections.defaultdict(list)
    for due, latency in zip(dues, latencies, strict=True):
        by_second[int(due - start)].append(latency)
    return [
        [second, len(values), _percentile(sorted(values), 99) * 1000, max(values) * 1000]
        for second, values in sorted(by_second.items())
    ]


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * pct / 100))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.openloop", description=__doc__)
    parser.add_argument("url", help="http://127.0.0.1:PORT/webhooks/kobana")
    parser.add_argument("--body", type=Path, required=True)
    parser.add_argument("--signature", required=True, help="of --body, sent when --secret is not given")
    parser.add_argument("--secret", help="sign a distinct boleto per request with this Kobana secret")
    parser.add_argument("--prefix", required=True, help="delivery ids are PREFIX-0, PREFIX-1, ...")
    parser.add_argument("--rate", type=float, required=True, help="requests per second, on schedule")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--max-connections", type=int, default=64)
    args = parser.parse_args(argv)
    hostport, _, path = args.url.removeprefix("http://").partition("/")
    host, _, port = hostport.partition(":")
    body = args.body.read_bytes()
    head = template(host, int(port), "/" + path, body)
    bodies = Bodies(body, args.signature, args.secret, args.prefix)
    result = asyncio.run(run(host, int(port), head, bodies, args.prefix, args.rate, args.seconds, args.max_connections))
    print("BENCH_JSON " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
