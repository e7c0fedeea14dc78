"""Reading weight and price schedules from files (wide CSV, long CSV, JSON) and aligning them for a backtest.

Owns parsing and validation with `file:line` errors only; it runs no backtest and renders nothing.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from configs.errors import InputError

Kind = Literal["weights", "prices"]
_DATE_KEYS = ("date", "timestamp", "time", "day")
_SYMBOL_KEYS = ("symbol", "ticker")
_PRICE_KEYS = ("close", "adj_close", "price")
_WEIGHT_KEYS = ("weight",)
MAX_SYMBOL_BYTES = 8  # the reference engine's Symbol limit; longer names would not survive a parity run


class ScheduleError(InputError):
    """A weight or price schedule file is unreadable or invalid (exit 4); the message names file and line."""


@dataclass(frozen=True)
class Schedule:
    """Dated rows of per-symbol values; NaN where a row does not mention a symbol."""

    path: Path
    kind: Kind
    dates: tuple[str, ...]
    symbols: tuple[str, ...]
    values: npt.NDArray[np.float64]   # [len(dates), len(symbols)]


@dataclass(frozen=True)
class AlignedSchedules:
    """Weights and prices on the price file's dates: `weights` rows are NaN where no rebalance is scheduled."""

    dates: tuple[str, ...]
    symbols: tuple[str, ...]
    weights: npt.NDArray[np.float64]  # [T, N]; a whole-NaN row = hold; otherwise missing symbols are 0
    prices: npt.NDArray[np.float64]   # [T, N]; NaN = no price that day
    rebalance_rows: npt.NDArray[np.intp]


