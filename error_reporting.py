"""Optional error reporting to Sentry, on when ``SENTRY_DSN`` is set, for web and worker alike.

Webhook bodies carry CPF/CNPJ and amounts, and frames hold the raw body and secrets, so
nothing but the stack and masked log breadcrumbs leaves: no request bodies, no PII defaults,
no local variables.
"""

from __future__ import annotations

from config import Settings


def init(settings: Settings, component: str) -> bool:
    """Start the Sentry SDK when configured; returns whether it did. ``component``: web or worker."""
    if not settings.sentry_dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment,
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
    )
    sentry_sdk.set_tag("component", component)
    return True
