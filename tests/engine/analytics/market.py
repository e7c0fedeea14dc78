"""Real market data for the analytics/metrics tests: ../shared/data/market/sp100_ohlcv.csv, read in place."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pytest

from tests.conftest import SHARED_DATA

CSV = SHARED_DATA / "market" / "sp100_ohlcv.csv"


@dataclass(frozen=True)
class Bars:
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    @property
    def returns(self) -> np.ndarray:
        return np.diff(self.close) / self.close[:-1]


@lru_cache(maxsize=1)
def _load() -> dict[str, Bars]:
    if not CSV.is_file():
        pytest.fail(f"market data not found at {CSV} (tests read ../shared/data beside the repo)")
    rows: dict[str, list[tuple[float, float, float, float]]] = {}
    with CSV.open(newline="") as fh:
        for rec in csv.DictReader(fh):
            rows.setdefault(rec["Ticker"], []).append(
                (float(rec["Open"]), float(rec["High"]), float(rec["Low"]), float(rec["Close"]))
            )
    out = {}
    for ticker, vals in rows.items():
        arr = np.array(vals)
        out[ticker] = Bars(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
    return out


def tickers() -> list[str]:
    return sorted(_load())


def bars(ticker: str) -> Bars:
    return _load()[ticker]


def returns_matrix(names: list[str], start: int = 0, stop: int | None = None) -> np.ndarray:
    """Daily simple returns, rows = days, columns = `names` (all tickers share the same calendar)."""
    return np.column_stack([bars(t).returns[start:stop] for t in names])
