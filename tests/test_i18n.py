"""What a finance analyst reads: BRL, dd/mm/aaaa, São Paulo time."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

from ops import i18n


def test_money_reads_as_reais_with_a_comma_for_centavos():
    """R$ 1.234,56 (Babel puts a non-breaking space after the symbol)."""
    assert i18n.money(Decimal("1234.56")).replace("\xa0", " ") == "R$ 1.234,56"


def test_a_day_is_dd_mm_yyyy_in_sao_paulo_time():
    """01:00 UTC on the 30th is still the 29th in São Paulo (UTC-3)."""
    assert i18n.day(datetime(2026, 11, 30, 1, 0, tzinfo=UTC)) == "29/11/2026"
    assert i18n.day(date(2026, 1, 2)) == "02/01/2026"


def test_a_moment_is_shown_in_sao_paulo_time():
    """Stored values are UTC, naive or not; people read them in local time."""
    assert i18n.moment(datetime(2026, 11, 29, 21, 31)) == "29/11/2026 18:31"


def _start_together(target, workers: int = 6) -> list[BaseException]:
    """``workers`` threads compiling into ``target`` at the same moment; what they raised."""
    from web.console.i18n import compile_catalogs

    barrier = threading.Barrier(workers)
    failures: list[BaseException] = []

    def start_worker() -> None:
        barrier.wait()
        try:
            compile_catalogs(target)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start_worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_web_workers_starting_together_each_find_the_compiled_catalog(tmp_path):
    """Every gunicorn worker compiles the catalog at start-up, all at once on a fresh machine. A
    shared temporary file made one worker find it renamed away by another, and fail to boot."""
    from babel.messages.mofile import read_mo

    for attempt in range(10):
        target = tmp_path / f"start-{attempt}"
        assert _start_together(target) == []
        files = sorted(str(path.relative_to(target)) for path in target.rglob("*") if path.is_file())
        assert files == ["en/LC_MESSAGES/messages.mo", "pt_BR/LC_MESSAGES/messages.mo"]  # no temporary file left
        with (target / files[1]).open("rb") as mo:
            assert read_mo(mo).get("Discrepancies").string == "Divergências"
