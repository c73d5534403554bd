"""The naive design the providers' docs sketch: verify, parse and *process* inside the request.

Same authentication and validation code as the service, then the handler's work (a 200 ms
sleep standing in for a slow ledger update or API call, ``BENCH_HANDLER_SECONDS``) before the
200, so a slow handler holds a gunicorn thread for its whole duration.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from flask import Flask, request

import providers
from config import Settings
from providers import kobana
from providers.errors import Unauthenticated

SETTINGS = Settings.from_env(os.environ)
HANDLER_SECONDS = float(os.environ.get("BENCH_HANDLER_SECONDS", "0.2"))
app = Flask(__name__)


@app.post("/webhooks/kobana")
def receive() -> tuple[str, int]:
    raw = request.get_data()
    try:
        kobana.authenticate(request.headers, raw, SETTINGS, time.time())
    except Unauthenticated:
        return "", kobana.UNAUTHENTICATED_STATUS
    content_type = request.content_type or ""
    providers.receive(
        kobana, request.headers, raw, content_type=content_type, entity=None, received_at=datetime.now(UTC)
    )
    time.sleep(HANDLER_SECONDS)  # the handler, run in the request
    return "", 200
