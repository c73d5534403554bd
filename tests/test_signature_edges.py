"""Signature edge cases the per-provider tests do not cover: start-up, header shapes, replays, constant time."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import time

import pytest

from app import create_app
from config import ConfigError, Settings
from tests.helpers import (
    CELCOIN_PASSWORD,
    CELCOIN_USER,
    KOBANA_SECRET,
    TRANSFEERA_SECRET,
    basic,
    kobana_signature,
    queued,
    sample,
    transfeera_signature,
)
from tests.procs import ROOT


def _v1(raw: bytes, t: str, secret: str = TRANSFEERA_SECRET) -> str:
    return hmac.new(secret.encode(), t.encode() + b"." + raw, hashlib.sha256).hexdigest()


# --- start-up -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["KOBANA_WEBHOOK_SECRET", "TRANSFEERA_WEBHOOK_SECRET", "CELCOIN_WEBHOOK_PASSWORD"])
def test_web_process_refuses_to_start_with_an_empty_secret(variable):
    """``import wsgi`` (what gunicorn and the flask CLI do) fails with the variable named when a secret is
    empty or blank: one line, exit code 2, no traceback."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CELCOIN_WEBHOOK_USERNAME": CELCOIN_USER,
        "CELCOIN_WEBHOOK_PASSWORD": CELCOIN_PASSWORD,
        "REDIS_URL": "redis://127.0.0.1:1/0",
        variable: " \t",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert f"configuration error: {variable}" in result.stderr and "Traceback" not in result.stderr
    assert CELCOIN_PASSWORD not in result.stderr


def test_config_errors_never_echo_a_secret():
    """A malformed secret list is named, never printed: start-up logs are logs too."""
    with pytest.raises(ConfigError) as excinfo:
        Settings.from_env({"KOBANA_WEBHOOK_SECRET": "very-secret-value,,"})
    assert "KOBANA_WEBHOOK_SECRET" in str(excinfo.value)
    assert "very-secret-value" not in str(excinfo.value)


def test_secret_with_surrounding_spaces_verifies_signatures_made_with_the_bare_secret(redis_conn, redis_url, tmp_path):
    """A secret pasted as ' secret \\n' in the environment verifies what the provider signed with 'secret'."""
    settings = Settings.from_env(
        {
            "REDIS_URL": redis_url,
            "KOBANA_WEBHOOK_SECRET": f"  {KOBANA_SECRET}\n",
            "TRANSFEERA_WEBHOOK_SECRET": f"\t{TRANSFEERA_SECRET} ",
            "VAR_DIR": str(tmp_path),
        }
    )
    client = create_app(settings).test_client()
    kobana_raw, transfeera_raw = sample("kobana", "pix.paid.json"), sample("transfeera", "CashIn.json")
    kobana = client.post(
        "/webhooks/kobana", data=kobana_raw, headers={"X-Kobana-Signature": kobana_signature(kobana_raw)}
    )
    transfeera = client.post(
        "/webhooks/transfeera",
        data=transfeera_raw,
        headers={"Transfeera-Signature": transfeera_signature(transfeera_raw)},
    )
    assert (kobana.status_code, transfeera.status_code) == (200, 200)
    padded = client.post(
        "/webhooks/kobana",
        data=kobana_raw + b" ",
        headers={"X-Kobana-Signature": kobana_signature(kobana_raw + b" ", f"  {KOBANA_SECRET}\n")},
    )
    assert padded.status_code == 498  # the spaces are not part of the key


# --- header shapes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "{good},sha256={good}",
        "sha256={good} sha256={good}",
        "sha256={good}" + "0" * 100_000,
        "sha256=" + "a" * 100_000,
        "sha256={good}\t",
    ],
    ids=["two-values", "space-separated", "good-then-padding", "100k-hex", "trailing-tab-ok"],
)
def test_kobana_header_must_be_exactly_one_sha256_value(deliver, redis_conn, header):
    """Kobana sends one ``sha256=<hex>``; lists, padding and 100 kB headers are refused (498), never a 500."""
    raw = sample("kobana", "bank_billet.paid.json")
    good = kobana_signature(raw).removeprefix("sha256=")
    response = deliver.kobana(raw, signature=header.replace("{good}", good))
    expected = 200 if header.endswith("\t") else 498
    assert response.status_code == expected
    assert len(queued(redis_conn)) == (1 if expected == 200 else 0)


def test_only_the_first_eight_v1_values_are_tried(deliver, redis_conn):
    """A header stuffed with v1 values cannot make us compute unbounded HMACs: the first 8 count."""
    raw = sample("transfeera", "CashIn.json")
    t = str(int(time.time() * 1000))
    junk = ",".join(f"v1={i:064x}" for i in range(8))
    refused = deliver.transfeera(raw, signature=f"t={t},{junk},v1={_v1(raw, t)}")
    accepted = deliver.transfeera(raw, signature=f"t={t},{junk.rsplit(',', 1)[0]},v1={_v1(raw, t)}")
    assert (refused.status_code, accepted.status_code) == (401, 200)


