"""Rich renderings of a backtest: metrics table, stop events, a terminal equity sparkline; and the --plot PNG.

Pure functions of an engine `BacktestReport` (plus matplotlib for the optional PNG); they compute nothing new.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nanobook_cli.output.render import make_table

if TYPE_CHECKING:
    from engine.portfolio.runner import BacktestReport

_BARS = "▁▂▃▄▅▆▇█"
_PERCENT = {"total_return", "cagr", "volatility", "max_drawdown", "win_rate", "cvar_95"}
_LABELS = {"total_return": "total return", "cagr": "CAGR", "volatility": "volatility (ann.)",
           "sharpe": "Sharpe", "sortino": "Sortino", "max_drawdown": "max drawdown", "calmar": "Calmar",
           "num_periods": "periods", "winning_periods": "winning periods", "losing_periods": "losing periods",
           "win_rate": "win rate", "cvar_95": "CVaR 95%", "profit_factor": "profit factor",
           "payoff_ratio": "payoff ratio", "kelly": "Kelly fraction"}


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """The series resampled to `width` points (last value of each bucket) drawn with block characters."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    step = max(1, math.ceil(len(values) / width))
    points = [values[min(i + step, len(values)) - 1] for i in range(0, len(values), step)]
    low, high = min(finite), max(finite)
    span = high - low or 1.0
    return "".join(_BARS[round((p - low) / span * (len(_BARS) - 1))] if math.isfinite(p) else " " for p in points)


def metric_text(name: str, value: float | int | None) -> str:
    """A metric for people: percentages for returns/drawdowns/rates, 2–3 decimals for ratios."""
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if name in _PERCENT:
        return f"{value * 100:.2f}%"
    return f"{value:.3f}"


def headline(report: BacktestReport) -> str:
    """One line: mode, span, periods, rebalances, cost."""
    span = f"{report.dates[0]} → {report.dates[-1]}" if report.dates else "no periods"
    return (f"backtest ({report.mode} mode) · {span} · {len(report.dates)} periods · {report.rebalances} rebalances"
            f" · {len(report.symbols)} symbols · {report.cost_bps:g} bps")


def metrics_table(report: BacktestReport) -> Any:
    """Two columns: metric, value."""
    table = make_table("Metrics", [("metric", "left"), ("value", "right")])
    table.add_row("initial equity", f"${report.initial_cash:,.2f}")
    table.add_row("final equity", f"${report.final_equity:,.2f}")
    for name, value in report.metrics.items():
        table.add_row(_LABELS.get(name, name.replace("_", " ")), metric_text(name, value))
    return table


def stops_table(report: BacktestReport, limit: int = 20) -> Any:
    """The first `limit` stop exits (date, symbol, rule, level, exit price)."""
    table = make_table(f"Stop exits ({len(report.stop_events)})",
                       [("date", "left"), ("symbol", "left"), ("rule", "left"), ("level", "right"),
                        ("exit", "right")])
    for e in report.stop_events[:limit]:
        table.add_row(e.date, e.symbol, e.reason, f"{e.trigger_price:,.2f}", f"{e.exit_price:,.2f}")
    return table


def report_json(report: BacktestReport) -> dict[str, Any]:
    """The `data` of the --json envelope."""
    return {
        "mode": report.mode, "periods": len(report.dates), "rebalances": report.rebalances,
        "symbols": list(report.symbols), "initial_cash": report.initial_cash, "cost_bps": report.cost_bps,
        "final_equity": report.final_equity, "metrics": report.metrics,
        "dates": list(report.dates), "equity": list(report.equity), "returns": list(report.returns),
        "stop_events": [{"date": e.date, "symbol": e.symbol, "reason": e.reason, "trigger_price": e.trigger_price,
                         "exit_price": e.exit_price} for e in report.stop_events],
    }


def save_plot(report: BacktestReport, path: Path) -> None:
    """Equity curve and drawdown as a PNG (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    equity = list(report.equity)
    peak, drawdown = -math.inf, []
    for value in equity:
        peak = max(peak, value)
        drawdown.append(value / peak - 1 if peak > 0 else 0.0)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    x = range(len(equity))
    top.plot(x, equity, linewidth=1.2)
    top.set_title(f"nanobook backtest ({report.mode} mode): equity")
    top.grid(alpha=0.3)
    bottom.fill_between(x, drawdown, 0, alpha=0.4, color="tab:red")
    bottom.set_ylabel("drawdown")
    bottom.grid(alpha=0.3)
    ticks = list(range(0, len(equity), max(1, len(equity) // 6)))
    bottom.set_xticks(ticks, [report.dates[i] for i in ticks], rotation=20)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
