"""engine.portfolio.portfolio.Portfolio: simple and LOB rebalancing, accounting, returns, persistence, parity."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from engine.errors import BacktestError
from engine.lob import MultiExchange
from engine.portfolio.cost import CostModel
from engine.portfolio.portfolio import Portfolio

MILLION = 100_000_000  # $1M in cents


def qty(p: Portfolio, symbol: str) -> int:
    pos = p.position(symbol)
    return pos.quantity if pos else 0


# ---------------------------------------------------------------------------- engine-spec §5.4 / §5.6 examples


def test_half_of_a_million_in_aapl() -> None:
    p = Portfolio(MILLION)
    p.rebalance_simple([("AAPL", 0.5)], [("AAPL", 15000)])
    assert qty(p, "AAPL") == 3333 and p.cash == MILLION - 3333 * 15000


def test_two_names_then_marked() -> None:
    p = Portfolio(10_000)
    p.rebalance_simple([("AAPL", 0.5), ("GOOG", 0.5)], {"AAPL": 1000, "GOOG": 2000})
    assert (qty(p, "AAPL"), qty(p, "GOOG")) == (5, 2)
    assert p.total_equity({"AAPL": 1200, "GOOG": 1800}) == 10_600


def test_all_in_then_half_out_realizes_the_gain() -> None:
    p = Portfolio(MILLION)
    p.rebalance_simple([("AAPL", 1.0)], [("AAPL", 10000)])
    pos = p.position("AAPL")
    assert pos is not None and (pos.quantity, pos.total_cost) == (10_000, MILLION)
    p.rebalance_simple([("AAPL", 0.5)], [("AAPL", 11000)])
    assert (pos.quantity, pos.realized_pnl) == (5000, 5_000_000)


def test_snapshot_and_weights() -> None:
    p = Portfolio(MILLION)
    p.rebalance_simple([("AAPL", 0.5)], [("AAPL", 10000)])
    snap = p.snapshot({"AAPL": 11000})
    assert snap == {"cash": 50_000_000, "equity": 105_000_000, "num_positions": 1, "total_realized_pnl": 0,
                    "weights": {"AAPL": 55_000_000 / 105_000_000}}
    assert p.current_weights({"AAPL": 11000}) == [("AAPL", 55_000_000 / 105_000_000)]


# ---------------------------------------------------------------------------- rules


def test_buys_are_trimmed_to_cash_including_fees() -> None:
    p = Portfolio(1_000_000, CostModel(commission_bps=10, slippage_bps=100, min_commission=50))
    p.rebalance_simple([("A", 1.0)], [("A", 100)])
    # Fill price 101; q = 9891 → 998,991 + fee 999 = 999,990 <= 1,000,000 (9892 would not fit).
    assert qty(p, "A") == 9891 and p.cash == 10


def test_leverage_is_trimmed_and_shorts_fund_later_buys() -> None:
    p = Portfolio(1_000_000)
    p.rebalance_simple([("A", 2.0)], [("A", 100)])
    assert qty(p, "A") == 10_000 and p.cash == 0
    q = Portfolio(1_000_000)
    q.rebalance_simple([("B", -1.0), ("A", 1.5)], [("A", 100), ("B", 100)])
    assert (qty(q, "A"), qty(q, "B"), q.cash) == (15_000, -10_000, 500_000)


def test_untargeted_holdings_are_closed_first() -> None:
    p = Portfolio(1_000_000)
    p.rebalance_simple([("A", 0.9)], [("A", 100), ("B", 100)])
    p.rebalance_simple([("B", 0.9)], [("A", 100), ("B", 100)])  # needs A's proceeds: A is sold before B is bought
    assert (qty(p, "A"), qty(p, "B")) == (0, 9000)


def test_equity_at_or_below_zero_skips_the_rebalance() -> None:
    p = Portfolio(1_000_000)
    p.rebalance_simple([("A", -1.0)], [("A", 100)])
    p.rebalance_simple([("A", 0.0)], [("A", 300)])
    assert qty(p, "A") == -10_000


@pytest.mark.parametrize(("targets", "prices", "match"), [
    ([("A", 1.0)], [("A", 0)], "positive integer cents"),
    ([("A", 1.0)], [("A", 10.5)], "positive integer cents"),
    ([("A", math.nan)], [("A", 10)], "finite"),
    ([("Q", 0.5)], [("A", 10)], "no price"),
    ([("A", 0.5), ("A", 0.5)], [("A", 10)], "twice"),
    ([("TOOLONGSYM", 0.5)], [("A", 10)], "8 bytes"),
])
def test_invalid_rebalance_input(targets: list[tuple[str, float]], prices: list[tuple[str, float]], match: str
                                 ) -> None:
    with pytest.raises(BacktestError, match=match):
        Portfolio(1000).rebalance_simple(targets, prices)  # type: ignore[arg-type]


def test_b10_a_held_symbol_without_price_is_an_error_not_a_zero() -> None:
    p = Portfolio(1_000_000)
    p.rebalance_simple([("A", 0.5), ("B", 0.5)], [("A", 100), ("B", 100)])
    with pytest.raises(BacktestError, match=r"held symbol.*B.*no price"):
        p.total_equity([("A", 100)])
    with pytest.raises(BacktestError):
        p.rebalance_simple([("A", 1.0)], [("A", 100)])


def test_negative_initial_cash_is_refused() -> None:
    with pytest.raises(BacktestError):
        Portfolio(-5)


def test_record_return_and_metrics() -> None:
    p = Portfolio(1_000_000)
    assert p.compute_metrics() is None
    p.rebalance_simple([("A", 1.0)], [("A", 100)])
    for px in (100, 110, 99):
        p.record_return([("A", px)])
    assert p.equity_curve == [1_000_000, 1_000_000, 1_100_000, 990_000]
    assert p.returns == [0.0, 0.1, -0.1]
    metrics = p.compute_metrics(252.0)
    assert metrics is not None and metrics.num_periods == 3


def test_close_position_at() -> None:
    p = Portfolio(1_000_000)
    p.rebalance_simple([("A", 0.5)], [("A", 100)])
    assert p.close_position_at("A", 120) and qty(p, "A") == 0
    assert not p.close_position_at("A", 120) and not p.close_position_at("Z", 120)


# ---------------------------------------------------------------------------- persistence


def test_json_round_trip(tmp_path: Path) -> None:
    p = Portfolio(1_000_000, CostModel(10, 5, 1))
    p.rebalance_simple([("A", 0.5), ("B", -0.2)], [("A", 100), ("B", 300)])
    p.record_return([("A", 101), ("B", 290)])
    path = tmp_path / "p.json"
    p.save_json(path)
    q = Portfolio.load_json(path)
    assert q.to_dict() == p.to_dict() and q.cost_model == p.cost_model


def test_loads_the_reference_json(tmp_path: Path) -> None:
    nanobook = pytest.importorskip("nanobook")
    ref = nanobook.Portfolio(1_000_000, nanobook.CostModel(commission_bps=10.0))
    ref.rebalance_simple([("A", 0.5)], [("A", 100)])
    ref.record_return([("A", 110)])
    path = tmp_path / "ref.json"
    ref.save_json(str(path))
    p = Portfolio.load_json(path)
    assert (p.cash, qty(p, "A"), p.equity_curve, p.returns) == (ref.cash, 5000, ref.equity_curve(), ref.returns())


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"cash": 1}'])
def test_bad_json_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(BacktestError):
        Portfolio.load_json(path)


def test_fractional_reference_positions_are_refused() -> None:
    data = json.loads(json.dumps({"cash": 0, "positions": [["A", {"symbol": "A", "quantity": 1_500_000}]],
                                  "cost_model": {}, "returns": [], "equity_curve": [0], "prev_equity": 0,
                                  "quantity_step": 1000}))
    with pytest.raises(BacktestError, match="fractional"):
        Portfolio.from_dict(data)


# ---------------------------------------------------------------------------- LOB fills


def test_lob_buy_sweeps_the_offered_shares() -> None:
    ex = MultiExchange()
    ex.submit_limit("A", "sell", 10000, 1000)
    p = Portfolio(MILLION)
    p.rebalance_lob([("A", 1.0)], ex)
    assert qty(p, "A") == 1000 and p.cash == MILLION - 1000 * 10000
    assert ex.get_or_create("A").best_ask() is None


def test_lob_buy_is_trimmed_along_the_ask_side() -> None:
    ex = MultiExchange()
    ex.submit_limit("A", "sell", 10000, 5)
    ex.submit_limit("A", "sell", 30000, 10)
    p = Portfolio(100_000, CostModel(commission_bps=10))
    p.rebalance_lob([("A", 1.0)], ex)
    # Valued at the only side (ask 10000): wants 10; cash pays 5 @ 100.00 + 1 @ 300.00 (+ 50 + 30 fees).
    pos = p.position("A")
    assert pos is not None and (pos.quantity, pos.avg_entry_price, p.cash) == (6, 13333, 19_920)


def test_lob_close_books_partial_liquidity() -> None:
    ex = MultiExchange()
    ex.submit_limit("A", "sell", 10100, 100)
    ex.submit_limit("A", "buy", 9900, 30)
    p = Portfolio(10_000_000)
    p.rebalance_lob([("A", 0.1)], ex)  # mid 10000: 100 shares bought at 10100
    assert qty(p, "A") == 100
    p.rebalance_lob([], ex)  # only 30 bid: the close is partial
    assert qty(p, "A") == 70 and p.position("A").realized_pnl == 30 * (9900 - 10100)  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- parity with the reference Portfolio


def test_long_only_rebalances_match_the_reference_portfolio() -> None:
    nanobook = pytest.importorskip("nanobook")
    rng = random.Random(7)
    for _ in range(60):
        cost = (rng.choice([0, 2.5, 10]), rng.choice([0, 5, 33.4]), rng.choice([0, 1, 100]))
        cash = rng.choice([100_000, 10_000_000, rng.randint(1, 10**9)])
        ref = nanobook.Portfolio(cash, nanobook.CostModel(commission_bps=cost[0], slippage_bps=cost[1],
                                                          min_commission=cost[2]))
        mine = Portfolio(cash, CostModel(*cost))
        px = {s: rng.randint(50, 50_000) for s in "ABCD"}
        for _ in range(8):
            px = {s: max(1, int(p * math.exp(rng.gauss(0, 0.1)))) for s, p in px.items()}
            weights = [(s, rng.random() / 4) for s in rng.sample("ABCD", rng.randint(0, 4))]
            for pf in (ref, mine):
                pf.rebalance_simple(weights, list(px.items()))
                pf.record_return(list(px.items()))
        assert (mine.cash, mine.equity_curve, mine.returns) == (ref.cash, ref.equity_curve(), ref.returns())
        theirs = {s: (p.quantity_whole, p.avg_entry_price, p.realized_pnl, p.total_cost)
                  for s, p in ref.positions().items()}
        ours = {s: (p.quantity, p.avg_entry_price, p.realized_pnl, p.total_cost) for s, p in mine.positions().items()}
        assert ours == theirs
