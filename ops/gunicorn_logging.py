"""gunicorn's own logs through structlog: the same masked JSON or console lines as the app.

``logger_class`` in gunicorn.conf.py. The error log (boot, worker exits, timeouts) is handed to
the root handler that ``configure_logging`` installs; the access log becomes one structured
``http.access`` line per request, without the query string (it could carry a token), except for
requests the app logged itself with the same fields (a webhook's ``webhook.handled``): one line
per request, not two.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Any

import structlog
from gunicorn import glogging

from config import Settings
from ops.logconfig import configure_logging

#: The WSGI environ key an app sets on a request it wrote its own complete line for
#: (``web.webhooks`` sets it).
APP_LOGGED = "webhook_receiver.logged"

access_log = structlog.get_logger("gunicorn.access")


class StructlogLogger(glogging.Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        configure_logging(Settings.from_env(os.environ))
        for log in (self.error_log, self.access_log):
            log.handlers[:] = []  # gunicorn's plain-text handlers; the root's structlog one remains
            log.propagate = True

    def access(self, resp: Any, req: Any, environ: MutableMapping[str, Any], request_time: Any) -> None:
        if environ.get(APP_LOGGED):
            return
        atoms = self.atoms(resp, req, environ, request_time)
        access_log.info(
            "http.access",
            method=atoms.get("m"),
            path=atoms.get("U"),
            status=resp.status_code if hasattr(resp, "status_code") else atoms.get("s"),
            bytes=atoms.get("B"),
            duration_ms=round(request_time.total_seconds() * 1000, 2),
            request_id=atoms.get("{x-request-id}o") or None,
        )
