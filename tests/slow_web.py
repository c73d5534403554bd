"""gunicorn entry point for the mid-request kill scenario: ``gunicorn tests.slow_web:app``.

The real app, with ``SLOW_ENQUEUE`` seconds spent just before and just after the enqueue (the one
seam), so a SIGKILL lands inside a request: before the event is in Redis, or after it is stored
but before the 2xx is sent.
"""

from __future__ import annotations

import os
import time
from typing import Any

from app import create_app
from web import webhooks

_PAUSE = float(os.environ.get("SLOW_ENQUEUE", "0.03"))
_enqueue = webhooks.enqueue_event


def _slow_enqueue(*args: Any, **kwargs: Any) -> str:
    time.sleep(_PAUSE)
    result = _enqueue(*args, **kwargs)
    time.sleep(_PAUSE)
    return result


webhooks.enqueue_event = _slow_enqueue
app = create_app()
