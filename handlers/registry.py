"""Handlers register by decorator; ``handlers_for`` finds every one that matches an event.

    @handler("kobana", "bank_billet.paid")
    def mark_paid(event: Event, session: Session) -> None: ...

Patterns: an exact code (``bank_billet.paid``), a prefix wildcard (``bank_billet.*``) or ``*``;
the provider may be ``*``. A handler runs inside the transaction that marks its event
processed, so it must do its work through ``session`` and raise to refuse the event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TypeAlias

from sqlalchemy.orm import Session

from providers import PROVIDERS
from workers.event import Event

Handler: TypeAlias = Callable[[Event, Session], None]


def handler_name(fn: Handler) -> str:
    """The name recorded in the event log (``events show``): ``module.function``."""
    return f"{fn.__module__}.{getattr(fn, '__qualname__', repr(fn))}"


class Registry:
    """A table of handlers; the module-level ``REGISTRY`` is the one the worker uses."""

    def __init__(self) -> None:
        #: ``{(provider, pattern): [handler, ...]}`` in registration order; provider may be
        #: ``"*"``, pattern is an exact code, ``"prefix.*"`` or ``"*"``.
        self._handlers: dict[tuple[str, str], list[Handler]] = defaultdict(list)

    def handler(self, provider: str, *patterns: str) -> Callable[[Handler], Handler]:
        """Register the decorated function for ``provider`` and each of ``patterns``."""
        if provider != "*" and provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; expected one of {sorted(PROVIDERS)} or '*'")
        if not patterns:
            raise ValueError("handler() needs at least one event code pattern")
        for pattern in patterns:
            _check_pattern(pattern)

        def register(fn: Handler) -> Handler:
            for pattern in patterns:
                if fn in self._handlers[(provider, pattern)]:
                    raise ValueError(f"{handler_name(fn)} is already registered for {provider!r} {pattern!r}")
            for pattern in patterns:
                self._handlers[(provider, pattern)].append(fn)
            return fn

        return register

    def handlers_for(self, provider: str, code: str, original_code: str | None = None) -> list[Handler]:
        """Every handler for the event, each once: exact codes, then longest prefix, then ``*``.

        The original code matches too, so a handler for a renamed code's new name also gets
        events sent under the old name (they arrive already canonical), and vice versa.
        """
        codes = [code] if not original_code or original_code == code else [code, original_code]
        ranked: list[tuple[int, int, Handler]] = []
        order = 0
        for (hp, pattern), fns in self._handlers.items():
            if hp not in (provider, "*"):
                continue
            rank = max((_specificity(pattern, c) for c in codes), default=-1)
            if rank < 0:
                continue
            for fn in fns:
                ranked.append((-rank, order, fn))
                order += 1
        found: list[Handler] = []
        for _, _, fn in sorted(ranked, key=lambda item: (item[0], item[1])):
            if fn not in found:
                found.append(fn)
        return found

    def snapshot(self) -> dict[tuple[str, str], list[Handler]]:
        return {key: list(fns) for key, fns in self._handlers.items()}

    def restore(self, snapshot: dict[tuple[str, str], list[Handler]]) -> None:
        """Put back a ``snapshot()`` (tests register temporary handlers and undo them)."""
        self._handlers = defaultdict(list, {key: list(fns) for key, fns in snapshot.items()})


def _check_pattern(pattern: str) -> None:
    if not isinstance(pattern, str) or not pattern or pattern.strip() != pattern:
        raise ValueError(f"invalid event code pattern {pattern!r}")
    if "*" in pattern and pattern != "*" and not (pattern.endswith(".*") and "*" not in pattern[:-2]):
        raise ValueError(f"invalid event code pattern {pattern!r}: use 'code', 'prefix.*' or '*'")


def _specificity(pattern: str, code: str) -> int:
    """How well ``pattern`` matches ``code``: higher is more specific, -1 is no match."""
    if pattern == code:
        return 10_000
    if pattern == "*":
        return 0
    if pattern.endswith(".*") and code.startswith(pattern[:-1]):
        return len(pattern)
    return -1


REGISTRY = Registry()
handler = REGISTRY.handler
handlers_for = REGISTRY.handlers_for
