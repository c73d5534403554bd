"""Clients for the providers' own APIs: registering our webhook URL and finding deliveries the
provider gave up on. Flask-free; one module per provider over the shared ``http`` client.
Which parts rest on the provider's documentation and which on third parties: docs/provider-sync.md.
"""

from __future__ import annotations

from typing import Any

from config import Settings
from providers.api import celcoin, kobana, transfeera

#: Provider name → (client factory, API class). ``open_api`` is the one way to get an API object.
_APIS: dict[str, tuple[Any, Any]] = {
    "kobana": (kobana.client, kobana.KobanaApi),
    "transfeera": (transfeera.client, transfeera.TransfeeraApi),
    "celcoin": (celcoin.client, celcoin.CelcoinApi),
}
NAMES = tuple(_APIS)


def open_api(name: str, settings: Settings, **http_options: Any) -> Any:
    """The provider's API object over a fresh client (close it with ``api.http.close()``).

    ``http_options`` reach ``http.ApiClient``: tests pass ``sleep``/``max_wait`` so backoff
    costs no real time.
    """
    make_client, api_class = _APIS[name]
    return api_class(settings, make_client(settings, **http_options))
