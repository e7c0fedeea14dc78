"""The backtest benchmark in quick mode: every row present, shaped as documented, implementations agreeing."""

from __future__ import annotations

import numpy as np
import pytest

from engine.bench.backtest import BACKTEST_WORKLOADS, EVERY, make_backtest_data, run_backtest_bench


def test_workload_inputs_follow_the_recipe() -> None:
    data = make_backtest_data("backtest_monthly", 100, 7, seed=5)
    assert data.prices.shape == data.weights.shape == (100, 7)
    assert (data.prices > 0).all() and np.array_equal(np.round(data.prices, 2), data.prices)
    assert data.rows.tolist() == list(range(0, 100, EVERY["backtest_monthly"]))
    live = data.weights[data.rows]
    assert (live > 0).all() and live.sum(axis=1) == pytest.approx(0.98, abs=1e-12)
    assert np.isnan(data.weights[1]).all()
    again = make_backtest_data("backtest_monthly", 100, 7, seed=5)
    assert np.array_equal(again.prices, data.prices)


@pytest.mark.slow  # imports vectorbt (≈ 3 s)
def test_quick_run_has_every_row_with_agreement_and_ratios() -> None:
    messages: list[str] = []
    rows = run_backtest_bench(repeat=1, quick=True, progress=messages.append)
    assert [(r.workload, r.variant) for r in rows] == [
        (w, v) for w in BACKTEST_WORKLOADS for v in ("float", "vectorbt", "reference", "nanobook")]
    for row in rows:
        assert row.error is None, row.error
        assert len(row.seconds) == 1 and row.median is not None and row.median > 0
        assert row.agree is True and row.agree_with
        assert row.details["days"] == 252 and row.details["symbols"] == 20
    by = {(r.workload, r.variant): r for r in rows}
    monthly = by[("backtest_monthly", "float")]
    assert monthly.details["rebalances"] == 12 and monthly.details["max_rel_diff"] <= 1e-9
    assert monthly.details["ratio_vs_vectorbt"] > 0 and by[("backtest_daily", "reference")].details[
        "ratio_vs_nanobook"] > 0
    assert by[("backtest_daily", "reference")].details["final_equity"] == by[("backtest_daily", "nanobook")
                                                                             ].details["final_equity"]
    assert messages


def test_repeat_must_be_positive() -> None:
    with pytest.raises(ValueError, match="repeat"):
        run_backtest_bench(repeat=0)
