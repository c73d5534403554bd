"""Helpers for provider-sync tests: provider API settings pointing at loopback contract servers,
provider bodies dated for a window, and the CLI as an operator runs it."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from config import Settings
from tests.helpers import SAMPLES

KOBANA_TOKEN = "kobana-api-token-0123456789abcdef"
TRANSFEERA_ID, TRANSFEERA_SECRET = "transfeera-client", "transfeera-client-secret-abcdef0123"
CELCOIN_ID, CELCOIN_SECRET = "celcoin-client", "celcoin-client-secret-0123abcdef"
#: No real waits: backoff sleeps are recorded, and a wait over a second is "too long, stop".
SLEEPS: list[float] = []
HTTP_OPTIONS: dict[str, Any] = {"sleep": SLEEPS.append, "max_wait": 5.0, "backoff": 0.01}


def api_settings(settings: Settings, *, kobana: str | None = None, transfeera: str | None = None,
                 celcoin: str | None = None) -> Settings:  # fmt: skip
    changes: dict[str, Any] = {}
    if kobana:
        changes.update(kobana_api_url=kobana, kobana_api_token=KOBANA_TOKEN)
    if transfeera:
        changes.update(transfeera_api_url=transfeera, transfeera_auth_url=f"{transfeera}/authorization",
                       transfeera_client_id=TRANSFEERA_ID, transfeera_client_secret=TRANSFEERA_SECRET)  # fmt: skip
    if celcoin:
        changes.update(celcoin_api_url=celcoin, celcoin_client_id=CELCOIN_ID, celcoin_client_secret=CELCOIN_SECRET)
    return settings.replace(**changes)


def sample_body(provider: str, name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / provider / name).read_text(), parse_float=Decimal)  # type: ignore[no-any-return]


def transfer_finalized(
    hours_ago: float = 1.0, event_id: str = "7d3aae40-6655-4d9a-801b-d0ab7ae906d7"
) -> dict[str, Any]:
    """Transfeera's documented ``Transfer`` envelope, FINALIZADO, dated ``hours_ago``."""
    body = copy.deepcopy(sample_body("transfeera", "Transfer.json"))
    body["id"] = event_id
    when = datetime.now(UTC) - timedelta(hours=hours_ago)
    body["date"] = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return body


def kobana_paid(ident: int) -> dict[str, Any]:
    body = copy.deepcopy(sample_body("kobana", "bank_billet.paid.json"))
    body["object"]["id"] = ident
    return body


def cli_json(app: Any, *args: str) -> tuple[int, Any, str]:
    """Run ``flask providers ARGS`` with the test HTTP options; (exit code, parsed JSON or None, output)."""
    app.extensions["provider_http_options"] = HTTP_OPTIONS
    result = app.test_cli_runner().invoke(args=["providers", *args])
    try:
        parsed = json.loads(result.stdout)
    except ValueError:
        parsed = None
    return result.exit_code, parsed, result.output
