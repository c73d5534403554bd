"""The gunicorn worker the Procfile's web line runs: gthread, without a 5-second stall.

gunicorn 24+ hands every accepted connection to a serving thread, which waits up to 5 s
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
