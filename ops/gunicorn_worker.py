"""The gunicorn worker the Procfile's web line runs: gthread, without a 5-second stall, with its
load spread over the worker processes, and kept-alive connections served without a detour.

**No 5-second stall.** gunicorn 24+ hands every accepted connection to a serving thread, which
waits up to 5 s (``gthread.DEFAULT_WORKER_DATA_TIMEOUT``, a module constant, not a setting) for its
first bytes before giving it to the poller (gunicorn issue #3634; its fix, PR #3635, is not in
27.0.1). As many connections that send nothing as there are threads (WEB_CONCURRENCY x WEB_THREADS)
then stall every delivery for 5 s: a client's or a load balancer's speculative connections, or
anyone's on purpose. Measured: a request behind 8 silent connections answered in 4.8 s, behind 32
in 19.8 s; 700/s bench rounds had seconds at p99 4.5-11.7 s while the cores were 70 % busy.
Here a thread serves a new connection only when its bytes are already there; any other goes
straight to the poller, which queues it once they arrive (as gunicorn 21-23 did with every
connection). The constant itself is left alone: gunicorn also bounds the drain of a body the app
left unread with it, and at 0 every keep-alive connection was closed after its answer (the bench
caught that first attempt as "connection closed before the answer").

**The load spread over the processes.** Every worker process listens on the same socket, and
gthread accepts whenever it is woken, however busy it is; a kept-alive connection then stays with
the process that accepted it. One process runs Python on one core at a time (the GIL), so a
client's busy connections gathered in one process queue there while the other idles. The bench
saw both: wrk's 16 connections, opened at once, all in one process in 3 of 8 rounds (690 against
1,550-1,730 deliveries a second), and at 700/s the load drifting onto one process within 25 s
(0.85 and 0.00 of a core), as a client that reuses its most recently freed connection, as
urllib3's pool does, keeps feeding the slower process. Two remedies, both bounded:

- a worker with requests in hand lets a new connection wait 5 ms per request (at most one per
  thread) before it accepts it, so a worker with fewer takes it first. Both workers are woken by
  each connection; the wait only orders them. An earlier attempt that stopped accepting until a
  thread was free starved new connections under overload (61 s in the listen queue); here no
  connection waits more than 5 ms per thread for a worker's turn, and one that finds a worker
  with nothing in hand is accepted at once.
- a keep-alive connection is closed after ``REQUESTS_PER_CONNECTION`` answers, the last one saying
  ``Connection: close`` (nginx's ``keepalive_requests`` does the same, 1000 by default; 100 until
  nginx 1.19.10), so a client's hot connections are opened again, where the load is lighter.

**An answer in one send**: its headers go out with its body (``ops.gunicorn_response``).

**A thread keeps its connection for the next request, briefly** (``_next_request_comes``): up to
2 ms, while no other request waits for a thread, instead of a round through the main thread for
every request on a kept-alive connection.
"""

from __future__ import annotations

import select
import socket
import time
from typing import Any

from gunicorn.http.message import Request
from gunicorn.workers import gthread

from ops import gunicorn_response

#: What ``handle`` returns for "give this connection to the poller" (gthread's own, private).
_TO_THE_POLLER: Any = gthread._DEFER  # type: ignore[attr-defined]

#: How long a worker lets a new connection wait per request it has in hand (at most ``threads`` of
#: them) for a worker with fewer to accept it. Long enough for that worker to be scheduled and take
#: it on a busy machine: at 1 ms and at 2 ms (the poller's clock counts whole milliseconds) the
#: worker with one request more still came first in 1 of 21 and 1 of 10 quiet test runs; at 5 ms in
#: none of 10, nor of 6 beside two CPU hogs.
ACCEPT_WAIT_PER_REQUEST = 0.005

#: Answers one keep-alive connection carries; the last closes it (``Connection: close``).
REQUESTS_PER_CONNECTION = 100

