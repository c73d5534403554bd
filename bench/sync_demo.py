"""``python -m bench.sync_demo``: provider sync end to end against the loopback contract servers.

Reproduces the closing note of issue 13 with real processes: ``flask providers register``,
``status`` and a ``resync`` that brings a Transfeera payout whose deliveries all failed into the
ledger, plus a Kobana delivery Kobana gave up on and a Celcoin replay that comes back through the
real door. Everything runs on 127.0.0.1 in a temporary directory (SQLite, embedded Redis); the
``flask`` commands are separate processes with the same environment an operator would have.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from rq import SimpleWorker

from app import create_app
from config import Settings
from ops import embedded_redis
from tests.contract_servers import CelcoinServer, KobanaServer, TransfeeraServer, serving
from tests.sync_helpers import kobana_paid, transfer_finalized
from workers import jobs
from workers.queue import connect, queues

TOKEN, T_ID, T_SECRET, C_ID, C_SECRET = "demo-kobana-token", "demo-tf", "demo-tf-secret", "demo-cc", "demo-cc-secret"


def flask(env: dict[str, str], *args: str) -> None:
    print(f"\n$ flask {' '.join(args)}", flush=True)
    command = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    print((done.stdout + done.stderr).rstrip(), flush=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sync-demo-") as tmp, ExitStack() as stack:
        var = Path(tmp)
        redis_url = embedded_redis.ensure_running(var)
        stack.callback(embedded_redis.stop, var)
        kobana = KobanaServer(TOKEN)
        transfeera, celcoin = TransfeeraServer(T_ID, T_SECRET), CelcoinServer(C_ID, C_SECRET)
        k_url, t_url, c_url = (stack.enter_context(serving(s)) for s in (kobana, transfeera, celcoin))
        env = {
            **os.environ,
            "VAR_DIR": str(var), "REDIS_URL": redis_url, "DATABASE_URL": f"sqlite:///{var / 'events.sqlite3'}",
            "LOG_LEVEL": "WARNING", "KOBANA_WEBHOOK_SECRET": "demo-kobana-webhook-secret",
            "TRANSFEERA_WEBHOOK_SECRET": "demo-transfeera-webhook-secret",
            "CELCOIN_WEBHOOK_USERNAME": "demo-celcoin", "CELCOIN_WEBHOOK_PASSWORD": "demo-celcoin-password",
            "KOBANA_API_URL": k_url, "KOBANA_API_TOKEN": TOKEN,
            "TRANSFEERA_API_URL": t_url, "TRANSFEERA_AUTH_URL": f"{t_url}/authorization",
            "TRANSFEERA_CLIENT_ID": T_ID, "TRANSFEERA_CLIENT_SECRET": T_SECRET,
            "CELCOIN_API_URL": c_url, "CELCOIN_CLIENT_ID": C_ID, "CELCOIN_CLIENT_SECRET": C_SECRET,
        }  # fmt: skip
        settings = Settings.from_env(env)
        subprocess.run([sys.executable, "-m", "db", "upgrade"], env=env, check=True, capture_output=True)
        door = stack.enter_context(serving(create_app(settings)))  # the real door, for Celcoin's resends
        for noisy in ("werkzeug", "rq.worker", "httpx", "webhooks"):  # access lines would bury the output
            logging.getLogger(noisy).setLevel(logging.WARNING)
        celcoin.deliver = lambda url, body, auth: print(
            f"  [celcoin contract server] resent to {url}: "
            + httpx.post(url, content=body, auth=auth, headers={"Content-Type": "application/json"}).text.strip()
        )

        # What the providers hold and we never got: every delivery attempt failed (our Redis was down).
        now = datetime.now(UTC)
        transfeera.add_undelivered(transfer_finalized(hours_ago=3))
        kobana.add_failed(kobana_paid(84512377), now - timedelta(hours=10), uid="1f0c7a52-demo-delivery")
        pix_in = {"entity": "pix-payment-in", "createTimestamp": (now - timedelta(hours=2)).isoformat(),
                  "status": "CONFIRMED", "body": {"id": "7d89772a-demo", "amount": 80.00,
                  "endToEndId": "E1393589320231127130301498341234"}}  # fmt: skip
        celcoin.pending["pix-payment-in"] = [(now - timedelta(hours=2), pix_in)]

        flask(env, "providers", "register", "kobana", "--url", "https://receiver.example.com/webhooks/kobana")
        flask(env, "providers", "register", "kobana", "--url", "https://receiver.example.com/webhooks/kobana")
        flask(env, "providers", "register", "transfeera", "--url", "https://receiver.example.com/webhooks/transfeera")
        celcoin_url = f"{door}/webhooks/celcoin"
        flask(env, "providers", "register", "celcoin", "--url", celcoin_url, "--events", "pix-payment-in")
        flask(env, "providers", "status")
        flask(env, "ledger", "show", "transfeera:60040")
        flask(env, "providers", "resync", "all", "--since", "1d")

        print("\n[worker] one burst of the real worker code (SimpleWorker, JSON serializer)", flush=True)
        jobs.configure(settings)
        connection = connect(settings)
        SimpleWorker(list(queues(connection)), connection=connection, serializer="json").work(burst=True)
        time.sleep(0.2)

        flask(env, "ledger", "show", "transfeera:60040")
        flask(env, "events", "list")
        flask(env, "providers", "resync", "all", "--since", "1d", "--format", "json")
        flask(env, "providers", "status")
    return 0


if __name__ == "__main__":
    sys.exit(main())
