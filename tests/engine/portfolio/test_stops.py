"""engine.portfolio.stops: stop_cfg parsing, tracker rules, tie-breaking and the engine-spec §6.3 vectors end to end."""

from __future__ import annotations

import math
from typing import Any

import pytest

from engine.errors import BacktestError
from engine.portfolio.reference import backtest_weights
from engine.portfolio.stops import StopBook, StopConfig, StopTracker, cents_level, parse_stop_cfg

# ---------------------------------------------------------------------------- parsing


def test_absent_or_all_off_config_means_no_stops() -> None:
    assert parse_stop_cfg(None) is None
    assert parse_stop_cfg({}) is None
    assert parse_stop_cfg({"fixed_stop_pct": 0.0, "trailing_stop_pct": None}) is None
    assert parse_stop_cfg({"atr_period": 3}) is None


def test_parsed_values_and_defaults() -> None:
    cfg = parse_stop_cfg({"fixed_stop_pct": 0.1, "atr_multiple": 2})
    assert cfg == StopConfig(fixed_stop_pct=0.1, trailing_stop_pct=0.0, atr_multiple=2.0, atr_period=14)
    assert cfg.history == 84


@pytest.mark.parametrize(("cfg", "match"), [
    ({"fixed_stop_pct": 1.0}, r"\[0, 1\)"),
    ({"trailing_stop_pct": -0.1}, r"\[0, 1\)"),
    ({"fixed_stop_pct": math.nan}, "finite"),
    ({"fixed_stop_pct": "0.1"}, "number"),
    ({"fixed_stop_pct": True}, "number"),
    ({"atr_multiple": 0.0}, "> 0"),
    ({"atr_multiple": math.inf}, "finite"),
    ({"atr_multiple": 2.0, "atr_period": 0}, ">= 1"),
    ({"atr_multiple": 2.0, "atr_period": 2.5}, "integer"),
    ({"fixed_stop": 0.1}, "unknown key"),
    ([("fixed_stop_pct", 0.1)], "mapping"),
])
def test_bad_config_is_a_clear_error(cfg: Any, match: str) -> None:
    with pytest.raises(BacktestError, match=match):
        parse_stop_cfg(cfg)


# ---------------------------------------------------------------------------- trackers


def test_cents_level_rounds_half_away_and_floors_at_one_cent() -> None:
    assert [cents_level(x) for x in (8666.67, 10449.5, 0.2, -3.0)] == [8667.0, 10450.0, 1.0, 1.0]


def test_long_ties_report_the_last_rule_and_shorts_the_first() -> None:
    cfg = StopConfig(fixed_stop_pct=0.1, trailing_stop_pct=0.1)
    long = StopTracker.open(1, 10000.0, cfg)
    short = StopTracker.open(-1, 10000.0, cfg)
    assert long.level(cfg, cents_level) == ("trailing", 9000.0)
    assert short.level(cfg, cents_level) == ("fixed", 11000.0)


def test_levels_take_the_tightest_rule() -> None:
    cfg = StopConfig(fixed_stop_pct=0.1, trailing_stop_pct=0.05, atr_multiple=1.0, atr_period=2)
    t = StopTracker.open(1, 100.0, cfg)
    assert t.level(cfg) == ("trailing", 95.0)  # no |Δp| yet, so no atr level
    for p in (110.0, 108.0):
        t.observe(p)
    # reference 110; trailing 104.5; atr 110 − mean(10, 2) = 104; fixed 90.
    assert t.reference == 110.0 and t.level(cfg) == ("trailing", pytest.approx(104.5))


def test_atr_uses_the_newest_period_changes_and_caps_history() -> None:
    cfg = StopConfig(atr_multiple=1.0, atr_period=2)
    t = StopTracker.open(-1, 100.0, cfg)
    for p in (90.0, 96.0, 95.0, 99.0, 97.0, 98.0, 93.0, 92.0, 91.0, 90.0, 89.0, 88.0, 87.0):
        t.observe(p)
    assert len(t.changes) == 12  # 6 · atr_period
    assert t.reference == 87.0 and t.level(cfg) == ("atr", 88.0)


