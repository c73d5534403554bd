"""``flask providers status|register|webhooks|resync``: our registrations at each provider, and
recovery of the deliveries a provider gave up on. docs/provider-sync.md; the engine is Flask-free
(``workers.sync``, ``providers.api``): this module only parses options and prints.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

import db
from config import Settings
from providers.api import NAMES, open_api
from providers.api.http import ApiError
from providers.api.register import REGISTRARS, RegisterError, check_url
from web.cli.events import parse_since

providers_cli = AppGroup("providers", help="Provider APIs: registrations and resync of lost deliveries.")

_FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
_WITH_ALL = click.Choice([*NAMES, "all"])


def _settings() -> Settings:
    settings: Settings = current_app.extensions["settings"]
    return settings


def _http_options() -> dict[str, Any]:
    """Options for the API clients; tests set ``provider_http_options`` (no real backoff sleeps)."""
    return dict(current_app.extensions.get("provider_http_options", {}))


def _names(provider: str) -> list[str]:
    return list(NAMES) if provider == "all" else [provider]


def _require_api(name: str) -> None:
    if name not in _settings().api_providers:
        raise click.ClickException(f"{name}: API credentials not configured (see docs/provider-sync.md)")


@contextmanager
def _api(name: str) -> Iterator[Any]:
    api = open_api(name, _settings(), **_http_options())
    try:
        yield api
    finally:
        api.http.close()


def _dump(value: Any) -> None:
    click.echo(json.dumps(json.loads(db.dumps(value)), indent=2, ensure_ascii=False))


def _registrations(name: str) -> list[dict[str, Any]]:
    with _api(name) as api:
        if name == "celcoin":
            return [sub.to_dict() for sub in api.subscriptions()]
        return [hook.to_dict() for hook in api.webhooks()]


@providers_cli.command("status")
@click.option("--offline", is_flag=True, help="do not call the providers (no registrations listed)")
@_FORMAT
def status(offline: bool, fmt: str) -> None:
    """Per provider: API configured, registered webhooks, last sync and events recovered."""
    from db.sync_state import last_results

    settings = _settings()
    engine = db.engine_from(settings)
    try:
        results = last_results(engine)
    finally:
        engine.dispose()
    rows = []
    for name in NAMES:
        entry: dict[str, Any] = {
            "provider": name,
            "api_configured": name in settings.api_providers,
            "webhooks_enabled": name in settings.enabled_providers,
            "webhooks": None,
            "webhooks_error": None,
            "last_sync": results[name].to_dict() if name in results else None,
            "recovered": results[name].recovered if name in results else 0,
        }
        if entry["api_configured"] and not offline:
            try:
                entry["webhooks"] = _registrations(name)
            except ApiError as exc:
                entry["webhooks_error"] = str(exc)
        rows.append(entry)
    if fmt == "json":
        _dump(rows)
        return
    for entry in rows:
        _print_status(entry)


def _print_status(entry: dict[str, Any]) -> None:
    name = entry["provider"]
    if not entry["api_configured"]:
        click.echo(f"{name}: API not configured: no registration check, no sync")
        return
    click.echo(f"{name}: API configured; webhooks {'enabled' if entry['webhooks_enabled'] else 'DISABLED (no secret)'}")
    if entry["webhooks_error"]:
        click.echo(f"  webhooks: could not list: {entry['webhooks_error']}")
    for hook in entry["webhooks"] or []:
        state = "active" if hook.get("active") else "inactive"
        click.echo(f"  webhook {hook.get('url')}  [{', '.join(hook.get('events') or [])}]  {state}")
    if entry["webhooks"] == []:
        click.echo("  webhooks: none registered (flask providers register)")
    last = entry["last_sync"]
    if last is None:
        click.echo("  last sync: never")
    else:
        result = "ok" if last["ok"] else f"ERROR: {last['error']}"
        if last["ok"] and not last["complete"]:
            result = "ok, incomplete (resumes next run)"
        window = last["window"]
        counts = last["counts"]
        click.echo(f"  last sync: {last['ran_at']} window {window['since']} → {window['until']}: {result}")
        click.echo(
            f"    found {counts.get('found', 0)}, ingested {counts.get('ingested', 0)}, "
            f"duplicate {counts.get('duplicate', 0)}, requested_resend {counts.get('requested_resend', 0)}"
        )
    click.echo(f"  recovered by sync so far: {entry['recovered']}")


@providers_cli.command("register")
@click.argument("provider", type=click.Choice(NAMES))
@click.option("--url", required=True, help="https://HOST/webhooks/PROVIDER")
@click.option("--events", help="comma-separated event codes (Kobana), object types (Transfeera) or entities (Celcoin)")
@click.option("--dry-run", is_flag=True, help="show what would be registered; change nothing")
@_FORMAT
def register(provider: str, url: str, events: str | None, dry_run: bool, fmt: str) -> None:
    """Register our webhook URL at PROVIDER, once; prints a new signing secret once."""
    from providers.api import celcoin, kobana, transfeera

    _require_api(provider)
    try:
        url = check_url(url)
    except RegisterError as exc:
        raise click.UsageError(str(exc)) from None
    if not url.endswith(f"/webhooks/{provider}"):
        click.echo(f"warning: our endpoint for {provider} is https://HOST/webhooks/{provider}", err=True)
    defaults = {
        "kobana": kobana.DEFAULT_EVENTS,
        "transfeera": transfeera.DEFAULT_EVENTS,
        "celcoin": celcoin.DEFAULT_EVENTS,
    }
    wanted = tuple(e.strip() for e in events.split(",") if e.strip()) if events else defaults[provider]
    try:
        with _api(provider) as api:
            result = REGISTRARS[provider](api, _settings(), url, wanted, dry_run)
    except (RegisterError, ApiError) as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "json":
        _dump(result.to_dict())
    else:
        for hook in result.existing:
            click.echo(f"{provider}: already registered: {hook.get('url')} [{', '.join(hook.get('events') or [])}]")
        for hook in result.created:
            verb = "would register" if dry_run else "registered"
            click.echo(f"{provider}: {verb}: {hook.get('url')} [{', '.join(hook.get('events') or [])}]")
        for conflict in result.conflicts:
            click.echo(f"{provider}: NOT registered: {conflict}")
    if result.secret:
        var, secret = result.secret
        # The one place a secret is printed, by design: the operator's terminal, never a log.
        click.echo(f"\nSet this now; {provider} shows it only once:\n  {var}={secret}", err=fmt == "json")
    if result.conflicts:
        sys.exit(1)


@providers_cli.command("webhooks")
@click.argument("provider", type=_WITH_ALL)
@_FORMAT
def webhooks(provider: str, fmt: str) -> None:
    """The registrations PROVIDER holds for us."""
    out: list[dict[str, Any]] = []
    for name in _names(provider):
        if provider == "all" and name not in _settings().api_providers:
            continue
        _require_api(name)
        try:
            out.append({"provider": name, "webhooks": _registrations(name)})
        except ApiError as exc:
            raise click.ClickException(str(exc)) from None
    if fmt == "json":
        _dump(out)
        return
    for entry in out:
        for hook in entry["webhooks"]:
            state = "active" if hook.get("active") else "inactive"
            click.echo(f"{entry['provider']}: {hook.get('url')}  [{', '.join(hook.get('events') or [])}]  {state}")
        if not entry["webhooks"]:
            click.echo(f"{entry['provider']}: (none)")


@providers_cli.command("resync")
@click.argument("provider", type=_WITH_ALL)
@click.option("--since", "since_text", required=True, help="ISO 8601 or an age (30m, 2h, 7d)")
@click.option("--until", "until_text", help="ISO 8601 or an age; default now")
@click.option("--dry-run", is_flag=True, help="find and count; ingest and ask nothing")
@_FORMAT
def resync(provider: str, since_text: str, until_text: str | None, dry_run: bool, fmt: str) -> None:
    """Find what PROVIDER failed to deliver in the window and bring it in. Exit 1 on any error."""
    from workers import sync
    from workers.queue import connect
    from workers.sync_ingest import iso

    since = parse_since(since_text)
    until = parse_since(until_text) if until_text else datetime.now(UTC)
    if since >= until:
        raise click.UsageError("--since must be before --until")
    settings = _settings()
    names = [n for n in _names(provider) if provider != "all" or n in settings.api_providers]
    if provider != "all":
        _require_api(provider)
    if not names:
        raise click.ClickException("no provider API configured (see docs/provider-sync.md)")
    engine = db.engine_from(settings)
    connection = connect(settings)
    try:
        ctx = sync.Context(settings, engine, connection, http_options=_http_options())
        reports = [sync.run(ctx, name, since, until, dry_run=dry_run) for name in names]
    finally:
        connection.close()
        engine.dispose()
    if fmt == "json":
        _dump([r.to_dict() for r in reports])
    else:
        for r in reports:
            head = "DRY RUN " if dry_run else ""
            click.echo(
                f"{head}{r.provider}: window {iso(r.since)} → {iso(r.until)}: found {r.found}, "
                f"ingested {r.ingested}, duplicate {r.duplicate}, requested_resend {r.requested_resend}, "
                f"errors {len(r.errors)}" + (f", would ingest {r.would_ingest}" if dry_run else "")
            )
            for note in r.notes:
                click.echo(f"  note: {note}")
            for error in r.errors:
                click.echo(f"  ERROR: {error}")
    if any(r.errors for r in reports):
        sys.exit(1)
