"""What a finance analyst reads: BRL, dd/mm/aaaa, São Paulo time."""

from __future__ import annotations

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
