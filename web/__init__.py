"""Everything that touches ``flask.request``: the door, health checks, the ``/metrics`` view, the
finance console (``web/console``) and the ``flask`` command groups (``web/cli``).

Imports point one way: ``web`` uses workers, ledger, providers and ops; nothing there imports
``web`` or Flask.
"""

from __future__ import annotations

from flask import Flask

from config import Settings
from web import health, queue, scrape, webhooks


def register(app: Flask, settings: Settings) -> None:
    """Attach the Redis client, the door, the health checks, the metrics view and the console to ``app``."""
    queue.init_app(app, settings)
    app.register_blueprint(webhooks.bp)
    health.init_app(app)
    scrape.init_app(app)
    from web import console  # the console's extensions load only with the app, not with ``web``

    console.init_app(app, settings)
