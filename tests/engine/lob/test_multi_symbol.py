"""Unit tests of engine.lob.symbol (≤ 8 UTF-8 bytes) and engine.lob.multi (one independent book per symbol)."""

from __future__ import annotations

import pytest

from engine.lob import Exchange, MultiExchange, Symbol
from tests.engine.lob.rows import cancel_row, trade_rows


def test_symbol_accepts_up_to_8_bytes() -> None:
    assert Symbol("AAPL") == "AAPL"
    assert Symbol("ABCDEFGH") == "ABCDEFGH"
    assert Symbol("") == ""
    assert Symbol("ÄÖÜ") == "ÄÖÜ"  # 6 bytes
    with pytest.raises(ValueError, match="exceeds 8 bytes"):
        Symbol("ABCDEFGHI")
    with pytest.raises(ValueError, match="exceeds 8 bytes"):
        Symbol("ABCDEFGÄ")  # 7 characters but 9 bytes
    with pytest.raises(TypeError):
        Symbol(b"AAPL")


def test_symbol_try_new() -> None:
    assert Symbol.try_new("MSFT") == "MSFT"
    assert isinstance(Symbol.try_new("MSFT"), Symbol)
    assert Symbol.try_new("TOOLONGXX") is None
    assert Symbol.try_new("€€€") is None  # 9 bytes


@pytest.mark.parametrize(("text", "expected"), [
    ("ABCDEFGé", "ABCDEFG"),        # 7 ASCII + a 2-byte char → the char is not split
    ("ABCDEFGHIJ", "ABCDEFGH"),
    ("AB€€", "AB€€"),               # exactly 8 bytes
    ("ABC€€", "ABC€"),              # a 3-byte char would straddle byte 8
    ("😀😀😀", "😀😀"),
    ("", ""),
])
def test_symbol_from_str_truncated(text: str, expected: str) -> None:
    sym = Symbol.from_str_truncated(text)
    assert sym == expected
    assert len(sym.encode()) <= 8


def test_symbol_ordering_hash_and_repr() -> None:
    assert sorted(map(Symbol, ["MSFT", "AAPL", "GOOG"])) == ["AAPL", "GOOG", "MSFT"]
    assert {Symbol("AAPL"): 1}["AAPL"] == 1
    assert hash(Symbol("X")) == hash("X")
    assert repr(Symbol("AAPL")) == "Symbol('AAPL')"
    assert str(Symbol("AAPL")) == "AAPL"


def test_multi_exchange_books_are_independent_with_own_counters() -> None:
    m = MultiExchange()
    assert m.is_empty()
    assert m.len() == 0
    r1 = m.submit_limit("AAPL", "sell", 15000, 10)
    r2 = m.submit_limit("MSFT", "sell", 30000, 5)
    assert (r1.order_id, r2.order_id) == (1, 1)  # ids start at 1 per symbol
    r3 = m.submit_market("AAPL", "buy", 4)
    assert trade_rows(r3.trades) == [(1, 15000, 4, "buy", 2, 1, 3)]
    assert cancel_row(m.cancel("MSFT", 1)) == (True, 5, None)
    assert m.cancel("MSFT", 2).error == "OrderNotFound"
    mod = m.modify("AAPL", 1, 14900, 6)
    assert (mod.success, mod.new_order_id, mod.cancelled_quantity) == (True, 3, 6)
    assert m.best_prices() == [("AAPL", None, 14900), ("MSFT", None, None)]
    assert all(isinstance(s, Symbol) for s, _, _ in m.best_prices())
    assert m.symbols() == ["AAPL", "MSFT"]  # creation order
    assert (m.len(), len(m), m.is_empty()) == (2, 2, False)


def test_forwarding_creates_missing_books() -> None:
    m = MultiExchange()
    assert m.cancel("NEW", 1).error == "OrderNotFound"
    assert m.modify("NEW2", 1, 1, 1).error == "OrderNotFound"
    assert m.submit_limit("B", "buy", 1, 1, "ioc", owner=1, stp_policy="cancel_newest").status == "Cancelled"
    assert m.symbols() == ["NEW", "NEW2", "B"]
    assert m.get("NEW") is not None
    assert m.get("NOPE") is None
    assert m.len() == 3  # get() never creates


def test_get_or_create_returns_the_live_exchange_not_a_copy() -> None:
    """Deliberate difference from the reference, whose Python binding returns a copy."""
    m = MultiExchange()
    ex = m.get_or_create("AAPL")
    assert isinstance(ex, Exchange)
    ex.submit_limit("buy", 100, 10)
    assert m.best_prices() == [("AAPL", 100, None)]
    assert m.get_or_create("AAPL") is ex
    assert m.get("AAPL") is ex
    assert m.submit_limit("AAPL", "sell", 100, 4).filled_quantity == 4
    assert ex.trades()[0].quantity == 4


def test_symbol_length_is_enforced_everywhere() -> None:
    m = MultiExchange()
    for call in (lambda: m.get_or_create("TOOLONGSYM"), lambda: m.submit_limit("TOOLONGSYM", "buy", 1, 1),
                 lambda: m.submit_market("TOOLONGSYM", "buy", 1), lambda: m.cancel("TOOLONGSYM", 1),
                 lambda: m.modify("TOOLONGSYM", 1, 1, 1)):
        with pytest.raises(ValueError, match="exceeds 8 bytes"):
            call()
    assert m.is_empty()
    assert m.get_or_create("ABCDEFGH").best_bid() is None


def test_multi_forwarding_validates_like_exchange() -> None:
    m = MultiExchange()
    with pytest.raises(ValueError, match="Invalid side"):
        m.submit_limit("A", "x", 1, 1)
    with pytest.raises(TypeError):
        m.submit_limit("A", "buy", 1.0, 1)
    with pytest.raises(OverflowError):
        m.submit_market("A", "buy", -1)
