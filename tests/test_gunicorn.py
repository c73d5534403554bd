"""The real deployment shape: gunicorn with 2 workers from gunicorn.conf.py, as the Procfile runs it.

One server per module (started on a free port, stopped at the end): connections that send nothing
hold up no delivery, a keep-alive connection carries one after another up to a bound, and a new
connection goes to the worker with fewer requests in hand (``ops.gunicorn_worker``),
metrics add up across workers, ``flask webhooks send`` is accepted for every provider and refused
with a wrong secret, and every line gunicorn's processes write is masked JSON carrying the event's
context.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

import sender
from app import create_app
from config import PROJECT_ROOT, CelcoinCreds, Secrets, Settings
from ops.gunicorn_worker import REQUESTS_PER_CONNECTION
from tests.helpers import CELCOIN_PASSWORD, CELCOIN_USER, KOBANA_SECRET, SECRET_KEY, TRANSFEERA_SECRET
from tests.servers import free_port, stop, wait_until


@dataclass
class Service:
    pid: int  # gunicorn's arbiter
    port: int
    metrics_dir: Path
    log: Path
    home: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return response.read().decode()

    def log_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def service(redis_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("gunicorn")
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "KOBANA_WEBHOOK_SECRET": KOBANA_SECRET,
        "TRANSFEERA_WEBHOOK_SECRET": TRANSFEERA_SECRET,
        "CELCOIN_WEBHOOK_USERNAME": CELCOIN_USER,
        "CELCOIN_WEBHOOK_PASSWORD": CELCOIN_PASSWORD,
        "LOG_FORMAT": "json",
        "SECRET_KEY": SECRET_KEY,
        "VAR_DIR": str(tmp / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
        "JOB_RETRY_MAX": "0",
        "HOME": str(tmp / "home"),  # where gunicorn would put a control socket (none expected)
    }
    (tmp / "metrics").mkdir()
    log = tmp / "gunicorn.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    svc = Service(process.pid, port, tmp / "metrics", log, tmp / "home")
    try:
        wait_until(lambda: svc.get("/healthz"), timeout=20, what="gunicorn")
        yield svc
    finally:
        stop(process)


def _sender_app(settings, **changes):
    return create_app(settings.replace(**changes))


def _send(settings, service: Service, *args: str, **changes) -> object:
    app = _sender_app(settings, **changes)
    return app.test_cli_runner().invoke(args=["webhooks", "send", *args, "--url", service.url])


def _sample_value(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{"):
            metric, value = line.rsplit(" ", 1)
            found = ",".join(sorted(metric[len(name) + 1 : -1].split(",")))
            if found == wanted:
                return float(value)
    return 0.0


def test_deliveries_are_not_held_up_by_connections_that_send_nothing(service: Service, settings):
    """Four times as many silent connections as the two workers have threads, then deliveries: each
    is answered at once, not after the 5 s gunicorn's threads would wait for the silent ones' bytes."""
    _until_both_workers_served(service, settings)  # both accepting, so the silent ones reach both
    silent = [socket.create_connection(("127.0.0.1", service.port)) for _ in range(4 * 2 * Settings.web_threads)]
    try:
        time.sleep(0.2)  # accepted and handed to the workers' threads
        for _ in range(5):
            started = time.monotonic()
            result = sender.post(service.url, sender.prepare("kobana", "bank_billet.paid", settings), timeout=5.0)
            assert result.status == 200, result.body
            assert time.monotonic() - started < 2.0
    finally:
        for connection in silent:
            connection.close()


def test_a_keep_alive_connection_carries_delivery_after_delivery(service: Service, settings):
    """Three deliveries on one connection, each answered on that same connection: after an answer
    that announced keep-alive, the worker keeps the connection open for the next delivery."""
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=5)
    try:
        local = set()
        for _ in range(3):
            prepared = sender.prepare("kobana", "bank_billet.paid", settings)
            connection.request("POST", prepared.path, body=prepared.raw, headers=prepared.headers)
            response = connection.getresponse()
            assert response.status == 200, response.read()
            response.read()
            assert connection.sock is not None
            local.add(connection.sock.getsockname())
        assert len(local) == 1
    finally:
        connection.close()


def test_a_keep_alive_connection_is_closed_by_its_hundredth_answer(service: Service):
    """The answer that ends a connection's ``REQUESTS_PER_CONNECTION`` says ``Connection: close``
    and the worker closes it, so a client opens a new one, accepted where the load is lighter;
    every answer before it kept the connection open."""
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=5)
    try:
        said = []
        for _ in range(REQUESTS_PER_CONNECTION):
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            said.append(response.getheader("Connection", "keep-alive").lower())
        assert said == ["keep-alive"] * (REQUESTS_PER_CONNECTION - 1) + ["close"]
    finally:
        connection.close()


def test_a_new_connection_goes_to_the_worker_with_fewer_requests_in_hand(service: Service, settings):
    """Uploads that stop half way each hold a request in a worker's hands. Opened one at a time,
    each is accepted by the worker holding fewer, so after every one the two workers hold as many
    or one apart (gunicorn's own worker takes each in whichever process wakes first, and a pair in
    the same process is a coin's toss). Then every upload completes and is answered."""
    _until_both_workers_served(service, settings)
    time.sleep(0.2)  # those deliveries' requests are out of the workers' hands
    uploads: list[tuple[socket.socket, bytes]] = []
    held = []
    try:
        for count in range(1, 2 * Settings.web_threads + 1):  # each worker's threads, no more
            prepared = sender.prepare("kobana", "bank_billet.paid", settings)
            head = "".join(f"{name}: {value}\r\n" for name, value in prepared.headers.items())
            request = (
                f"POST {prepared.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(prepared.raw)}\r\n{head}\r\n"
            )
            upload = socket.create_connection(("127.0.0.1", service.port), timeout=5)
            upload.sendall(request.encode() + prepared.raw[:100])
            uploads.append((upload, prepared.raw[100:]))
            clients = [upload for upload, _ in uploads]
            wait_until(
                lambda clients=clients, count=count: sum(_accepted(service, clients)) == count,
                timeout=5,
                what="the upload accepted",
            )
            held.append(sorted(_accepted(service, clients)))
        assert all(most - least <= 1 for least, most in held), held
    finally:
        for upload, rest in uploads:
            upload.sendall(rest)
        for upload, _ in uploads:
            assert upload.recv(4096).startswith(b"HTTP/1.1 200 "), "every upload is answered once it completes"
            upload.close()


def _accepted(service: Service, clients: list[socket.socket]) -> list[int]:
    """How many of ``clients``' connections each gunicorn worker holds."""
    ports = {client.getsockname()[1] for client in clients}
    return [
        sum(1 for c in worker.net_connections("tcp") if c.raddr and c.raddr.port in ports)
        for worker in psutil.Process(service.pid).children()
    ]


def test_gunicorn_opens_no_control_socket(service: Service):
    """No ``gunicornc`` socket: a management interface nothing here uses, at a path every gunicorn
    of the user shares (gunicorn 25.1+ opens one by default, under $HOME without $XDG_RUNTIME_DIR)."""
    assert service.get("/healthz")
    assert not (service.home / ".gunicorn").exists()


def test_metrics_add_up_requests_served_by_both_gunicorn_workers(service: Service, settings):
    """Counts on one scrape equal the requests sent, though two worker processes served them."""
    before = _sample_value(service.get("/metrics"), "webhook_requests_total", provider="kobana", outcome="accepted")
    sent = _until_both_workers_served(service, settings)
    assert len(_serving_pids(service)) >= 2, "both workers should have served requests"
    text = service.get("/metrics")
    assert _sample_value(text, "webhook_requests_total", provider="kobana", outcome="accepted") - before == sent
    assert _sample_value(text, "webhook_ack_seconds_count", provider="kobana") >= sent
    assert "webhook_queue_depth" in text


@pytest.mark.parametrize(
    ("provider", "event"),
    [
        ("kobana", "bank_billet.paid"),
        ("kobana", "ping"),
        ("transfeera", "CashIn"),
        ("transfeera", "Transfer"),
        ("celcoin", "pix-payment-in"),
        ("celcoin", "account-created"),
    ],
)
def test_webhooks_send_is_accepted_by_the_running_service(service: Service, settings, provider, event):
    """The sender signs like the provider with the configured secret; the service says 200."""
    result = _send(settings, service, provider, event, "--count", "2")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith(f"{provider} {event} -> ")]
    assert len(lines) == 2
    assert all(" -> 200 " in line for line in lines)
    assert "2 sent, 2 accepted" in result.output
    assert all('"status":"duplicate"' not in line for line in lines)  # fresh ids: two events