def read_schedule(path: Path, kind: Kind) -> Schedule:
    """Read a schedule: JSON (`[{"date", "weights"|"prices": {sym: value}}]` or `{date: {sym: value}}`) or CSV.

    CSV is either wide (`date,AAPL,MSFT,…`) or long (`date,symbol,weight|close`, e.g. an OHLCV export with a
    Ticker column). Dates must strictly increase; values must be finite numbers (prices > 0).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ScheduleError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleError(f"{path}: cannot read ({exc})") from None
    if not text.strip():
        raise ScheduleError(f"{path}: the file is empty")
    rows = _json_rows(path, text, kind) if text.lstrip()[:1] in "[{" else _csv_rows(path, text, kind)
    return _build(path, kind, rows)


def align(weights: Schedule, prices: Schedule) -> AlignedSchedules:
    """Put weights on the price dates; every weight date and symbol must have a price column/row."""
    price_row = {d: i for i, d in enumerate(prices.dates)}
    missing_dates = [d for d in weights.dates if d not in price_row]
    if missing_dates:
        raise ScheduleError(f"{weights.path}: date {missing_dates[0]} has no row in {prices.path}"
                            + (f" (and {len(missing_dates) - 1} more)" if len(missing_dates) > 1 else ""))
    price_col = {s: j for j, s in enumerate(prices.symbols)}
    unknown = [s for s in weights.symbols if s not in price_col]
    if unknown:
        raise ScheduleError(f"{weights.path}: symbol {unknown[0]} has no prices in {prices.path}")
    cols = np.array([price_col[s] for s in weights.symbols], dtype=np.intp)
    rows = np.array([price_row[d] for d in weights.dates], dtype=np.intp)
    aligned = np.full(prices.values.shape, np.nan)
    aligned[rows] = 0.0
    aligned[np.ix_(rows, cols)] = np.nan_to_num(weights.values, nan=0.0)
    _check_tradeable(weights, prices, rows, cols)
    return AlignedSchedules(prices.dates, prices.symbols, aligned, prices.values, rows)


def _check_tradeable(weights: Schedule, prices: Schedule, rows: npt.NDArray[np.intp],
                     cols: npt.NDArray[np.intp]) -> None:
    """A non-zero weight needs a price on its rebalance date."""
    wanted = np.nan_to_num(weights.values, nan=0.0) != 0
    priced = np.isfinite(prices.values[np.ix_(rows, cols)])
    bad = np.argwhere(wanted & ~priced)
    if bad.size:
        i, j = bad[0]
        raise ScheduleError(f"{weights.path}: {weights.symbols[j]} has weight on {weights.dates[i]} "
                            f"but no price in {prices.path} that day")


# ------------------------------------------------------------------------------------------------ parsing


Row = tuple[int, str, dict[str, float]]   # (line, date, {symbol: value})


def _json_rows(path: Path, text: str, kind: Kind) -> list[Row]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScheduleError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise ScheduleError(f"{path}: not valid JSON (nested too deeply)") from None
    items: Iterable[tuple[Any, Any]]
    if isinstance(doc, dict):
        items = doc.items()
    elif isinstance(doc, list):
        items = (_record(path, i, item, kind) for i, item in enumerate(doc))
    else:
        raise ScheduleError(f"{path}: expected a list of {{\"date\", \"{kind}\"}} records or a {{date: {{…}}}} map")
    rows: list[Row] = []
    for n, (date, values) in enumerate(items, start=1):
        if not isinstance(values, Mapping):
            raise ScheduleError(f"{path}: entry {n} ({date}): {kind} must be an object of symbol → number")
        rows.append((n, str(date), {str(k): _number(path, n, str(k), v, kind) for k, v in values.items()}))
    return rows


def _record(path: Path, index: int, item: Any, kind: Kind) -> tuple[Any, Any]:
    if not isinstance(item, Mapping) or "date" not in item or kind not in item:
        raise ScheduleError(f"{path}: entry {index + 1}: expected {{\"date\": …, \"{kind}\": {{symbol: number}}}}")
    return item["date"], item[kind]


def _csv_rows(path: Path, text: str, kind: Kind) -> list[Row]:
    reader = csv.reader(text.splitlines())
    header = [h.strip() for h in next(reader)]
    lowered = [h.lower() for h in header]
    date_col = next((i for i, h in enumerate(lowered) if h in _DATE_KEYS), None)
    if date_col is None:
        raise ScheduleError(f"{path}:1: no date column (expected one of {', '.join(_DATE_KEYS)})")
    symbol_col = next((i for i, h in enumerate(lowered) if h in _SYMBOL_KEYS), None)
    if symbol_col is not None:
        value_keys = _PRICE_KEYS if kind == "prices" else _WEIGHT_KEYS
        value_col = next((i for i, h in enumerate(lowered) if h in value_keys), None)
        if value_col is None:
            raise ScheduleError(f"{path}:1: a long CSV needs a {' or '.join(value_keys)} column")
        return _long_rows(path, reader, date_col, symbol_col, value_col, kind)
    return _wide_rows(path, reader, header, date_col, kind)


def _wide_rows(path: Path, reader: Iterator[list[str]], header: list[str], date_col: int, kind: Kind) -> list[Row]:
    symbols = [(i, h) for i, h in enumerate(header) if i != date_col]
    if not symbols:
        raise ScheduleError(f"{path}:1: no symbol columns after the date column")
    names = [h for _, h in symbols]
    if "" in names:
        raise ScheduleError(f"{path}:1: column {names.index('') + 2} has no symbol name")
    repeated = sorted({h for h in names if names.count(h) > 1})
    if repeated:  # the later column would silently replace the earlier one's values
        raise ScheduleError(f"{path}:1: symbol column(s) {', '.join(repeated)} appear more than once")
    rows: list[Row] = []
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise ScheduleError(f"{path}:{line}: {len(cells)} cells, the header has {len(header)}")
        values = {sym: _number(path, line, sym, cells[i], kind) for i, sym in symbols if cells[i].strip()}
        rows.append((line, cells[date_col].strip(), values))
    return rows


def _long_rows(path: Path, reader: Iterator[list[str]], date_col: int, symbol_col: int, value_col: int,
               kind: Kind) -> list[Row]:
    by_date: dict[str, Row] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if max(date_col, symbol_col, value_col) >= len(cells):
            raise ScheduleError(f"{path}:{line}: too few cells")
        date, symbol = cells[date_col].strip(), cells[symbol_col].strip()
        row = by_date.setdefault(date, (line, date, {}))
        if symbol in row[2]:
            raise ScheduleError(f"{path}:{line}: {symbol} appears twice on {date}")
        row[2][symbol] = _number(path, line, symbol, cells[value_col], kind)
    # Long files are usually grouped by symbol, so order their dates here instead of demanding sorted lines.
    return sorted(by_date.values(), key=lambda r: r[1])


def _number(path: Path, line: int, symbol: str, raw: Any, kind: Kind) -> float:
    if not symbol or len(symbol.encode()) > MAX_SYMBOL_BYTES:
        raise ScheduleError(f"{path}:{line}: symbol {symbol!r} must be 1–{MAX_SYMBOL_BYTES} bytes")
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        raise ScheduleError(f"{path}:{line}: {symbol} = {raw!r} is not a number") from None
    if isinstance(raw, bool) or not math.isfinite(value):
        raise ScheduleError(f"{path}:{line}: {symbol} = {raw!r} must be a finite number")
    if kind == "prices" and value <= 0:
        raise ScheduleError(f"{path}:{line}: {symbol} price {raw!r} must be positive")
    return value


def _build(path: Path, kind: Kind, rows: list[Row]) -> Schedule:
    if not rows:
        raise ScheduleError(f"{path}: no {kind} rows")
    for line, date, _ in rows:
        try:  # dates order as text, so only ISO dates (2024-01-02, optionally with a time) order correctly
            datetime.fromisoformat(date)
        except ValueError:
            raise ScheduleError(f"{path}:{line}: {date!r} is not an ISO date (YYYY-MM-DD)") from None
    for (_, prev, _), (line, date, _) in itertools.pairwise(rows):
        if date <= prev:
            raise ScheduleError(f"{path}:{line}: date {date} does not come after {prev} (dates must increase)")
    symbols = sorted({s for _, _, values in rows for s in values})
    if not symbols:
        raise ScheduleError(f"{path}: no symbols with values")
    col = {s: j for j, s in enumerate(symbols)}
    values = np.full((len(rows), len(symbols)), np.nan)
    for i, (_, _, row) in enumerate(rows):
        for s, v in row.items():
            values[i, col[s]] = v
    return Schedule(path, kind, tuple(r[1] for r in rows), tuple(symbols), values)
