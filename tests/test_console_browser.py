"""The console in a real headless Chromium against the real service (gunicorn + worker + Redis + database).

Run by ``.ci/run`` (which installs Debian's chromium and chromium-driver); skipped, saying why, where
they are missing. ``pytest -m browser`` runs only these; ``-m "not browser"`` everything else.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import db
from db.models import EventRecord
from ledger.discrepancies import DiscrepancyRow
from tests.browser_helpers import chromium, click_through, post_webhook, require_chromium, service
from tests.console_helpers import PASSWORD, add_user, quarantined_event
from tests.helpers import kobana_signature
from tests.ledger_helpers import body, raw
from tests.servers import wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def console_url(redis_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_chromium()
    with service(redis_url, database_url, tmp_path_factory.mktemp("console")) as url:
        yield url


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(console_url: str, downloads: Path) -> Iterator[Any]:
    with chromium(downloads) as driver:
        yield driver


@pytest.fixture
def fresh(browser: Any, console_url: str) -> Any:
    """The browser with no session: each test logs in as its own user."""
    browser.get(console_url + "/console/login")
    browser.delete_all_cookies()
    return browser


def log_in(driver: Any, base: str, email: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/console/login")
    driver.find_element(By.NAME, "email").send_keys(email)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(lambda: driver.current_url.rstrip("/").endswith("/console"), what="the overview after login")


def underpaid_boleto_through_the_door(base: str, engine: sa.Engine) -> int:
    """Kobana's boleto created, then paid R$ 300,00 of R$ 349,90, through the real door and worker."""
    from tests.test_ledger_handlers import created

    payment = body("kobana", "bank_billet.paid.json")["object"]["bank_billet_payments"][0]
    short = body("kobana", "bank_billet.paid.json",
                 **{"object.bank_billet_payments": [payment | {"paid_amount": Decimal("300")}]})  # fmt: skip
    run = uuid.uuid4().hex[:8]  # fresh delivery ids: the door remembers ones it has seen (duplicates)
    for key, data in ((f"browser-c-{run}", created()), (f"browser-p-{run}", short)):
        payload = raw(data)
        headers = {"X-Kobana-Signature": kobana_signature(payload), "X-Kobana-Delivery-Id": key}
        assert post_webhook(base, "/webhooks/kobana", payload, headers) == 200

    def opened() -> int | None:
        with db.session_factory(engine)() as session:
            return session.scalar(sa.select(DiscrepancyRow.id))

    return int(wait_for(opened, what="the worker to open the discrepancy"))


def test_an_analyst_reads_the_overview_and_resolves_a_discrepancy_which_leaves_the_inbox(fresh, console_url, engine):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    add_user(engine, "viewer", "ana@example.com")
    discrepancy_id = underpaid_boleto_through_the_door(console_url, engine)
    log_in(fresh, console_url, "ana@example.com")
    assert "Visão geral" in fresh.find_element(By.TAG_NAME, "h1").text
    click_through(fresh, fresh.find_element(By.PARTIAL_LINK_TEXT, "divergências abertas"))
    assert "kobana:84512377" in fresh.find_element(By.TAG_NAME, "main").text
    click_through(fresh, fresh.find_element(By.LINK_TEXT, str(discrepancy_id)))
    Select(fresh.find_element(By.NAME, "reason")).select_by_value("charged_difference")
    fresh.find_element(By.NAME, "note").send_keys("Boleto complementar de R$ 49,90 enviado")
    click_through(fresh, fresh.find_element(By.CSS_SELECTOR, "form.resolve button"))
    assert "resolvida" in fresh.find_element(By.CSS_SELECTOR, "dd.status-resolved").text
    fresh.get(console_url + "/console/discrepancies")
    assert "kobana:84512377" not in fresh.find_element(By.TAG_NAME, "main").text


def test_an_analyst_exports_the_months_csv(fresh, console_url, engine, downloads):
    from selenium.webdriver.common.by import By

    add_user(engine, "viewer", "bia@example.com")
    underpaid_boleto_through_the_door(console_url, engine)
    log_in(fresh, console_url, "bia@example.com")
    fresh.get(console_url + "/console/reconciliation?from=2026-06-01&to=2026-06-30")
    assert "R$\xa0349,90" in fresh.find_element(By.TAG_NAME, "main").text.replace(" ", "\xa0")
    fresh.find_element(By.LINK_TEXT, "Exportar CSV").click()
    csv_file = downloads / "reconciliation-2026-06-01-2026-06-30.csv"
    wait_for(csv_file.exists, what="the CSV download")
    text = csv_file.read_text(encoding="utf-8-sig")
    assert "kobana;boleto;in;1;349,90;300,00" in text and "kobana:84512377;underpaid" in text


def test_events_are_filtered_and_one_opened_with_its_body_masked(fresh, console_url, engine):
    from selenium.webdriver.common.by import By

    add_user(engine, "viewer", "caio@example.com")
    underpaid_boleto_through_the_door(console_url, engine)
    log_in(fresh, console_url, "caio@example.com")
    fresh.get(console_url + "/console/events")
    fresh.find_element(By.NAME, "q").send_keys("kobana:84512377")
    fresh.find_element(By.NAME, "code").send_keys("bank_billet.paid")
    click_through(fresh, fresh.find_element(By.CSS_SELECTOR, "form.filters button"))
    links = fresh.find_elements(By.CSS_SELECTOR, "table.list tbody a")
    assert len(links) == 1
    click_through(fresh, links[0])
    page = fresh.find_element(By.TAG_NAME, "main").text
    assert "Corpo bruto como recebido" in page and "Mensalidade junho/2026" in page
    assert "311.422.058-90" not in page


def test_an_operator_replays_a_quarantined_event(fresh, console_url, engine):
    from selenium.webdriver.common.by import By

    add_user(engine, "operator", "olga@example.com")
    event_id = quarantined_event(engine, "browser-q")
    log_in(fresh, console_url, "olga@example.com")
    fresh.get(console_url + "/console/quarantine")
    click_through(fresh, fresh.find_element(By.CSS_SELECTOR, "table.list tbody form button"))  # the replay runs in it
    assert f"/console/events/{event_id}" in fresh.current_url

    def status() -> str:
        with db.session_factory(engine)() as session:
            return str(session.scalar(sa.select(EventRecord.status).where(EventRecord.id == event_id)))

    assert status() == "processed"


def test_a_viewer_cannot_replay(fresh, console_url, engine):
    from selenium.webdriver.common.by import By

    add_user(engine, "viewer", "vera@example.com")
    event_id = quarantined_event(engine, "browser-v")
    log_in(fresh, console_url, "vera@example.com")
    fresh.get(console_url + "/console/quarantine")
    assert str(event_id) in fresh.find_element(By.TAG_NAME, "main").text
    assert fresh.find_elements(By.CSS_SELECTOR, "table.list tbody form") == []  # no replay button
    token = fresh.find_element(By.NAME, "csrf_token").get_attribute("value")
    answer = fresh.execute_async_script(  # the POST a crafted form would send, with a valid token
        "const [url, token, done] = arguments;"
        "fetch(url, {method: 'POST', body: new URLSearchParams({csrf_token: token})}).then(r => done(r.status));",
        f"/console/events/{event_id}/replay",
        token,
    )
    assert answer == 403
    time.sleep(0.2)
    with db.session_factory(engine)() as session:
        assert session.scalar(sa.select(EventRecord.status).where(EventRecord.id == event_id)) == "quarantined"