@pytest.mark.parametrize(
    ("provider", "event", "wrong", "status"),
    [
        ("kobana", "bank_billet.paid", {"kobana_secrets": Secrets([b"not-the-secret"])}, 498),
        ("transfeera", "CashIn", {"transfeera_secrets": Secrets([b"not-the-secret"])}, 401),
        ("celcoin", "pix-payment-in", {"celcoin": CelcoinCreds(CELCOIN_USER.encode(), b"wrong")}, 401),
    ],
)
def test_webhooks_send_with_a_wrong_secret_is_refused(service: Service, settings, provider, event, wrong, status):
    """A wrong secret is what the sender exists to catch: the provider's refusal, exit code 1."""
    result = _send(settings, service, provider, event, **wrong)
    assert result.exit_code == 1
    assert f" -> {status} " in result.output


def test_every_line_gunicorn_writes_is_json_with_event_context_and_no_secret(service: Service, settings):
    """Boot, access and app lines are structlog JSON; event lines carry the context; nothing leaks."""
    assert _send(settings, service, "kobana", "bank_billet.paid").exit_code == 0
    text = service.log.read_text()
    lines = service.log_lines()  # raises if any line is not JSON
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    assert any(line["event"] == "http.access" and line.get("request_id") for line in lines)
    handled = [line for line in lines if line["event"] == "webhook.handled" and line.get("status") == 200]
    assert handled
    # A webhook's own line carries the access line's fields, and gunicorn writes no second one.
    assert not any(line["event"] == "http.access" and line.get("path", "").startswith("/webhooks/") for line in lines)
    for line in handled:
        assert {"provider", "event_code", "event_id", "idempotency_key", "request_id"} <= line.keys()
        assert {"method", "path", "status", "bytes", "duration_ms"} <= line.keys()
    for secret in (KOBANA_SECRET, TRANSFEERA_SECRET, CELCOIN_PASSWORD):
        assert secret not in text
    for document in ("311.422.058-90", "31142205890", "05.813.794/0001-26", "05813794000126"):
        assert document not in text