@pytest.mark.parametrize("digits", [9, 11, 12, 14], ids=lambda d: f"{d}-digits")
def test_transfeera_t_must_be_seconds_or_milliseconds(deliver, redis_conn, digits):
    """Only a 10-digit (seconds) or 13-digit (ms) ``t`` is read; other lengths are refused even if signed."""
    raw = sample("transfeera", "Transfer.json")
    t = str(int(time.time() * 1000))[:digits].ljust(digits, "0")
    assert deliver.transfeera(raw, signature=f"t={t},v1={_v1(raw, t)}").status_code == 401


def test_transfeera_t_in_seconds_has_the_same_replay_window(deliver, redis_conn):
    """A signed ``t`` in seconds two days old is refused like its millisecond twin."""
    raw = sample("transfeera", "Transfer.json")
    t = str(int(time.time()) - 2 * 86400)
    response = deliver.transfeera(raw, signature=f"t={t},v1={_v1(raw, t)}")
    assert response.status_code == 401 and "tolerance" in response.json["message"]


def test_duplicate_t_uses_the_last_one_and_still_needs_its_signature(deliver, redis_conn):
    """``t=old,...,t=new``: the signature must cover the t that is checked, so a swapped t is refused."""
    raw = sample("transfeera", "Transfer.json")
    old = str(int((time.time() - 2 * 86400) * 1000))
    new = str(int(time.time() * 1000))
    for header in (f"t={new},v1={_v1(raw, old)},t={old}", f"t={old},v1={_v1(raw, old)},t={new}"):
        assert deliver.transfeera(raw, signature=header).status_code == 401
    assert queued(redis_conn) == []


# --- replays ------------------------------------------------------------------------------------------


def test_replayed_transfeera_delivery_inside_the_window_is_deduplicated(deliver, redis_conn):
    """The same signed request sent again is the same event id: 'duplicate', one job."""
    raw = sample("transfeera", "TransferRefund.json")
    header = transfeera_signature(raw)
    first, replay = deliver.transfeera(raw, signature=header), deliver.transfeera(raw, signature=header)
    assert (first.json["status"], replay.json["status"]) == ("accepted", "duplicate")
    assert first.json["id"] == replay.json["id"]
    assert len(queued(redis_conn)) == 1


def test_replayed_kobana_body_is_deduplicated_by_body_or_delivery_id(deliver, redis_conn):
    """Kobana signs no timestamp: a captured body replayed as sent (same delivery id, or none) is a duplicate."""
    raw = sample("kobana", "bank_billet.paid.json")
    signed = kobana_signature(raw)
    answers = [
        deliver.kobana(raw, signature=signed, headers={"X-Kobana-Delivery-Id": "d-1"}).json["status"],
        deliver.kobana(raw, signature=signed, headers={"X-Kobana-Delivery-Id": "d-1"}).json["status"],
        deliver.kobana(raw, signature=signed).json["status"],
        deliver.kobana(raw, signature=signed).json["status"],
    ]
    assert answers == ["accepted", "duplicate", "accepted", "duplicate"]
    assert len(queued(redis_conn)) == 2


def test_replayed_celcoin_body_is_deduplicated(deliver, redis_conn):
    """Basic auth signs nothing; the same body again has the same entity + id + status key."""
    raw = sample("celcoin", "pix-payment-in.json")
    assert [deliver.celcoin(raw).json["status"] for _ in range(3)] == ["accepted", "duplicate", "duplicate"]
    assert len(queued(redis_conn)) == 1


# --- constant time ------------------------------------------------------------------------------------


@pytest.fixture
def compare_spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    calls: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


def test_kobana_signature_is_compared_with_compare_digest(deliver, redis_conn, compare_spy):
    """The forged digest reaches hmac.compare_digest as bytes, next to the expected one."""
    raw = sample("kobana", "ping.json")
    deliver.kobana(raw, signature="sha256=" + "ab" * 32)
    expected = hmac.new(KOBANA_SECRET.encode(), raw, hashlib.sha256).digest()
    assert (expected, bytes.fromhex("ab" * 32)) in compare_spy


def test_transfeera_signature_is_compared_with_compare_digest(deliver, redis_conn, compare_spy):
    raw = sample("transfeera", "CashIn.json")
    t = str(int(time.time() * 1000))
    deliver.transfeera(raw, signature=f"t={t},v1={'cd' * 32}")
    expected = hmac.new(TRANSFEERA_SECRET.encode(), t.encode() + b"." + raw, hashlib.sha256).digest()
    assert (expected, bytes.fromhex("cd" * 32)) in compare_spy


def test_celcoin_user_and_password_are_both_compared_with_compare_digest(deliver, redis_conn, compare_spy):
    """Both halves are compared in constant time, even when the user name is already wrong."""
    deliver.celcoin(sample("celcoin", "pix-payment-in.json"), authorization=basic("nobody", "guess"))
    assert (b"nobody", CELCOIN_USER.encode()) in compare_spy
    assert (b"guess", CELCOIN_PASSWORD.encode()) in compare_spy


def test_no_provider_compares_credentials_with_equality():
    """Source check: no ``==`` next to a digest, signature, password or secret in providers/."""
    import re

    offenders = []
    for path in (ROOT / "providers").glob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(
                r"(digest|signature|password|secret|expected|given)\w*\s*[!=]=|[!=]=\s*\w*(digest|password)", line
            ):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []
