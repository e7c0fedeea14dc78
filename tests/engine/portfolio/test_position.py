"""engine.portfolio.position.Position: VWAP entry, realized PnL, flips, and the B9 fix for partial short covers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.portfolio.position import Position, tdiv


def test_tdiv_truncates_toward_zero() -> None:
    assert [tdiv(7, 2), tdiv(-7, 2), tdiv(7, -2), tdiv(-7, -2), tdiv(0, 5)] == [3, -3, -3, 3, 0]


def test_adding_builds_a_vwap_entry() -> None:
    p = Position("AAPL")
    p.apply_fill(100, 5000)
    p.apply_fill(50, 5300)
    assert (p.quantity, p.total_cost, p.avg_entry_price) == (150, 765_000, 5100)
    assert p.market_value(5200) == 780_000 and p.unrealized_pnl(5200) == 15_000


def test_long_partial_close_books_pnl_and_keeps_avg() -> None:
    p = Position("AAPL")
    p.apply_fill(100, 5000)
    p.apply_fill(-50, 6000)
    assert (p.quantity, p.avg_entry_price, p.realized_pnl, p.total_cost) == (50, 5000, 50_000, 250_000)


def test_b9_partial_cover_of_a_short_keeps_avg_and_realizes_the_right_pnl() -> None:
    p = Position("S")
    p.apply_fill(-100, 5000)
    p.apply_fill(50, 4000)  # the reference moved avg to 15000 here
    assert (p.quantity, p.avg_entry_price, p.realized_pnl, p.total_cost) == (-50, 5000, 50_000, -250_000)
    p.apply_fill(50, 4000)  # ... and then booked 5,500 of phantom profit on this cover
    assert (p.quantity, p.realized_pnl, p.total_cost) == (0, 100_000, 0)


def test_flip_realizes_the_closed_part_and_restarts_at_the_fill() -> None:
    p = Position("A")
    p.apply_fill(10, 100)
    p.apply_fill(-25, 90)
    assert (p.quantity, p.avg_entry_price, p.total_cost, p.realized_pnl) == (-15, 90, -1350, -100)


def test_closing_at_a_truncated_avg() -> None:
    p = Position("A")
    p.apply_fill(3, 100)
    p.apply_fill(1, 101)
    p.apply_fill(-4, 200)
    assert (p.avg_entry_price, p.realized_pnl) == (0, 400)  # avg was 100 (tdiv of 401/4): the cent is lost


def test_zero_fill_is_a_no_op_and_close_resets() -> None:
    p = Position("A")
    p.apply_fill(0, 100)
    assert p.is_flat and p.unrealized_pnl(50) == 0
    p.apply_fill(3, 100)
    p.apply_fill(-3, 120)
    assert p == Position("A", 0, 0, 60, 0)
    assert Position.from_dict(p.to_dict()) == p and p.quantity_whole == 0


@given(st.lists(st.tuples(st.integers(-500, 500), st.integers(1, 10_000)), max_size=30))
def test_realized_plus_unrealized_equals_cash_pnl(fills: list[tuple[int, int]]) -> None:
    """Without costs, total PnL = −Σ q·px + qty·mark = realized + unrealized (up to avg rounding per share)."""
    p = Position("A")
    for q, px in fills:
        p.apply_fill(q, px)
    mark = 5000
    cash_pnl = -sum(q * px for q, px in fills) + p.quantity * mark
    # avg is a truncated VWAP: closing or marking a share at avg can be off by < 1 cent per share.
    slack = sum(abs(q) for q, _ in fills) + abs(p.quantity)
    assert abs(p.realized_pnl + p.unrealized_pnl(mark) - cash_pnl) <= slack
    if p.quantity:
        assert p.total_cost == pytest.approx(p.avg_entry_price * p.quantity, abs=abs(p.quantity))
