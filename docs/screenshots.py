"""Take the screenshots in docs/console/ from the running console, so docs/console.md stays current.

    .venv/bin/python docs/screenshots.py            # needs Debian's chromium + chromium-driver

Starts the real service (gunicorn + worker) on a throwaway SQLite database and a private
embedded Redis, sends it a generated month of signed traffic (``flask reconcile demo``'s), adds
one quarantined delivery, logs in as a viewer and an operator in headless Chromium, and saves one
PNG per screen. Nothing outside a temp directory and docs/console/ is touched.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "console"
WIDTH, HEIGHT = 1280, 860


def main() -> None:
    import sqlalchemy as sa
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    import db
    from config import Settings
    from ledger import demo
    from ledger.discrepancies import DiscrepancyRow
    from ledger.traffic import generate
    from ops import embedded_redis
    from tests.browser_helpers import chromium, post_webhook, service
    from tests.console_helpers import PASSWORD, add_user
    from tests.helpers import KOBANA_SECRET, kobana_signature
    from tests.ledger_helpers import body, raw
    from tests.procs import service_env
    from tests.servers import wait_for

    work = Path(tempfile.mkdtemp(prefix="console-shots-"))
    redis_url = embedded_redis.ensure_running(work / "redis")
    database_url = f"sqlite:///{work / 'events.sqlite3'}"
    db.migrate(Settings(database_url=database_url))
    engine = db.engine_from(Settings(database_url=database_url))
    add_user(engine, "viewer", "ana.financeiro@example.com")
    add_user(engine, "operator", "olga.plantao@example.com")
    today = datetime.now(UTC)
    try:
        with service(redis_url, database_url, work) as base:
            settings = Settings.from_env(service_env({"REDIS_URL": redis_url}))
            month = generate(today.year, today.month, seed=2026)
            demo.send(month.traffic(seed=7, duplicates=0.05), base, settings)
            broken = body("kobana", "bank_billet.paid.json", **{"object.paid_amount": "trezentos"})
            payload = raw(broken)
            signed = {"X-Kobana-Signature": kobana_signature(payload, KOBANA_SECRET), "X-Kobana-Delivery-Id": "shot-q"}
            post_webhook(base, "/webhooks/kobana", payload, signed)

            def settled() -> bool:
                with db.session_factory(engine)() as session:
                    waiting = session.scalar(sa.text("select count(*) from events where status = 'received'"))
                    stored = session.scalar(sa.text("select count(*) from events"))
                return bool(stored and stored >= len(month.deliveries) and not waiting)

            wait_for(settled, timeout=180, what="the worker to store the month")
            with db.session_factory(engine)() as session:
                first = session.scalar(sa.select(DiscrepancyRow).where(DiscrepancyRow.type == "underpaid").limit(1))
                first_id, object_id = (first.id, first.object_id) if first else (None, None)
                event_id = session.scalar(sa.text("select max(id) from events where status = 'processed'"))
                quarantined = session.scalar(sa.text("select max(id) from events where status = 'quarantined'"))
            with chromium(work / "downloads") as driver:
                driver.set_window_size(WIDTH, HEIGHT)

                def shot(name: str, path: str) -> None:
                    driver.get(base + path)
                    time.sleep(0.2)
                    height = driver.execute_script("return document.documentElement.scrollHeight")
                    driver.set_window_size(WIDTH, min(max(HEIGHT, height + 20), 1250))
                    driver.save_screenshot(str(OUT / f"{name}.png"))
                    driver.set_window_size(WIDTH, HEIGHT)

                OUT.mkdir(parents=True, exist_ok=True)
                shot("login", "/console/login")
                log_in(driver, base, "ana.financeiro@example.com", PASSWORD)
                shot("overview", "/console/")
                start, end = (
                    month.start.date(),
                    (month.end.date().replace(day=1) - __import__("datetime").timedelta(days=1)),
                )
                shot("reconciliation", f"/console/reconciliation?from={start}&to={end}")
                shot("discrepancies", "/console/discrepancies")
                if first_id:
                    driver.get(f"{base}/console/discrepancies/{first_id}")
                    Select(driver.find_element(By.NAME, "reason")).select_by_value("charged_difference")
                    driver.find_element(By.NAME, "note").send_keys("Boleto complementar enviado ao cliente")
                    driver.find_element(By.CSS_SELECTOR, "form.resolve button").click()
                    shot("discrepancy-resolved", f"/console/discrepancies/{first_id}")
                    shot("object", f"/console/objects/{object_id}")
                shot("events", "/console/events?provider=kobana")
                shot("event", f"/console/events/{event_id}")
                driver.delete_all_cookies()
                log_in(driver, base, "olga.plantao@example.com", PASSWORD)
                shot("quarantine", "/console/quarantine")
                if quarantined:
                    shot("event-quarantined", f"/console/events/{quarantined}")
    finally:
        engine.dispose()
        embedded_redis.stop(work / "redis")
    for png in sorted(OUT.glob("*.png")):
        print(f"{png.relative_to(ROOT)}  {png.stat().st_size // 1024} KB")


def log_in(driver: object, base: str, email: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/console/login")  # type: ignore[attr-defined]
    driver.find_element(By.NAME, "email").send_keys(email)  # type: ignore[attr-defined]
    driver.find_element(By.NAME, "password").send_keys(password)  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()  # type: ignore[attr-defined]
    time.sleep(0.3)


if __name__ == "__main__":
    main()
