"""`nanobook backtest WEIGHTS PRICES`: run a weight schedule against prices; metrics, stops, sparkline, --plot.

Reads the schedules (engine.portfolio.schedules), runs one backtest or a `--sweep` grid (engine.portfolio), renders.
Exit codes: 0 ok · 2 usage · 4 invalid schedule or parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

MODE_HELP = ("float: fractional shares, holds between rebalance rows, vectorbt conventions; reference: the seed's "
             "integer-cents rules (whole shares, one period per rebalance row, parity with nanobook 0.19.2).")
SWEEP_HELP = ("Grid axis KEY=V1,V2,… (repeatable; float mode): cost_bps, fixed_stop_pct, trailing_stop_pct, "
              "atr_multiple, atr_period, rebalance_every and offset (keep the weight rows of periods offset, "
              "offset+k, …: for a weight file with a row every day).")


def backtest(
    weights: Path = typer.Argument(..., readable=False,
                                   help="Weight schedule: wide CSV (date,SYM,…), long CSV or JSON."),
    prices: Path = typer.Argument(..., readable=False,
                                  help="Prices: wide CSV, long CSV (e.g. date,…,close,ticker) or JSON."),
    mode: str = typer.Option("float", "--mode", help=MODE_HELP),
    cash: float = typer.Option(1_000_000.0, "--cash", help="Initial cash in dollars."),
    cost_bps: float = typer.Option(0.0, "--cost-bps", min=0, max=10_000, help="Cost per trade, basis points."),
    periods_per_year: float = typer.Option(252.0, "--periods-per-year", min=1e-9, help="For annualised metrics."),
    risk_free: float = typer.Option(0.0, "--risk-free", help="Risk-free return per period (Sharpe/Sortino)."),
    fixed_stop: float | None = typer.Option(None, "--fixed-stop", help="Fixed stop, fraction below entry (0–1)."),
    trailing_stop: float | None = typer.Option(None, "--trailing-stop", help="Trailing stop, fraction (0–1)."),
    atr_multiple: float | None = typer.Option(None, "--atr-multiple", help="ATR-like stop multiple (> 0)."),
    atr_period: int | None = typer.Option(None, "--atr-period", min=1, help="ATR-like stop window (default 14)."),
    sweep: list[str] = typer.Option([], "--sweep", help=SWEEP_HELP),
    executor: str = typer.Option("process", "--executor", help="Sweep executor: process, serial or dask."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Sweep worker processes (default: CPUs)."),
    scheduler: str | None = typer.Option(None, "--scheduler",
                                         help="Dask scheduler address such as tcp://host:8786 (implies dask)."),
    plot: Path | None = typer.Option(None, "--plot", readable=False,
                                     help="Also save the equity curve as a PNG (needs matplotlib)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON envelope on stdout."),
) -> None:
    """Backtest a weight schedule. Exit codes: 0 ok · 2 usage · 4 invalid schedule or parameters."""
    from nanobook_cli.output.envelope import begin

    begin("backtest", json_out)
    if mode not in ("float", "reference"):
        raise typer.BadParameter(f"must be float or reference, not {mode!r}", param_hint="--mode")
    if plot is not None:
        _check_plot_target(plot)
    from engine.portfolio.runner import BacktestOptions
    from engine.portfolio.schedules import align, read_schedule

    stop_cfg = {k: v for k, v in (("fixed_stop_pct", fixed_stop), ("trailing_stop_pct", trailing_stop),
                                  ("atr_multiple", atr_multiple), ("atr_period", atr_period)) if v is not None}
    _check_stops(stop_cfg)
    options = BacktestOptions(mode=mode, initial_cash=cash, cost_bps=cost_bps,  # type: ignore[arg-type]
                              periods_per_year=periods_per_year, risk_free=risk_free, stop_cfg=stop_cfg or None)
    aligned = align(read_schedule(weights, "weights"), read_schedule(prices, "prices"))
    if sweep:
        from nanobook_cli.commands.backtest_sweep import run_sweep

        run_sweep(aligned, options, sweep, executor="dask" if scheduler else executor, workers=workers,
                  scheduler=scheduler, json_out=json_out)
        return
    _single(aligned, options, plot, json_out)


_STOP_FLAGS = {"fixed_stop_pct": "--fixed-stop", "trailing_stop_pct": "--trailing-stop",
               "atr_multiple": "--atr-multiple", "atr_period": "--atr-period"}


def _check_stops(stop_cfg: dict[str, Any]) -> None:
    """Validate the stop flags up front, naming the flag rather than the engine's stop_cfg key (exit 4)."""
    from engine.errors import BacktestError
    from engine.portfolio.stops import parse_stop_cfg

    try:
        parse_stop_cfg(stop_cfg or None)
    except BacktestError as exc:
        message = str(exc)
        for key, flag in _STOP_FLAGS.items():
            message = message.replace(f"stop_cfg[{key!r}]", flag)
        raise BacktestError(message) from None


def _check_plot_target(plot: Path) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise typer.BadParameter("needs matplotlib: pip install 'nanobook-cli[plot]'", param_hint="--plot") from None
    if not plot.parent.resolve().is_dir():
        raise typer.BadParameter(f"directory {plot.parent} does not exist", param_hint="--plot")


def _single(aligned: Any, options: Any, plot: Path | None, json_out: bool) -> None:
    from engine.portfolio.runner import run_backtest
    from nanobook_cli.output.backtest import headline, metrics_table, report_json, save_plot, sparkline, stops_table
    from nanobook_cli.output.console import err, out
    from nanobook_cli.output.envelope import emit

    report = run_backtest(aligned, options)
    if plot is not None:
        save_plot(report, plot)
        if not json_out:
            err().print(f"saved {plot}", markup=False)
    if json_out:
        data = report_json(report)
        data["plot"] = str(plot) if plot is not None else None
        emit("ok", 0, data)
        return
    console = out()
    console.print(headline(report), markup=False, highlight=False)
    console.print(metrics_table(report))
    if report.equity:
        console.print(f"equity {report.dates[0]} {sparkline(report.equity)} {report.dates[-1]}",
                      markup=False, highlight=False)
    if options.stop_cfg:
        console.print(stops_table(report))
