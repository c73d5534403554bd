"""The web half of the metrics: ``GET /metrics`` and the per-request counters of the door.

The counters themselves and the Redis-backed queue gauges live in ``ops.metrics``, which the
worker shares without loading Flask.
"""

from __future__ import annotations

import functools
import hmac
import time

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from config import Settings
from ops.metrics import ACK_SECONDS, REQUESTS, scrape_registry
from providers import PROVIDERS
from web.outcome import recorded
from web.queue import get_connection

bp = Blueprint("metrics", __name__)

_LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


@bp.after_app_request
def _count_webhook(response: Response) -> Response:
    if request.path.startswith("/webhooks/"):
        name = (request.view_args or {}).get("provider_name", "")
        provider = name if name in PROVIDERS else "unknown"
        _requests(provider, recorded().value).inc()
        started = g.get("started")
        if started is not None:
            _ack_seconds(provider).observe(time.perf_counter() - started)
    return response


# A metric's child per label values, looked up once: ``labels()`` checks and converts the values
# and takes the metric's lock on every call (3.4 µs of the door's 8 µs of metrics, timeit). The
# values are bounded: a provider's name or "unknown", and an ``Outcome``.
_requests = functools.cache(REQUESTS.labels)
_ack_seconds = functools.cache(ACK_SECONDS.labels)


@bp.get("/metrics")
def scrape() -> Response | tuple[Response, int]:
    """Prometheus text format; a bearer token, or loopback only, or nothing when on its own port."""
    settings: Settings = current_app.extensions["settings"]
    if settings.metrics_port:
        abort(404)  # served on the internal port instead
    if settings.metrics_token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
            return jsonify(error="unauthenticated", message="metrics need Authorization: Bearer <METRICS_TOKEN>"), 401
    elif request.remote_addr not in _LOOPBACK:
        return jsonify(error="forbidden", message="set METRICS_TOKEN to scrape metrics from another host"), 403
    data = generate_latest(scrape_registry(get_connection()))
    return Response(data, mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
