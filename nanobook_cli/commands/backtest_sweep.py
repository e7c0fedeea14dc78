"""`nanobook backtest --sweep KEY=V1,V2 …`: a float-mode parameter grid run in processes, serially or on Dask.

Parses the grid axes, runs `engine.portfolio.sweep` and renders one row per grid point (grid order, always).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer

INT_KEYS = ("rebalance_every", "offset", "atr_period")


def parse_axes(specs: list[str]) -> dict[str, list[Any]]:
    """`KEY=V1,V2` specs → {key: [values]} (ints for counts, floats otherwise); usage errors name the spec."""
    from engine.portfolio.sweep import TASK_KEYS

    axes: dict[str, list[Any]] = {}
    for spec in specs:
        key, sep, raw = spec.partition("=")
        key = key.strip()
        if not sep or not raw.strip():
            raise typer.BadParameter(f"{spec!r} must look like KEY=V1,V2,…", param_hint="--sweep")
        if key not in TASK_KEYS or key == "initial_cash":
            allowed = ", ".join(k for k in TASK_KEYS if k != "initial_cash")
            raise typer.BadParameter(f"unknown key {key!r} (use one of {allowed})", param_hint="--sweep")
        if key in axes:
            raise typer.BadParameter(f"{key} is given twice", param_hint="--sweep")
        try:
            axes[key] = [int(v) if key in INT_KEYS else float(v) for v in raw.split(",") if v.strip()]
        except ValueError:
            kind = "whole numbers" if key in INT_KEYS else "numbers"
            raise typer.BadParameter(f"{key} values must be {kind}: {raw!r}", param_hint="--sweep") from None
    return axes


def run_sweep(aligned: Any, options: Any, specs: list[str], *, executor: str, workers: int | None,
              scheduler: str | None, json_out: bool) -> None:
    """Run the grid and print the table (or the JSON envelope)."""
    from configs.errors import InputError
    from engine.portfolio.sweep import DASK_HINT, FloatBacktestTask, SweepError, grid, sweep
    from nanobook_cli.output.console import err

    if options.mode != "float":
        raise typer.BadParameter("sweeps run in float mode (drop --mode reference)", param_hint="--sweep")
    if executor not in ("process", "serial", "dask"):
        raise typer.BadParameter(f"must be process, serial or dask, not {executor!r}", param_hint="--executor")
    if executor == "dask" and not scheduler:
        raise typer.BadParameter("dask needs --scheduler tcp://HOST:8786", param_hint="--executor")
    points = grid(**parse_axes(specs))
    defaults = {"cost_bps": options.cost_bps, "initial_cash": options.initial_cash, **(options.stop_cfg or {})}
    task = FloatBacktestTask(aligned.weights, aligned.prices, options.periods_per_year, defaults)
    if not json_out:
        where = f"on {scheduler}" if scheduler else f"({executor})"
        err().print(f"sweep: {len(points)} backtests {where}", markup=False)
    try:
        with _progress(len(points)) as progress:
            results = sweep(task, points, executor=executor, workers=workers,  # type: ignore[arg-type]
                            scheduler=scheduler, errors="record", progress=progress)
    except SweepError as exc:
        if DASK_HINT in str(exc):
            raise typer.BadParameter(f"needs dask: {DASK_HINT}", param_hint="--scheduler") from None
        raise InputError(str(exc)) from None
    _render(results, list(points[0]) if points else [], json_out)
    sys.stdout.flush()


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int, int], None] | None]:
    """A transient progress bar on stderr when it is a terminal (None otherwise)."""
    from nanobook_cli.output.console import err, stderr_is_tty

    if not stderr_is_tty() or total < 2:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("backtests", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err(),
                  transient=True) as bar:
        task = bar.add_task("sweep", total=total)
        yield lambda done, _total: bar.update(task, completed=done)


def _render(results: list[Any], keys: list[str], json_out: bool) -> None:
    from nanobook_cli.output.backtest import metric_text
    from nanobook_cli.output.console import out
    from nanobook_cli.output.envelope import emit
    from nanobook_cli.output.render import make_table

    failed = [r for r in results if not r.ok]
    if json_out:
        errors = [{"type": "SweepPointError", "message": _failure(r)} for r in failed]
        emit("error" if failed else "ok", 4 if failed else 0, {"points": [_point_json(r) for r in results]}, errors)
        _fail_line(failed)
        return
    table = make_table(f"Sweep ({len(results)} points, grid order)",
                       [*((k, "right") for k in keys), ("final equity", "right"), ("total return", "right"),
                        ("Sharpe", "right"), ("max drawdown", "right"), ("turnover", "right"), ("stops", "right")])
    for r in results:
        cells = [f"{r.params[k]:g}" for k in keys]
        if not r.ok:
            table.add_row(*cells, "error", r.error or "", "", "", "", "")
            continue
        m = r.value.metrics or {}
        table.add_row(*cells, f"${r.value.final_equity:,.2f}", metric_text("total_return", m.get("total_return")),
                      metric_text("sharpe", m.get("sharpe")), metric_text("max_drawdown", m.get("max_drawdown")),
                      f"{r.value.mean_turnover * 100:.1f}%", str(r.value.stop_exits))
    out().print(table)
    _fail_line(failed)


def _failure(point: Any) -> str:
    params = ", ".join(f"{k}={v:g}" for k, v in point.params.items())
    return f"sweep point {point.index} ({params}): {point.error}"


def _fail_line(failed: list[Any]) -> None:
    """One stderr line for the failed points (the first named), then exit 4; nothing when all ran."""
    if not failed:
        return
    more = f" (and {len(failed) - 1} more failed point(s))" if len(failed) > 1 else ""
    sys.stderr.write(f"nanobook backtest: error: {_failure(failed[0])}{more}\n")
    raise typer.Exit(4)


def _point_json(point: Any) -> dict[str, Any]:
    value = point.value
    return {"index": point.index, "params": dict(point.params), "error": point.error,
            "final_equity": value.final_equity if value is not None else None,
            "total_costs": value.total_costs if value is not None else None,
            "mean_turnover": value.mean_turnover if value is not None else None,
            "rebalances": value.rebalances if value is not None else None,
            "stop_exits": value.stop_exits if value is not None else None,
            "metrics": dict(value.metrics) if value is not None and value.metrics is not None else None}
