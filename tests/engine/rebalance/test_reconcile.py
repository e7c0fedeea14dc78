"""Tests of engine.rebalance.reconcile: per-symbol status, drift sign and size, tracking error, tolerance verdict."""

from __future__ import annotations

from decimal import Decimal

from engine.brokers.base import BrokerOrder, OrderState, Position
from engine.rebalance.reconcile import ReconcileReport, ReconcileRow, reconcile

D = Decimal


def rec(*, equity: int | str = 1_000_000, cash: int | str = 0, positions: dict[str, int | str] | None = None,
        prices: dict[str, str] | None = None, targets: dict[str, str] | None = None, tolerance: int = 5,
        open_orders: tuple[BrokerOrder, ...] = ()) -> ReconcileReport:
    return reconcile(equity=D(equity), cash=D(cash),
                     positions={s: Position(s, D(q), D(1)) for s, q in (positions or {}).items()},
                     prices={s: D(p) for s, p in (prices or {}).items()},
                     targets={s: D(w) for s, w in (targets or {}).items()}, tolerance_bps=tolerance,
                     open_orders=open_orders)


def row(report: ReconcileReport, symbol: str) -> ReconcileRow:
    return next(r for r in report.rows if r.symbol == symbol)


def working_order() -> BrokerOrder:
    return BrokerOrder("F1", "nb" + "0" * 30, "AAPL", "buy", D(10), D(185), D(0), None, OrderState.SUBMITTED)


def test_holding_at_target_is_ok_with_small_negative_drift() -> None:
    r = rec(positions={"AAPL": 2702}, prices={"AAPL": "185"}, targets={"AAPL": "0.5"})
    a = row(r, "AAPL")
    assert a.status == "OK"
    assert a.actual_weight == D("0.49987")
    assert a.drift_bps == D("-1.3")
    assert (a.target_quantity, a.actual_quantity, a.price, a.value) == (D(2702), D(2702), D(185), D(499_870))
    assert r.within_tolerance is True


def test_drift_outside_the_band_is_out_of_band() -> None:
    r = rec(positions={"AAPL": 2702}, prices={"AAPL": "185"}, targets={"AAPL": "0.5"}, tolerance=1)
    assert row(r, "AAPL").status == "OUT_OF_BAND"
    assert r.within_tolerance is False


def test_drift_exactly_at_the_band_is_ok() -> None:
    r = rec(equity=100_000, positions={"X": 250}, prices={"X": "200"}, targets={"X": "0.51"}, tolerance=100)
    assert (row(r, "X").drift_bps, row(r, "X").status) == (D(-100), "OK")
    r = rec(equity=100_000, positions={"X": 250}, prices={"X": "200"}, targets={"X": "0.51"}, tolerance=99)
    assert row(r, "X").status == "OUT_OF_BAND"


def test_overweight_drift_is_positive() -> None:
    a = row(rec(positions={"AAPL": 2800}, prices={"AAPL": "185"}, targets={"AAPL": "0.5"}), "AAPL")
    assert (a.actual_weight, a.drift_bps, a.status) == (D("0.518"), D(180), "OUT_OF_BAND")


def test_short_holding_drift_sign() -> None:
    r = rec(positions={"SPY": -232}, prices={"SPY": "430"}, targets={"SPY": "-0.1"})
    s = row(r, "SPY")
    assert s.actual_weight == D("-0.09976")
    assert s.drift_bps == D("2.4")  # less short than targeted → positive
    assert s.target_quantity == D(-232)
    assert s.value == D(-99_760)
    assert s.status == "OK"


def test_untargeted_holding_is_unexpected_even_when_tiny() -> None:
    r = rec(positions={"MSFT": 200, "DUST": 1}, prices={"MSFT": "410", "DUST": "1"}, tolerance=10_000)
    m = row(r, "MSFT")
    assert (m.target_weight, m.actual_weight, m.drift_bps, m.target_quantity) == (D(0), D("0.082"), D(820), D(0))
    assert m.status == "UNEXPECTED"
    assert row(r, "DUST").status == "UNEXPECTED"
    assert r.within_tolerance is False