#: How long a serving thread waits on its kept-alive connection for the next request before
#: handing the connection back to the poller (only while no other request waits for a thread).
LINGER_SECONDS = 0.002


class ThreadWorker(gthread.ThreadWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._paused_until = 0.0  # monotonic: not accepting until then, another worker's turn
        self._serving: set[gthread.TConn] = set()  # connections a thread is serving a request of

    def init_process(self) -> None:
        gunicorn_response.install()  # an answer's headers and body in one send
        super().init_process()

    def handle(self, conn: gthread.TConn) -> Any:
        if not conn.initialized and not conn.wait_for_data(0):
            return _TO_THE_POLLER
        while True:
            self._serving.add(conn)
            try:
                keep = super().handle(conn)
            finally:
                self._serving.discard(conn)
            if keep is not True or not self._next_request_comes(conn):
                return keep

    def _next_request_comes(self, conn: gthread.TConn) -> bool:
        """Whether the kept-alive connection's next request is here within ``LINGER_SECONDS``.

        Handing a connection back costs a round through the main thread for every request: a pipe
        write to wake it, the poller's unregister and register, and a thread woken again when the
        next request arrives. A client sending one request after another (a provider's retries, a
        load balancer's pool) usually has the next one on the wire within a millisecond or two, so
        the serving thread waits that long first, with the GIL let go, and only while no other
        request waits for a thread (gthread's pool queue, ``ThreadPoolExecutor._work_queue``).
        """
        if not self.alive or self.cfg.is_ssl:  # TLS may hold decrypted bytes that select cannot see
            return False
        parser: Any = conn.parser
        if parser.unreader.buf.getvalue():  # the next request, read ahead with the last body
            return True
        if self._waiting_for_a_thread():
            return False
        try:
            readable, _, _ = select.select([conn.sock], [], [], LINGER_SECONDS)
        except (OSError, ValueError):
            return False
        return bool(readable)

    def handle_request(self, req: Request, conn: gthread.TConn) -> bool:
        """gthread's, with the connection's ``REQUESTS_PER_CONNECTION``-th answer closing it."""
        served = getattr(conn, "served", 0) + 1
        conn.served = served  # type: ignore[attr-defined]
        if served >= REQUESTS_PER_CONNECTION:
            req.force_close()
        return super().handle_request(req, conn)

    def accept(self, listener: socket.socket) -> None:
        """Accept now with no request in hand, or once back from a pause; else pause first."""
        now = time.monotonic()
        wait = min(self._requests_in_hand(), self.cfg.threads) * ACCEPT_WAIT_PER_REQUEST
        back_from_a_pause = now <= self._paused_until + ACCEPT_WAIT_PER_REQUEST
        if wait and not back_from_a_pause:
            self._paused_until = now + wait
            super().set_accept_enabled(False)
            return
        super().accept(listener)

    def set_accept_enabled(self, enabled: bool | None) -> None:
        """gthread's loop turns accepting back on at every turn; not before a pause ends."""
        if enabled and time.monotonic() < self._paused_until:
            return
        super().set_accept_enabled(enabled)

    def wait_for_and_dispatch_events(self, timeout: float | None) -> None:
        """gthread's, waking when a pause ends to take the connection if no other worker did."""
        remaining = self._paused_until - time.monotonic()
        if remaining > 0:
            timeout = remaining if timeout is None else min(timeout, remaining)
        super().wait_for_and_dispatch_events(timeout)

    def _requests_in_hand(self) -> int:
        """Requests a thread is serving or that wait for a thread (gthread's pool queue); not the
        connections the poller watches or a thread lingers on (``_next_request_comes``)."""
        return len(self._serving) + self._waiting_for_a_thread()

    def _waiting_for_a_thread(self) -> int:
        """Requests queued for a thread: gthread gives no count, so its pool's own queue
        (``ThreadPoolExecutor._work_queue``, private)."""
        return self.tpool._work_queue.qsize()
