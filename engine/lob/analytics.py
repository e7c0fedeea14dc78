"""Trade analytics over order-book output: VWAP with the reference's integer truncation."""

from __future__ import annotations

from collections.abc import Iterable

from engine.lob.results import Trade

_I64 = 2**63


def tdiv(a: int, b: int) -> int:
    """Integer division truncating toward zero (Rust `/`); Python `//` floors and is wrong for negatives."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def vwap(trades: Iterable[Trade]) -> int | None:
    """tdiv(Σ price·qty, Σ qty) in ticks; None when empty, zero volume or beyond the 64-bit range."""
    notional = 0
    volume = 0
    for trade in trades:
        notional += trade[1] * trade[2]
        volume += trade[2]
    if volume == 0 or not -_I64 <= notional < _I64 or volume >= 2**64:
        return None
    return tdiv(notional, volume)
