"""The handler registry: decorator validation and routing (exact, prefix, ``*``, provider ``*``, aliases)."""

from __future__ import annotations

import pytest

from handlers.registry import Registry


def _noop(event, session):
    return None


def _make(name: str):
    def fn(event, session):
        return None

    fn.__name__ = fn.__qualname__ = name
    return fn


@pytest.fixture
def table() -> tuple[Registry, dict]:
    reg = Registry()
    fns = {name: _make(name) for name in ("paid", "billet_any", "kobana_any", "everything", "homolog", "pix_any")}
    reg.handler("kobana", "bank_billet.paid")(fns["paid"])
    reg.handler("kobana", "bank_billet.*")(fns["billet_any"])
    reg.handler("kobana", "*")(fns["kobana_any"])
    reg.handler("*", "*")(fns["everything"])
    reg.handler("kobana", "bank_billet_account.homologation_started")(fns["homolog"])
    reg.handler("*", "pix.*")(fns["pix_any"])
    return reg, fns


@pytest.mark.parametrize(
    ("provider", "code", "original", "expected"),
    [
        ("kobana", "bank_billet.paid", None, ["paid", "billet_any", "kobana_any", "everything"]),
        ("kobana", "bank_billet.canceled", None, ["billet_any", "kobana_any", "everything"]),
        ("kobana", "bank_billet_account.homologation_started", None, ["homolog", "kobana_any", "everything"]),
        (
            "kobana",
            "bank_billet_account.homologation_started",
            "bank_billet_account.homologated",
            ["homolog", "kobana_any", "everything"],
        ),
        ("kobana", "pix.paid", None, ["pix_any", "kobana_any", "everything"]),
        ("transfeera", "pix.paid", None, ["pix_any", "everything"]),
        ("celcoin", "spb.transfer", None, ["everything"]),
    ],
    ids=["exact-first", "prefix", "exact-new-name", "alias-old-name", "provider-star-prefix", "other-provider", "star"],
)
def test_handlers_for_orders_exact_then_longest_prefix_then_star(table, provider, code, original, expected):
    """Matching handlers come most specific first, each once."""
    reg, fns = table
    assert reg.handlers_for(provider, code, original) == [fns[name] for name in expected]


def test_handler_for_the_old_name_also_gets_the_canonical_event():
    """A handler registered under a renamed code's old name still matches via ``original_code``."""
    reg = Registry()
    reg.handler("kobana", "bank_billet_account.homologated")(_noop)
    hits = reg.handlers_for("kobana", "bank_billet_account.homologation_started", "bank_billet_account.homologated")
    assert hits == [_noop]


def test_no_handler_gives_an_empty_list():
    """An event nobody handles yields no handler (the worker marks it ``ignored``)."""
    assert Registry().handlers_for("kobana", "bank_billet.paid") == []


def test_a_handler_on_two_patterns_that_both_match_runs_once():
    """One function registered for an exact code and its prefix is returned once."""
    reg = Registry()
    reg.handler("kobana", "bank_billet.paid", "bank_billet.*")(_noop)
    assert reg.handlers_for("kobana", "bank_billet.paid") == [_noop]


@pytest.mark.parametrize(
    ("provider", "patterns"),
    [("stripe", ("charge.paid",)), ("kobana", ()), ("kobana", ("bank_*",)), ("kobana", ("",)), ("kobana", ("a.*.b",))],
    ids=["unknown-provider", "no-pattern", "mid-wildcard", "empty", "inner-star"],
)
def test_invalid_registrations_raise_value_error(provider, patterns):
    """Unknown providers and malformed patterns are refused at import time."""
    with pytest.raises(ValueError):
        Registry().handler(provider, *patterns)


def test_registering_the_same_handler_twice_is_refused():
    """A handler registered twice for one pattern would run twice: refused."""
    reg = Registry()
    reg.handler("kobana", "bank_billet.paid")(_noop)
    with pytest.raises(ValueError, match="already registered"):
        reg.handler("kobana", "bank_billet.paid")(_noop)


def test_snapshot_and_restore_undo_temporary_registrations():
    """Tests can register handlers and put the table back as it was."""
    reg = Registry()
    before = reg.snapshot()
    reg.handler("kobana", "*")(_noop)
    reg.restore(before)
    assert reg.handlers_for("kobana", "bank_billet.paid") == []