def test_book_drops_closed_symbols_and_restarts_after_a_flip() -> None:
    book = StopBook(StopConfig(fixed_stop_pct=0.1), cents_level)
    assert book.step([("A", 1), ("B", 1)], {"A": 10000.0, "B": 500.0}) == []
    assert book.step([("A", 1)], {"A": 9500.0}) == []
    # B was dropped, so it restarts at 450 and does not trigger against its old entry (500 → level 450).
    assert book.step([("A", -1), ("B", 1)], {"A": 9500.0, "B": 450.0}) == []
    hits = book.step([("A", -1), ("B", 1)], {"A": 10450.0, "B": 405.0})
    assert [(h.symbol, h.trigger_price, h.exit_price, h.reason) for h in hits] == [
        ("A", 10450.0, 10450.0, "fixed"), ("B", 405.0, 405.0, "fixed")]


def test_unpriced_open_symbol_is_skipped_and_forgotten() -> None:
    book = StopBook(StopConfig(fixed_stop_pct=0.1))
    book.step([("A", 1)], {"A": 100.0})
    assert book.step([("A", 1)], {"A": math.nan}) == []
    assert book.step([("A", 1)], {"A": 89.0}) == []  # fresh tracker at 89


# ---------------------------------------------------------------------------- engine-spec §6.3 vectors


def stops_run(prices: list[int], cfg: dict[str, Any], weights: list[float] | None = None) -> dict[str, Any]:
    w = weights or [1.0] * len(prices)
    return backtest_weights([[("A", x)] for x in w], [[("A", p)] for p in prices], 10_000_000, 0, stop_cfg=cfg)


def events(r: dict[str, Any]) -> list[tuple[int, int, int, str]]:
    return [(e["period_index"], e["trigger_price"], e["exit_price"], e["reason"]) for e in r["stop_events"]]


@pytest.mark.parametrize(("prices", "cfg", "weights", "expected"), [
    ([10000, 8500], {"fixed_stop_pct": .10}, None, [(1, 9000, 8500, "fixed")]),
    ([10000, 9000, 8900], {"fixed_stop_pct": .10}, None, [(1, 9000, 9000, "fixed")]),
    ([10000, 11000, 10300], {"fixed_stop_pct": .10, "trailing_stop_pct": .05}, None, [(2, 10450, 10300, "trailing")]),
    ([10000, 11500], {"fixed_stop_pct": .10}, [-1.0, -1.0], [(1, 11000, 11500, "fixed")]),
    ([10000, 9000, 9800], {"trailing_stop_pct": .05}, [-1.0] * 3, [(2, 9450, 9800, "trailing")]),
    ([10000, 11000, 9500, 8500], {"atr_multiple": 2.0, "atr_period": 3}, None, [(3, 8667, 8500, "atr")]),
    ([10000, 10100, 10200, 10150], {"atr_multiple": 3.0, "atr_period": 3}, None, []),
    ([10000, 9500, 11000], {"fixed_stop_pct": .10}, [1.0, -1.0, -1.0], [(2, 10450, 11000, "fixed")]),
], ids=["fixed", "equality", "trailing", "short-fixed", "short-trailing", "atr", "atr-quiet", "flip"])
def test_spec_vectors(prices: list[int], cfg: dict[str, Any], weights: list[float] | None,
                      expected: list[tuple[int, int, int, str]]) -> None:
    assert events(stops_run(prices, cfg, weights)) == expected


def test_a_stopped_position_is_flat_that_period_and_reopens_next() -> None:
    r = stops_run([10000, 8500, 8600], {"fixed_stop_pct": .10})
    assert r["holdings"][1] == [] and r["equity_curve"][2] == 8_500_000
    assert r["holdings"][2] and r["holdings"][2][0][0] == "A"


def test_stop_exit_pays_costs() -> None:
    r = backtest_weights([[("A", 1.0)]] * 2, [[("A", 10000)], [("A", 8500)]], 10_000_000, 10,
                         stop_cfg={"fixed_stop_pct": .10})
    # Buy 999 sh (1000 would overdraw with the 10 bps fee), fee 9,990; sell 999 at 8500, fee 8,492 (8491.5 → up).
    assert r["final_cash"] == 10_000_000 - 999 * 10000 - 9990 + 999 * 8500 - 8492
