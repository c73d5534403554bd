"""The ceiling: a bare Flask endpoint that reads the body and answers 200, nothing else.

Served by the same gunicorn settings as the service, so the ratio ours/bare is the price of
authenticating, validating, logging and durably enqueueing one webhook.
"""

from __future__ import annotations

from flask import Flask, request

app = Flask(__name__)


@app.post("/webhooks/<provider>")
def receive(provider: str) -> tuple[str, int]:
    request.get_data()
    return "", 200
