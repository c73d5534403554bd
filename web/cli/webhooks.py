"""``flask webhooks send PROVIDER EVENT`` and ``flask webhooks events``: prove a secret end to end.

With no provider credentials configured at all (a laptop running ``python serve.py``), the
sender signs with serve.py's development credentials and says so, exactly as serve.py does.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

import sender
from config import Settings

webhooks_cli = AppGroup("webhooks", help="Send signed test webhooks, as the providers do.")


@webhooks_cli.command("send")
@click.argument("provider", type=click.Choice(sorted(sender.SENDERS)))
@click.argument("event")
@click.option("--url", help="Base URL of the service. Default: http://127.0.0.1:$PORT (8000).")
@click.option(
    "--file",
    "body_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Send this body instead of the event's template.",
)
@click.option(
    "--count",
    default=1,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="How many events to send, each with fresh identifiers.",
)
@click.option("--as-is", is_flag=True, help="Send the body byte for byte (no fresh ids: repeats are duplicates).")
def send(provider: str, event: str, url: str | None, body_file: Path | None, count: int, as_is: bool) -> None:
    """Build a realistic EVENT body, sign it like PROVIDER with the configured secret, POST it."""
    settings = _signing_settings(current_app.extensions["settings"])
    base_url = url or f"http://127.0.0.1:{settings.port}"
    raw = body_file.read_bytes() if body_file else None
    timings: list[float] = []
    failures = 0
    for _ in range(count):
        try:
            prepared = sender.prepare(provider, event, settings, raw=raw, fresh=not as_is, now=time.time())
            result = sender.post(base_url, prepared)
        except sender.SendError as exc:
            raise click.ClickException(str(exc)) from None
        timings.append(result.seconds * 1000)
        failures += not 200 <= result.status < 300
        click.echo(f"{provider} {event} -> {result.status} {result.body} in {result.seconds * 1000:.1f} ms")
    if count > 1:
        click.echo(
            f"{count} sent, {count - failures} accepted (2xx), {failures} refused; "
            f"ms min/median/max {min(timings):.1f}/{statistics.median(timings):.1f}/{max(timings):.1f}"
        )
    if failures:
        sys.exit(1)


@webhooks_cli.command("events")
@click.argument("provider", required=False, type=click.Choice(sorted(sender.SENDERS)))
def list_events(provider: str | None) -> None:
    """List the events that have a built-in body."""
    for name in [provider] if provider else sorted(sender.SENDERS):
        click.echo(f"{name}: {' '.join(sender.events(name))}")


def _signing_settings(settings: Settings) -> Settings:
    import serve

    if settings.enabled_providers:
        return settings
    click.echo("no provider credentials set; signing with serve.py's development credentials", err=True)
    return Settings.from_env(serve.with_dev_credentials(os.environ))
