"""Provider API settings: all optional, validated at start-up, secrets never printed."""

from __future__ import annotations

import pytest

from config import ConfigError, Settings


def test_no_api_variables_means_no_sync():
    settings = Settings.from_env({})
    assert settings.api_providers == ()
    assert (settings.kobana_api_url, settings.provider_sync_interval) == ("https://api.kobana.com.br", 900)


def test_each_provider_is_enabled_by_its_credentials(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    settings = Settings.from_env({
        "KOBANA_API_TOKEN": "tok-123456", "TRANSFEERA_CLIENT_ID": "id", "TRANSFEERA_CLIENT_SECRET": "sec-123456",
        "CELCOIN_CLIENT_ID": "cid", "CELCOIN_CLIENT_SECRET": "csec-123456", "CELCOIN_CLIENT_CERT": str(cert),
        "CELCOIN_CLIENT_KEY": str(key), "CELCOIN_API_URL": "https://sandbox.openfinance.celcoin.dev",
        "PROVIDER_SYNC_INTERVAL": "300",
    })  # fmt: skip
    assert settings.api_providers == ("kobana", "celcoin", "transfeera")
    assert settings.celcoin_client_cert == cert and settings.provider_sync_interval == 300
    assert not any(s in repr(settings) for s in ("tok-123456", "sec-123456", "csec-123456"))


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"TRANSFEERA_CLIENT_ID": "id"}, "TRANSFEERA_CLIENT_SECRET"),
        ({"CELCOIN_CLIENT_SECRET": "s"}, "CELCOIN_CLIENT_ID"),
        ({"CELCOIN_CLIENT_CERT": "/nonexistent.pem"}, "CELCOIN_CLIENT_KEY"),
        ({"CELCOIN_CLIENT_CERT": "/nonexistent.pem", "CELCOIN_CLIENT_KEY": "/nonexistent.key"}, "CELCOIN_CLIENT_CERT"),
        ({"KOBANA_API_URL": "http://api.kobana.com.br"}, "KOBANA_API_URL"),
        ({"TRANSFEERA_AUTH_URL": "login-api.transfeera.com"}, "TRANSFEERA_AUTH_URL"),
        ({"KOBANA_API_TOKEN": " "}, "KOBANA_API_TOKEN"),
        ({"PROVIDER_SYNC_INTERVAL": "5"}, "PROVIDER_SYNC_INTERVAL"),
        ({"PROVIDER_SYNC_INTERVAL": "soon"}, "PROVIDER_SYNC_INTERVAL"),
    ],
    ids=[
        "pair-transfeera",
        "pair-celcoin",
        "pair-cert",
        "missing-cert",
        "http-remote",
        "no-scheme",
        "empty-token",
        "interval-low",
        "interval-nan",
    ],  # fmt: skip
)
def test_a_config_mistake_names_the_variable(env, variable):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(f"{variable}:")
    assert "\n" not in str(caught.value)


def test_plain_http_is_accepted_on_loopback_only():
    assert Settings.from_env({"KOBANA_API_URL": "http://127.0.0.1:8080/"}).kobana_api_url == "http://127.0.0.1:8080"
