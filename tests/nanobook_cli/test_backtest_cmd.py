"""`nanobook backtest` end to end: the bundled sample, both modes, stops, sweeps (process/serial/Dask), --plot, errors.

Expected numbers are never hard-coded: the CLI's JSON is checked against the engine called directly on the same
files, and sweep points against single runs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from engine.portfolio.arrays import backtest_arrays
from engine.portfolio.reference import backtest_weights
from engine.portfolio.runner import reference_inputs
from engine.portfolio.schedules import align, read_schedule
from tests.nanobook_cli.helpers_e2e import Workdir, assert_one_clean_error

SAMPLE = Path(__file__).resolve().parents[2] / "configs" / "examples" / "backtest"
WEIGHTS, PRICES = str(SAMPLE / "weights.csv"), str(SAMPLE / "prices.csv")


def aligned() -> Any:
    return align(read_schedule(Path(WEIGHTS), "weights"), read_schedule(Path(PRICES), "prices"))


def test_float_mode_json_matches_the_engine(wd: Workdir) -> None:
    result = wd.nb("backtest", WEIGHTS, PRICES, "--cost-bps", "10", "--json")
    assert result.returncode == 0, str(result)
    data = result.doc["data"]
    a = aligned()
    direct = backtest_arrays(a.weights, a.prices, cost_bps=10.0)
    assert data["mode"] == "float" and data["periods"] == len(a.dates) and data["rebalances"] == direct.rebalances
    assert data["equity"] == [float(x) for x in direct.equity]
    assert data["final_equity"] == pytest.approx(direct.final_equity, rel=0, abs=0)
    assert data["metrics"]["sharpe"] == pytest.approx(direct.metrics.sharpe if direct.metrics else math.nan)
    assert data["stop_events"] == []


def test_reference_mode_json_is_the_reference_backtest_in_dollars(wd: Workdir) -> None:
    result = wd.nb("backtest", WEIGHTS, PRICES, "--mode", "reference", "--cost-bps", "10", "--json")
    assert result.returncode == 0, str(result)
    data = result.doc["data"]
    a = aligned()
    weights, cents = reference_inputs(a)
    # The weight-list form, built here independently: listed = non-zero weights, priced = non-zero cents.
    ws = [[(s, float(w)) for s, w in zip(a.symbols, row, strict=True) if w == w] for row in weights]
    ps = [[(s, int(c)) for s, c in zip(a.symbols, row, strict=True) if c] for row in cents]
    assert ps[0] == [(s, round(float(p) * 100)) for s, p in zip(a.symbols, a.prices[a.rebalance_rows[0]],
                                                                   strict=True)]
    direct = backtest_weights(ws, ps, 100_000_000, 10)
    assert data["periods"] == len(a.rebalance_rows) == len(direct["returns"])
    assert data["equity"] == [c / 100 for c in direct["equity_curve"][1:]]   # whole cents, exactly
    assert data["returns"] == list(direct["returns"])


def test_human_output_has_metrics_sparkline_and_stop_table(wd: Workdir) -> None:
    result = wd.nb("backtest", WEIGHTS, PRICES, "--trailing-stop", "0.1")
    assert result.returncode == 0, str(result)
    assert "backtest (float mode)" in result.stdout and "Sharpe" in result.stdout
    spark = next(line for line in result.stdout.splitlines() if line.startswith("equity "))
    assert set(spark.split()[2]) <= set("▁▂▃▄▅▆▇█") and len(spark.split()[2]) > 10
    assert "Stop exits (" in result.stdout and "trailing" in result.stdout


def test_plot_writes_a_png(wd: Workdir) -> None:
    result = wd.nb("backtest", WEIGHTS, PRICES, "--plot", "equity.png")
    assert result.returncode == 0, str(result)
    assert (wd.path / "equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _sweep_points(wd: Workdir, *extra: str) -> list[dict[str, Any]]:
    result = wd.nb("backtest", WEIGHTS, PRICES, "--sweep", "cost_bps=0,10", "--sweep", "fixed_stop_pct=0.05,0.2",
                   *extra, "--json")
    assert result.returncode == 0, str(result)
    points: list[dict[str, Any]] = result.doc["data"]["points"]
    return points


def test_sweep_points_come_in_grid_order_and_equal_single_runs(wd: Workdir) -> None:
    points = _sweep_points(wd)
    assert [p["params"] for p in points] == [{"cost_bps": c, "fixed_stop_pct": s} for c in (0.0, 10.0)
                                            for s in (0.05, 0.2)]
    single = wd.nb("backtest", WEIGHTS, PRICES, "--cost-bps", "10", "--fixed-stop", "0.05", "--json")
    assert points[2]["final_equity"] == single.doc["data"]["final_equity"]
    assert points[2]["stop_exits"] == len(single.doc["data"]["stop_events"])
    assert _sweep_points(wd, "--executor", "serial") == points


@pytest.mark.slow
def test_sweep_on_a_dask_cluster_gives_the_same_points(wd: Workdir) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        on_dask = _sweep_points(wd, "--scheduler", cluster.scheduler_address)
    assert on_dask == _sweep_points(wd)


@pytest.mark.parametrize(("args", "code", "needle"), [
    (("--mode", "vector"), 2, "float or reference"),
    (("--sweep", "speed=1,2"), 2, "unknown key 'speed'"),
    (("--sweep", "cost_bps"), 2, "KEY=V1,V2"),
    (("--sweep", "atr_period=1.5"), 2, "whole numbers"),
    (("--sweep", "cost_bps=1", "--mode", "reference"), 2, "float mode"),
    (("--executor", "dask", "--sweep", "cost_bps=1"), 2, "--scheduler"),
    (("--trailing-stop", "1.5"), 4, "--trailing-stop must be in [0, 1)"),
    (("--atr-multiple", "-1"), 4, "--atr-multiple must be > 0"),
    (("--mode", "reference", "--cost-bps", "2.5"), 4, "whole basis points"),
    (("--plot", "no/such/dir/x.png"), 2, "does not exist"),
])
def test_bad_options_are_one_clean_line(wd: Workdir, args: tuple[str, ...], code: int, needle: str) -> None:
    result = wd.nb("backtest", WEIGHTS, PRICES, *args)
    if code == 2:
        assert result.returncode == 2 and needle in result.stderr and "Traceback" not in result.stderr, str(result)
    else:
        assert_one_clean_error(result, code, needle)


def test_bad_schedule_file_names_file_and_line(wd: Workdir) -> None:
    wd.write("w.csv", "date,ACME\n2024-03-29,abc\n")
    line = assert_one_clean_error(wd.nb("backtest", "w.csv", PRICES), 4, "w.csv:2")
    assert "not a number" in line
    assert_one_clean_error(wd.nb("backtest", "missing.csv", PRICES), 4, "no such file")


def test_schedule_mistakes_are_named_by_date_and_symbol(wd: Workdir) -> None:
    wd.write("short.csv", "date,ACME,BOLT\n2024-03-29,-0.5,0.5\n")
    assert_one_clean_error(wd.nb("backtest", "short.csv", PRICES), 4,
                           "2024-03-29: weight of ACME is -0.5 < 0: float mode is long-only")
    wd.write("us.csv", "date,ACME\n03/29/2024,0.5\n")
    assert_one_clean_error(wd.nb("backtest", "us.csv", PRICES), 4, "us.csv:2: '03/29/2024' is not an ISO date")
    wd.write("dup.csv", "date,ACME,BOLT,ACME\n2024-03-29,0.2,0.3,0.4\n")
    assert_one_clean_error(wd.nb("backtest", "dup.csv", PRICES), 4, "dup.csv:1: symbol column(s) ACME appear")