def test_webhooks_send_as_is_repeats_a_kobana_notification_as_a_duplicate(service: Service, settings):
    """--as-is sends the same bytes with the same X-Kobana-Delivery-Id, as Kobana's resend does:
    the second is the same event (duplicate, same id), as the option's help promises."""
    result = _send(settings, service, "kobana", "bank_billet.paid", "--as-is", "--count", "2")
    lines = [line for line in result.output.splitlines() if line.startswith("kobana bank_billet.paid -> 200 ")]
    assert len(lines) == 2, result.output
    assert '"status":"duplicate"' in lines[1]
    assert (
        json.loads(lines[0].split(" -> 200 ")[1].rsplit(" in ", 1)[0])["id"]
        == json.loads(lines[1].split(" -> 200 ")[1].rsplit(" in ", 1)[0])["id"]
    )


def test_the_serving_process_announces_its_providers_once(service: Service):
    """provider.enabled / provider.disabled are the server's start-up lines (gunicorn's master),
    not something every flask command repeats."""
    events = [line["event"] for line in service.log_lines() if line["event"].startswith("provider.")]
    assert events.count("provider.enabled") == 3


def _serving_pids(service: Service) -> set[str]:
    """The gunicorn workers that have served a delivery: each writes metric files of its own."""
    return {path.name.split("_")[-1] for path in service.metrics_dir.glob("counter_*.db")}


def _until_both_workers_served(service: Service, settings: Settings) -> int:
    """Deliver 8 at a time until both workers have served one (at most 400); returns how many were sent."""
    sent = 0
    with ThreadPoolExecutor(8) as pool:
        while len(_serving_pids(service)) < 2 and sent < 400:
            prepared = [sender.prepare("kobana", "bank_billet.paid", settings) for _ in range(8)]
            results = list(pool.map(lambda p: sender.post(service.url, p), prepared))
            assert all(r.status == 200 for r in results), [r.body for r in results]
            sent += 8
    return sent
