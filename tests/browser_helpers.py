"""The real service for browser tests (gunicorn + worker on the suite's Redis and database) and a
headless Debian Chromium driven by Selenium. Never downloads a browser: no Chromium, no test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.procs import ROOT, gunicorn, service_env, stop

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def require_chromium() -> None:
    """Skip without Debian's browser; fail instead under ``REQUIRE_BROWSER=1`` (CI must run them)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {CHROMIUM} or {CHROMEDRIVER} is missing")
        pytest.skip(
            "browser tests need Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver"
        )


@contextmanager
def service(redis_url: str, database_url: str, workdir: Path) -> Iterator[str]:
    """gunicorn (wsgi:app) and ``python -m workers`` on the given Redis and database; yields the base URL."""
    env = service_env({"REDIS_URL": redis_url, "DATABASE_URL": database_url, "VAR_DIR": str(workdir / "var"),
                       "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"), "JOB_RETRY_MAX": "0",
                       "WORKER_MAINTENANCE_INTERVAL": "1"})  # fmt: skip
    (workdir / "metrics").mkdir(parents=True, exist_ok=True)
    with (workdir / "worker.log").open("ab") as log:
        worker = subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env, stdout=log, stderr=log,
                                  start_new_session=True)  # fmt: skip
    try:
        with gunicorn(env, workers=1, threads=4, log=workdir / "web.log") as port:
            yield f"http://127.0.0.1:{port}"
    finally:
        stop(worker)


@contextmanager
def chromium(downloads: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = Path(tempfile.mkdtemp(prefix="console-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1280,900", "--lang=pt-BR"):  # fmt: skip
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "intl.accept_languages": "pt-BR",
                                              "download.prompt_for_download": False})  # fmt: skip
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def post_webhook(base: str, path: str, raw: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(base + path, data=raw, headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def click_through(driver: Any, element: Any, timeout: float = 15.0) -> None:
    """Click what loads a new page and return once it has: the page left behind is gone and the
    new one is parsed. Reading right after ``click()`` can still see the old page on a busy machine."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    before = driver.find_element("tag name", "html")
    element.click()

    def left(_driver: Any) -> bool:
        """``expected_conditions.staleness_of``, plus what chromedriver answers for a node it is
        dropping at that very moment ("Node with given id does not belong to the document": an
        "unknown error", not a stale reference; it failed a CI run)."""
        try:
            before.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" not in str(exc):
                raise
            return True
        return False

    wait = WebDriverWait(driver, timeout)
    wait.until(left)
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
