"""The overview's chart, drawn on the server as SVG markup: no JavaScript, nothing for the CSP to allow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    width: float
    css: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    labels: list[tuple[float, str]]
    peak: Decimal


def settled_chart(
    days: list[tuple[date, Decimal, Decimal]], label: object, money: object, width: int = 720, height: int = 180
) -> Chart:
    """Two bars per day (in, out), scaled to the largest; ``label``/``money`` format a day and an amount."""
    peak = max([max(i, o) for _d, i, o in days] or [Decimal(0)]) or Decimal(1)
    plot = height - 24
    slot = width / max(len(days), 1)
    bar = max(slot / 2 - 2, 1)
    bars: list[Bar] = []
    labels: list[tuple[float, str]] = []
    for n, (day, money_in, money_out) in enumerate(days):
        for k, (value, css) in enumerate(((money_in, "in"), (money_out, "out"))):
            h = float(value / peak) * plot
            title = f"{label(day)}: {money(value)}"  # type: ignore[operator]
            bars.append(Bar(n * slot + k * (bar + 1) + 1, plot - h, h, bar, css, title))
        if n % 5 == 0 or n == len(days) - 1:
            labels.append((n * slot + 1, label(day)))  # type: ignore[operator]
    return Chart(width, height, bars, labels, peak)
