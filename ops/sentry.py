"""Optional error reporting to Sentry, on when ``SENTRY_DSN`` is set, for web and worker alike.

Webhook bodies carry CPF/CNPJ and amounts, frames hold the raw body and secrets, and headers
hold Basic credentials, so nothing but the stack and masked log breadcrumbs leaves: no request
bodies, no headers, cookies or user data, no local variables. Recent sentry-sdk versions
replace ``send_default_pii`` by ``data_collection``; the older option is used where that one
does not exist yet.
"""

from __future__ import annotations

from typing import Any

from config import Settings

_OFF = {"mode": "off"}


def options(settings: Settings) -> dict[str, Any]:
    """The SDK options: only what Sentry needs to show a stack, nothing of the request."""
    from sentry_sdk.consts import DEFAULT_OPTIONS

    found: dict[str, Any] = {
        "dsn": settings.sentry_dsn,
        "environment": settings.sentry_environment,
        "max_request_body_size": "never",
        "include_local_variables": False,
    }
    if "data_collection" in DEFAULT_OPTIONS:
        found["data_collection"] = {
            "user_info": False,
            "cookies": _OFF,
            "http_headers": {"request": _OFF},
            "http_bodies": [],
            "url_query_params": _OFF,
            "stack_frame_variables": False,
        }
    else:
        found["send_default_pii"] = False
    return found


def init(settings: Settings, component: str) -> bool:
    """Start the Sentry SDK when configured; returns whether it did. ``component``: web or worker."""
    if not settings.sentry_dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(**options(settings))
    sentry_sdk.set_tag("component", component)
    return True
