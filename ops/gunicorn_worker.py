"""The gunicorn worker the Procfile's web line runs: gthread, without a 5-second stall, taking new
connections only with a thread free.

**No 5-second stall.** gunicorn 24+ hands every accepted connection to a serving thread, which waits up to 5 s
(``gthread.DEFAULT_WORKER_DATA_TIMEOUT``, a module constant, not a setting) for its first bytes
before giving it to the poller (gunicorn issue #3634; its fix, PR #3635, is not in 27.0.1). As many
connections that send nothing as there are threads (WEB_CONCURRENCY x WEB_THREADS) then stall every
delivery for 5 s: a client's or a load balancer's speculative connections, or anyone's on purpose.
Measured: a request behind 8 silent connections answered in 4.8 s, behind 32 in 19.8 s; 700/s
bench rounds had seconds at p99 4.5-11.7 s while the cores were 70 % busy.

Here a thread serves a new connection only when its bytes are already there; any other goes
straight to the poller, which queues it once they arrive (as gunicorn 21-23 did with every
connection). The constant itself is left alone: gunicorn also bounds the drain of a body the app
left unread with it, and at 0 every keep-alive connection was closed after its answer (the bench
caught that first attempt as "connection closed before the answer").

**New connections go to a worker with a thread free.** Every worker process listens on the same
socket, and gthread accepts whenever it is woken, however busy its threads. A client that opens its
keep-alive connections at once (a load balancer, a provider's pool) could find them all taken by one
process, which then serves them all on one core while the other process idles, for as long as they
stay open. Here a worker stops accepting while every one of its threads has a request, and leaves
the connections waiting in the listen queue to a process that can serve them now.
"""

from __future__ import annotations

from typing import Any

from gunicorn.workers import gthread

#: What ``handle`` returns for "give this connection to the poller" (gthread's own, private).
_TO_THE_POLLER: Any = gthread._DEFER  # type: ignore[attr-defined]


class ThreadWorker(gthread.ThreadWorker):
    def handle(self, conn: gthread.TConn) -> Any:
        if not conn.initialized and not conn.wait_for_data(0):
            return _TO_THE_POLLER
        return super().handle(conn)

    def set_accept_enabled(self, enabled: bool | None) -> None:
        """gthread's loop turns accepting on whenever it is under ``worker_connections``; here only
        while a thread is free as well."""
        super().set_accept_enabled(bool(enabled) and not self._every_thread_busy())

    def wait_for_and_dispatch_events(self, timeout: float | None) -> None:
        """Called once per turn of gthread's loop, after it decided on accepting: stop accepting
        once every thread has a request (the loop turns it back on when one is free)."""
        if self._accepting and self._every_thread_busy():  # type: ignore[attr-defined]  # gthread's own
            super().set_accept_enabled(False)
        super().wait_for_and_dispatch_events(timeout)

    def _every_thread_busy(self) -> bool:
        """Connections with a request in a thread or waiting for one: the open ones, less those
        the poller watches (kept alive, or accepted before their first bytes, which take no thread)."""
        serving = self.nr_conns - len(self.keepalived_conns) - len(self.pending_conns)
        return serving >= self.cfg.threads