def test_missing_target_holding() -> None:
    r = rec(prices={"TLT": "95"}, targets={"TLT": "0.1"}, tolerance=50)
    t = row(r, "TLT")
    assert (t.status, t.drift_bps, t.actual_quantity, t.target_quantity) == ("MISSING", D(-1000), D(0), D(1052))
    assert r.within_tolerance is False


def test_missing_but_tiny_target_within_band_is_ok() -> None:
    r = rec(prices={"TLT": "95"}, targets={"TLT": "0.0004"}, tolerance=5)
    assert (row(r, "TLT").drift_bps, row(r, "TLT").status) == (D(-4), "OK")


def test_holding_without_price_is_no_price() -> None:
    r = rec(positions={"GLD": 10}, targets={"GLD": "0.2"}, tolerance=10_000)
    g = row(r, "GLD")
    assert (g.status, g.price, g.value, g.actual_weight, g.target_quantity) == ("NO_PRICE", None, D(0), D(0), D(0))
    assert g.actual_quantity == D(10)
    assert r.within_tolerance is False


def test_untargeted_holding_without_price_is_no_price_not_unexpected() -> None:
    assert row(rec(positions={"GLD": 10}), "GLD").status == "NO_PRICE"


def test_zero_weight_target_without_holding_is_ok() -> None:
    r = rec(prices={"X": "10"}, targets={"X": "0"})
    assert (row(r, "X").status, row(r, "X").drift_bps) == ("OK", D(0))
    assert r.within_tolerance is True


def test_rows_sorted_and_zero_positions_left_out() -> None:
    r = rec(positions={"ZZZ": 1, "AAA": 0, "MMM": 5}, prices={"ZZZ": "1", "MMM": "1", "BBB": "1"},
            targets={"BBB": "0.1"})
    assert [x.symbol for x in r.rows] == ["BBB", "MMM", "ZZZ"]


def test_tracking_error_is_rms_of_drifts_in_bp() -> None:
    r = rec(equity=100_000, positions={"A": 503, "B": 296}, prices={"A": "100", "B": "100"},
            targets={"A": "0.5", "B": "0.3"}, tolerance=50)
    assert [x.drift_bps for x in r.rows] == [D(30), D(-40)]
    assert r.tracking_error_bps == D(1250).sqrt()
    assert abs(r.tracking_error_bps - D("35.35533905932737622")) < D("1e-15")
    assert r.max_drift_bps == D(40)
    assert [x.status for x in r.rows] == ["OK", "OK"]
    assert r.within_tolerance is True


def test_cash_weight_and_summary_fields() -> None:
    r = rec(equity=100_000, cash=20_000, positions={"A": 800}, prices={"A": "100"}, targets={"A": "0.8"},
            tolerance=7)
    assert (r.equity, r.cash, r.cash_weight, r.tolerance_bps) == (D(100_000), D(20_000), D("0.2"), 7)
    assert (r.max_drift_bps, r.tracking_error_bps) == (D(0), D(0))


def test_open_orders_make_the_report_out_of_tolerance() -> None:
    clean = rec(positions={"AAPL": 2702}, prices={"AAPL": "185"}, targets={"AAPL": "0.5"})
    busy = rec(positions={"AAPL": 2702}, prices={"AAPL": "185"}, targets={"AAPL": "0.5"},
               open_orders=(working_order(),))
    assert all(x.status == "OK" for x in busy.rows)
    assert clean.within_tolerance is True
    assert busy.within_tolerance is False
    assert busy.open_orders == (working_order(),)


def test_zero_equity_gives_zero_weights() -> None:
    r = rec(equity=0, cash=0, positions={"A": 5}, prices={"A": "10"}, targets={"A": "0.5"})
    a = row(r, "A")
    assert (a.actual_weight, a.target_quantity, a.drift_bps) == (D(0), D(0), D(-5000))
    assert r.cash_weight == D(0)


def test_empty_account_and_target() -> None:
    r = rec()
    assert (r.rows, r.max_drift_bps, r.tracking_error_bps, r.within_tolerance) == ((), D(0), D(0), True)
