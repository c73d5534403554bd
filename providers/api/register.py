"""``flask providers register``: put our URL at a provider, once.

Idempotent: a registration with the same URL (per entity, for Celcoin) is reported, not created
again. The signing secret a provider returns on creation is handed back to the caller to print
*once* on the operator's terminal, with the exact config var to set; it never reaches a log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from config import LOOPBACK_HOSTS, Settings

#: The config var each provider's returned secret belongs in.
SECRET_VAR = {"kobana": "KOBANA_WEBHOOK_SECRET", "transfeera": "TRANSFEERA_WEBHOOK_SECRET"}


class RegisterError(ValueError):
    """The request cannot be honoured as given (bad URL, missing credentials)."""


@dataclass
class Registration:
    provider: str
    url: str
    dry_run: bool
    created: list[dict[str, Any]] = field(default_factory=list)
    existing: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    #: (config var, secret) to print once; never logged, never in ``to_dict``.
    secret: tuple[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "url": self.url,
            "dry_run": self.dry_run,
            "created": self.created,
            "existing": self.existing,
            "conflicts": self.conflicts,
            "secret_var": self.secret[0] if self.secret else None,
        }


def check_url(url: str) -> str:
    """https only, except for localhost (a developer's tunnel-less test)."""
    parts = urlsplit(url)
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise RegisterError(f"--url: not an absolute URL: {url!r}")
    if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise RegisterError("--url: must be https:// (plain http is accepted for localhost only)")
    return url.rstrip("/")


def points_at_us(url: str, provider: str) -> bool:
    """Does a registration's URL reach our door for ``provider`` (``/webhooks/<provider>[/...]``)?"""
    return f"/webhooks/{provider}/" in urlsplit(url).path.rstrip("/") + "/"


def _same(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def _register_url(name: str) -> Callable[[Any, Settings, str, tuple[str, ...], bool], Registration]:
    """Kobana and Transfeera alike: one webhook per URL; the signing secret is shown only at creation."""

    def register(api: Any, settings: Settings, url: str, events: tuple[str, ...], dry_run: bool) -> Registration:
        result = Registration(name, url, dry_run)
        result.existing = [hook.to_dict() for hook in api.webhooks() if _same(hook.url, url)]
        if result.existing or dry_run:
            if dry_run and not result.existing:
                result.created.append({"url": url, "events": list(events), "would_create": True})
            return result
        hook, secret = api.create_webhook(url, events)
        result.created.append(hook.to_dict())
        if secret:
            result.secret = (SECRET_VAR[name], str(secret))
        return result

    return register


def register_celcoin(api: Any, settings: Settings, url: str, events: tuple[str, ...], dry_run: bool) -> Registration:
    """One subscription per entity, at ``<url>/<entity>`` (the door names flat bodies by it),
    with Basic auth set to our ``CELCOIN_WEBHOOK_USERNAME``/``PASSWORD``."""
    if settings.celcoin is None:
        raise RegisterError("CELCOIN_WEBHOOK_USERNAME/CELCOIN_WEBHOOK_PASSWORD: set them first; Celcoin will send them")
    result = Registration("celcoin", url, dry_run)
    held = {sub.entity: sub for sub in api.subscriptions()}
    for entity in events:
        target = f"{url}/{entity}"
        current = held.get(entity)
        if current is not None:
            if _same(current.url, target):
                result.existing.append(current.to_dict())
            else:
                result.conflicts.append(f"{entity}: already subscribed to another URL; change it in Celcoin first")
            continue
        if dry_run:
            result.created.append({"url": target, "events": [entity], "would_create": True})
            continue
        login = settings.celcoin.username.decode()
        password = settings.celcoin.password.decode()
        if api.subscribe(entity, target, login, password):
            result.created.append({"url": target, "events": [entity], "active": True})
        else:
            result.existing.append({"url": target, "events": [entity], "active": None})
    return result


REGISTRARS: dict[str, Callable[..., Registration]] = {
    "kobana": _register_url("kobana"),
    "transfeera": _register_url("transfeera"),
    "celcoin": register_celcoin,
}
