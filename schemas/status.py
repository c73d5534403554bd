"""The statuses of an event, one list for the queue (``Envelope.status``) and the event log.

The door decides ``received``, ``ping`` (a provider's test) or ``quarantined`` (authentic but
invalid); the worker moves ``received`` to ``processed``, ``ignored`` (no handler) or ``failed``.
"""

from __future__ import annotations

RECEIVED = "received"
PING = "ping"
QUARANTINED = "quarantined"
PROCESSED = "processed"
IGNORED = "ignored"
FAILED = "failed"
STATUSES = (RECEIVED, PROCESSED, IGNORED, FAILED, QUARANTINED, PING)
