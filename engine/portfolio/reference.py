"""`backtest_weights`: the weight-schedule backtest in the reference package's integer-cents model (perf.md §7).

Money is integer cents, shares are whole; results match `nanobook.backtest_weights` (0.19.2, signal-bar close) to the
cent. Invalid input raises BacktestError instead of the reference's silent empty result. No I/O, no clock.
"""

from __future__ import annotations

import gc
import math
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate, chain, pairwise
from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from engine.errors import BacktestError
from engine.portfolio.stops import StopBook, StopConfig, StopHit, cents_level, parse_stop_cfg

__all__ = ["GROSS_LIMIT", "MAX_SYMBOL_BYTES", "backtest_weights", "backtest_weights_arrays"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Pairs = Sequence[tuple[str, Any]] | Mapping[str, Any]

MAX_SYMBOL_BYTES = 8
# Σ|w| above this is almost certainly a units mistake (percent instead of fraction), not a strategy.
GROSS_LIMIT = 10.0
MAX_COST_BPS = 10_000
# Prices and cash above 2^53 cents would lose exactness in the float parts of the model (E·w, returns).
_MAX_CENTS = 2**53
# Below this, share deltas divide exactly in float64 and fee products (|n|·2·bps) stay inside int64.
_SMALL = 2**48
# trunc(E·w) must fit int64 for any |w| <= GROSS_LIMIT.
_MAX_EQUITY = 2**59
# Holdings valued at or beyond this may have wrapped the int64 sum.
_WRAP_GUARD = float(2**62)


def cost_cents(notional: int, bps: int) -> int:
    """Reference cost of one fill: |notional|·bps/10⁴ rounded half away from zero."""
    return (2 * abs(notional) * bps + 10_000) // 20_000


def affordable(cash: int, price: int, bps: int) -> int:
    """Largest whole quantity q >= 0 with q·price + cost(q·price) <= cash (the reference trims buys to this)."""
    return _affordable_near(cash, price, bps) if cash > 0 else 0


def _affordable_near(cash: int, price: int, bps: int) -> int:
    # q·price·(1 + bps/10⁴) <= cash is within a share of the answer; the fee's rounding decides the last share.
    q = cash * 10_000 // (price * (10_000 + bps))
    while (q + 1) * price + (2 * (q + 1) * price * bps + 10_000) // 20_000 <= cash:
        q += 1
    while q > 0 and q * price + (2 * q * price * bps + 10_000) // 20_000 > cash:
        q -= 1
    return q


# ---------------------------------------------------------------- input validation


def _check_scalars(initial_cash: Any, cost_bps: Any, periods_per_year: Any, risk_free: Any) -> tuple[int, int]:
    if isinstance(initial_cash, bool) or not isinstance(initial_cash, Integral):
        raise BacktestError(f"initial_cash must be integer cents, got {initial_cash!r}")
    if not 0 < int(initial_cash) < _MAX_CENTS:
        raise BacktestError(f"initial_cash must be positive cents below 2**53, got {initial_cash!r}")
    if isinstance(cost_bps, bool) or not isinstance(cost_bps, Integral) or not 0 <= int(cost_bps) <= MAX_COST_BPS:
        raise BacktestError(f"cost_bps must be an integer in [0, {MAX_COST_BPS}], got {cost_bps!r}")
    for name, value, positive in (("periods_per_year", periods_per_year, True), ("risk_free", risk_free, False)):
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
            raise BacktestError(f"{name} must be a finite number, got {value!r}")
        if positive and float(value) <= 0.0:
            raise BacktestError(f"{name} must be > 0, got {value!r}")
    return int(initial_cash), int(cost_bps)


def _as_rows(schedule: Sequence[Any], what: str) -> list[Sequence[Any]]:
    """Each period as a list/tuple of pairs (a mapping row becomes its items)."""
    rows: list[Sequence[Any]] = []
    for t, row in enumerate(schedule):
        if type(row) is list or type(row) is tuple:
            rows.append(row)
        elif isinstance(row, Mapping):
            rows.append(list(row.items()))
        elif isinstance(row, Sequence) and not isinstance(row, str | bytes):
            rows.append(list(row))
        else:
            raise BacktestError(f"{what} must be a list of (symbol, value) pairs, got {type(row).__name__}", t)
    return rows


def _bad_pair(rows: list[Sequence[Any]], what: str) -> BacktestError:
    for t, row in enumerate(rows):
        for item in row:
            if not isinstance(item, tuple | list) or len(item) != 2:
                return BacktestError(f"{what} must hold (symbol, value) pairs, got {item!r}", t)
    return BacktestError(f"{what} must hold (symbol, value) pairs")


@dataclass(frozen=True, slots=True)
class _Flat:
    """One schedule flattened: every pair's symbol and value, row bounds, and each row's symbol tuple."""

    symbols: list[Any]
    values: list[Any]
    offsets: IntArray  # row t is [offsets[t], offsets[t + 1])
    layouts: list[tuple[Any, ...]]  # equal consecutive rows share one tuple object

    @classmethod
    def of(cls, schedule: Sequence[Pairs], what: str) -> _Flat:
        rows = _as_rows(schedule, what)
        bounds = [0, *accumulate(map(len, rows))]
        try:
            # One flat [s0, v0, s1, v1, ...] list: its length proves every item has two elements on average; a
            # misaligned item shifts symbols into values (and vice versa), which the type checks then reject.
            items = list(chain.from_iterable(chain.from_iterable(rows)))
        except TypeError:
            raise _bad_pair(rows, what) from None
        if len(items) != 2 * bounds[-1]:
            raise _bad_pair(rows, what)
        symbols = items[0::2]
        layouts: list[tuple[Any, ...]] = []
        previous: tuple[Any, ...] = ()
        for a, b in pairwise(bounds):
            layout = tuple(symbols[a:b])
            if layout != previous:
                previous = layout
            layouts.append(previous)
        return cls(symbols, items[1::2], np.array(bounds, dtype=np.int64), layouts)

    def row_of(self, flat_index: int) -> int:
        return int(np.searchsorted(self.offsets, flat_index, side="right")) - 1

    def where(self, flat_index: int) -> tuple[int, Any]:
        """(period, symbol) of a flat index, for error messages."""
        t = self.row_of(flat_index)
        return t, self.symbols[flat_index]


def _check_symbols(symbols: tuple[Any, ...], known: set[str], what: str, t: int) -> None:
    if known.issuperset(symbols) and len(set(symbols)) == len(symbols):
        return
    for s in symbols:
        if s in known:
            continue
        if not isinstance(s, str) or not s:
            raise BacktestError(f"{what}: symbol must be a non-empty string, got {s!r}", t)
        if len(s.encode()) > MAX_SYMBOL_BYTES:
            raise BacktestError(f"{what}: symbol {s!r} exceeds {MAX_SYMBOL_BYTES} bytes; use a shorter symbol", t)
        known.add(s)
    if len(set(symbols)) != len(symbols):
        dup = sorted({s for s in symbols if symbols.count(s) > 1})
        raise BacktestError(f"{what}: duplicate symbol(s) {', '.join(dup)}", t)


def _check_layouts(flat: _Flat, known: set[str], what: str) -> None:
    previous = None
    for t, layout in enumerate(flat.layouts):
        if layout is not previous:
            _check_symbols(layout, known, what, t)
            previous = layout


class _WeightRow(NamedTuple):  # a NamedTuple: built once per period, and a frozen dataclass is 3x slower to build
    cols: IntArray  # weight-list order, zero weights on unpriced symbols dropped
    w: FloatArray
    targeted: npt.NDArray[np.bool_] | None  # None when every column is targeted (no closes possible)
    identity: bool  # cols == 0..n-1: the list is every symbol in column order (no gather/scatter needed)


class _Schedule:
    """The validated schedule on columns (symbols sorted, so column order is the reference's output order).

    `prices[t, j]` is the price of column j in period t in cents, 0 where the symbol has no price that period.
    """

    def __init__(self, weight_schedule: Sequence[Pairs], price_schedule: Sequence[Pairs]) -> None:
        known: set[str] = set()
        prices = _Flat.of(price_schedule, "price row")
        _check_layouts(prices, known, "price row")
        self.names: list[str] = sorted(known)
        self.col: dict[str, int] = {s: j for j, s in enumerate(self.names)}
        self.prices = self._price_matrix(prices)
        self.full_rows = bool((self.prices > 0).all())
        weights = _Flat.of(weight_schedule, "weight row")
        _check_layouts(weights, known, "weight row")
        self.weights = self._weight_rows(weights, prices.layouts)

    def _price_matrix(self, flat: _Flat) -> IntArray:
        prices = _price_array(flat.values) if flat.values else np.zeros(0, np.int64)
        bad = (prices <= 0) | (prices >= _MAX_CENTS)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            t, symbol = flat.where(k)
            raise BacktestError(f"price of {symbol} must be positive cents below 2**53, got {flat.values[k]!r}", t)
        matrix = np.zeros((len(flat.layouts), len(self.names)), dtype=np.int64)
        if len(set(map(id, flat.layouts))) == 1 and flat.layouts[0]:
            cols = np.array([self.col[s] for s in flat.layouts[0]], dtype=np.int64)
            matrix[:, cols] = prices.reshape(len(flat.layouts), cols.size)
        elif prices.size:
            cols = np.array([self.col[s] for s in flat.symbols], dtype=np.int64)
            matrix[np.repeat(np.arange(len(flat.layouts)), np.diff(flat.offsets)), cols] = prices
        return matrix

    def _weight_rows(self, flat: _Flat, priced: list[tuple[Any, ...]]) -> list[_WeightRow]:
        weights = _weight_values(flat)
        layouts: dict[tuple[int, int], tuple[IntArray, Any, Any, bool]] = {}
        offsets = flat.offsets.tolist()
        out = []
        for t, symbols in enumerate(flat.layouts):
            w = weights[offsets[t]:offsets[t + 1]]
            key = (id(symbols), id(priced[t]))
            layout = layouts.get(key)
            if layout is None:
                layout = layouts[key] = self._weight_layout(symbols, priced[t])
            cols, keep, targeted, identity = layout
            if keep is not None:
                if w[~keep].any():
                    names = [s for s, k, x in zip(symbols, keep, w, strict=True) if not k and x != 0.0]
                    raise BacktestError(f"weight given for symbol(s) without a price this period: {', '.join(names)}",
                                        t)
                w = w[keep]
            out.append(_WeightRow(cols, w, targeted, identity))
        return out

    def _weight_layout(self, symbols: tuple[Any, ...], priced: tuple[Any, ...]
                       ) -> tuple[IntArray, npt.NDArray[np.bool_] | None, npt.NDArray[np.bool_] | None, bool]:
        """(columns, mask of the listed symbols kept, targeted-column mask or None if all, identity layout?)."""
        priced_set = set(priced)
        keep = None
        if not priced_set.issuperset(symbols):
            keep = np.array([s in priced_set for s in symbols], dtype=bool)
            symbols = tuple(s for s, k in zip(symbols, keep, strict=True) if k)
        cols = np.array([self.col[s] for s in symbols], dtype=np.int64)
        if cols.size == len(self.names):
            return cols, keep, None, bool((cols == np.arange(cols.size)).all())
        targeted = np.zeros(len(self.names), dtype=bool)
        targeted[cols] = True
        return cols, keep, targeted, False


def _price_array(values: list[Any]) -> IntArray:
    try:
        arr = np.array(values)
    except (OverflowError, ValueError):
        arr = np.array(values, dtype=object)
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        bad = next((v for v in values if isinstance(v, bool) or not isinstance(v, Integral)), values[0])
        raise BacktestError(f"prices must be integer cents, got {bad!r}")
    return arr.astype(np.int64)


def _weight_values(flat: _Flat) -> FloatArray:
    values = flat.values
    try:
        arr = np.fromiter(values, dtype=np.float64, count=len(values))
    except (TypeError, ValueError):
        bad = next((v for v in values if isinstance(v, bool) or not isinstance(v, Real)), None)
        raise BacktestError(f"weights must be numbers, got {bad!r}") from None
    finite = np.isfinite(arr)
    if not finite.all():
        k = int(np.flatnonzero(~finite)[0])
        t, symbol = flat.where(k)
        raise BacktestError(f"weight of {symbol} is not finite ({values[k]!r})", t)
    gross_cum = np.concatenate(([0.0], np.cumsum(np.abs(arr))))
    gross = gross_cum[flat.offsets[1:]] - gross_cum[flat.offsets[:-1]]
    over = gross > GROSS_LIMIT * (1 + 1e-12)
    if over.any():
        t = int(np.flatnonzero(over)[0])
        raise BacktestError(f"gross weight Σ|w| = {gross[t]:.4g} exceeds {GROSS_LIMIT:g} (weights are fractions)", t)
    return arr


# ---------------------------------------------------------------- simulation


def _tdiv(num: IntArray, den: IntArray) -> IntArray:
    """num / den truncated toward zero in exact integer arithmetic (// floors negatives: one share too many)."""
    q = np.abs(num) // den
    return np.where(num < 0, -q, q)


def _fees(notional: IntArray, bps: int, small: bool) -> IntArray:
    """Per-fill cost rhaz(|n|·bps/10⁴); `small` (|n| < 2**48) allows the one-step form without int64 overflow."""
    fee = np.abs(notional)
    if small:
        fee *= 2 * bps
        fee += 10_000
        fee //= 20_000
        return fee
    # |n| = a·10⁴ + b: a·bps is exact and only b·bps < 10⁸ needs rounding.
    whole, rest = np.divmod(fee, 10_000)
    out: IntArray = whole * bps + (rest * (2 * bps) + 10_000) // 20_000
    return out


class _Book:
    """Cash and whole-share quantities per column; fills follow the reference (cost per fill, buys trimmed to cash)."""

    def __init__(self, n: int, cash: int, bps: int) -> None:
        self.qty: IntArray = np.zeros(n, dtype=np.int64)
        self.cash = cash
        self.bps = bps

    def equity(self, prices: IntArray, period: int) -> int:
        """Cash plus holdings at `prices`; BacktestError if that leaves the exact int64 range."""
        exact = self.cash + int(self.qty @ prices)
        # The int64 dot wraps silently past 2**63; the float one is within rounding of the true value, so a value
        # the integers cannot hold shows up here instead of as a negative equity.
        approx = float(self.cash) + float(self.qty @ prices.astype(np.float64))
        if abs(approx) >= _WRAP_GUARD:
            raise BacktestError(f"equity of about {approx:.3g} cents is beyond the exact range of the integer model",
                                period)
        return exact

    def rebalance(self, equity: int, weights: _WeightRow, prices: IntArray, period: int) -> int:
        """Close untargeted holdings (symbol order), then trade the weight list in order, at `prices`.

        Returns the equity after trading (trades at the marking price only cost their fees).
        """
        qty = self.qty
        if abs(equity) >= _MAX_EQUITY:
            raise BacktestError(f"equity {equity} cents is beyond the exact range of the integer model", period)
        if weights.identity:  # the hot path: every symbol listed in column order, so no gathers or closes
            num = (float(equity) * weights.w).astype(np.int64)  # astype truncates toward zero, like the reference
            num -= qty * prices
            small = int(np.abs(num).max()) < _SMALL
            dq = (num / prices).astype(np.int64) if small else _tdiv(num, prices)
            return equity - self._fill_in_order(None, dq, prices, small)
        cols = weights.cols
        px, held = prices[cols], qty[cols]
        if weights.w.size:
            target = (float(equity) * weights.w).astype(np.int64)
            num = target - held * px
            # Integers below 2**48 divide exactly in float64 (the quotient then truncates to the integer one) and
            # keep every fee product inside int64.
            small = int(np.abs(num).max()) < _SMALL
            dq = (num / px).astype(np.int64) if small else _tdiv(num, px)
        else:
            dq, small = np.zeros(0, dtype=np.int64), True
        if weights.targeted is not None:
            closes = np.flatnonzero((qty != 0) & ~weights.targeted)
            if closes.size:
                cols = np.concatenate((closes, weights.cols))
                dq = np.concatenate((-qty[closes], dq))
                px = np.concatenate((prices[closes], px))
                small = small and int(np.abs(dq * px).max()) < _SMALL
        return equity - self._fill_in_order(cols, dq, px, small) if dq.size else equity

    def _fill_in_order(self, cols: IntArray | None, dq: IntArray, px: IntArray, small: bool) -> int:
        """Book fills in order (zero quantities are harmless no-ops); `cols` None means every column in order.

        Returns the fees paid.
        """
        spend = dq * px
        fee = _fees(spend, self.bps, small) if self.bps else None
        if fee is not None:
            spend += fee
        spent = spend.cumsum()  # cash spent after each fill if nothing is trimmed
        # Only a buy can overdraw the cash first (sells add cash); _trim skips the sells behind it.
        overdrawn = (spent > self.cash).nonzero()[0]
        extra, fees_saved = self._trim(overdrawn, dq, px, spend, spent) if overdrawn.size else (0, 0)
        if cols is None:
            self.qty += dq
        else:
            self.qty[cols] += dq
        self.cash += extra - int(spent[-1])
        return int(fee.sum()) - fees_saved if fee is not None else 0

    def _trim(self, overdrawn: IntArray, dq: IntArray, px: IntArray, spend: IntArray, spent: IntArray
              ) -> tuple[int, int]:
        """Trim overdrawing buys in order (in place in `dq`, which the caller owns).

        Returns (cash not spent, fees not paid). With `extra` cash freed by earlier trims, fill j overdraws iff
        spent[j] − extra > cash, and the first such fill is a buy (a sell only adds cash). Every fill before the last
        trim is covered (a trimmed buy leaves cash >= 0), so the next to trim is the first whose running maximum of
        `spent` exceeds cash + extra: a bisection on that non-decreasing running maximum.
        """
        bps, cash0, extra, fees_saved = self.bps, self.cash, 0, 0
        spent_over = spent[overdrawn]
        peak = np.maximum.accumulate(spent_over).tolist()
        cols, spent_list = overdrawn.tolist(), spent_over.tolist()
        p = 0  # every candidate overdraws the untrimmed cash, so the first one is trimmed
        while p < len(cols):
            j = cols[p]
            price, planned = int(px[j]), int(spend[j])
            cash = cash0 + extra - (spent_list[p] - planned)  # cash on hand before fill j
            if cash < price:  # the common case once the cash has run out: not even one share
                q = fee = 0
            else:
                q = _affordable_near(cash, price, bps)
                fee = (2 * q * price * bps + 10_000) // 20_000
            fees_saved += (planned - int(dq[j]) * price) - fee
            dq[j] = q
            extra += planned - (q * price + fee)
            p = bisect_right(peak, cash0 + extra, p + 1)
        return extra, fees_saved

    def close(self, col: int, price: int) -> None:
        """Close one position at `price` (a stop exit); a cover is trimmed to the cash like any buy."""
        q = -int(self.qty[col])
        if q > 0:
            q = min(q, affordable(self.cash, price, self.bps))
        if q:
            self.cash -= q * price + cost_cents(q * price, self.bps)
            self.qty[col] += q


def _run_stops(stops: StopBook, book: _Book, schedule: _Schedule, prices: IntArray, t: int) -> list[dict[str, Any]]:
    names = schedule.names
    cols = np.flatnonzero(book.qty).tolist()
    sides = [(names[j], 1 if book.qty[j] > 0 else -1) for j in cols]
    hits: list[StopHit] = stops.step(sides, {names[j]: float(prices[j]) for j in cols})
    for hit in hits:
        book.close(schedule.col[hit.symbol], int(hit.exit_price))
    return [{"period_index": t, "symbol": hit.symbol, "trigger_price": int(hit.trigger_price),
             "exit_price": int(hit.exit_price), "reason": hit.reason} for hit in hits]


def _pairs_by_row(mask: npt.NDArray[np.bool_], values: FloatArray, names: list[str]) -> list[list[tuple[str, float]]]:
    """Per row, the (symbol, value) pairs of the columns set in `mask`, in column (= symbol) order."""
    n_rows, n_cols = mask.shape
    if mask.all():  # every symbol in every row: no gathers, fixed-stride rows
        pairs = list(zip(names * n_rows, values.ravel().tolist(), strict=True))
        return [pairs[a:a + n_cols] for a in range(0, n_rows * n_cols, n_cols)]
    rows, cols = np.nonzero(mask)
    pairs = list(zip(np.array(names, dtype=object)[cols].tolist(), values[rows, cols].tolist(), strict=True))
    bounds = np.searchsorted(rows, np.arange(n_rows + 1)).tolist()
    return [pairs[a:b] for a, b in pairwise(bounds)]


def _outputs(schedule: _Schedule, qty: IntArray, curve: IntArray) -> dict[str, Any]:
    prices = schedule.prices
    prev = np.zeros_like(prices)
    prev[1:] = prices[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        sym_ret = np.where(prev > 0, (prices - prev) / prev, np.nan)
        equity = curve[1:].astype(np.float64)[:, None]
        weights = (qty * prices) / equity
        before = curve[:-1]
        returns = np.where(before > 0, (curve[1:] - before) / before, 0.0)
    held = (qty != 0) & (curve[1:] != 0)[:, None]
    return {"returns": returns.tolist(), "equity_curve": curve.tolist(),
            "holdings": _pairs_by_row(held, weights, schedule.names),
            "symbol_returns": _pairs_by_row(prices > 0, sym_ret, schedule.names)}


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic GC: we allocate ~10⁵–10⁶ acyclic tuples, and its generation scans only cost time (~25 %)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _empty(cash: int) -> dict[str, Any]:
    return {"returns": [], "equity_curve": [cash], "final_cash": cash, "metrics": None, "skipped_rebalances": [],
            "holdings": [], "symbol_returns": [], "stop_events": []}


def backtest_weights(
    weight_schedule: Sequence[Pairs],
    price_schedule: Sequence[Pairs],
    initial_cash: int,
    cost_bps: int,
    periods_per_year: float = 252.0,
    risk_free: float = 0.0,
    stop_cfg: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Backtest a weight schedule at each period's own prices, in integer cents and whole shares.

    Per period: mark equity E with the old holdings; close held symbols absent from the weight list, then trade the
    list in order to trunc(E·w) (Δ shares truncated toward zero, cost_bps per fill rounded half away from zero, buys
    trimmed to the cash on hand); evaluate stops; record the return. Returns the reference's dict: `returns`,
    `equity_curve` (cents, n+1), `final_cash`, `metrics` (None when empty), `skipped_rebalances` (always []),
    `holdings`, `symbol_returns`, `stop_events`.

    Deliberate differences from the reference: bad input raises BacktestError (lengths, symbols, prices that are not
    positive integer cents, non-finite weights, Σ|w| > GROSS_LIMIT, a weight or holding without a price, cost_bps
    outside [0, 10000], stop_cfg); untargeted holdings close, and stop exits run, in symbol order where the
    reference uses hash-map order (this only matters when short covers compete for too little cash).
    """
    cash0, bps = _check_scalars(initial_cash, cost_bps, periods_per_year, risk_free)
    stops_cfg: StopConfig | None = parse_stop_cfg(stop_cfg)
    if len(weight_schedule) != len(price_schedule):
        raise BacktestError(
            f"weight_schedule has {len(weight_schedule)} periods but price_schedule has {len(price_schedule)}")
    if not price_schedule:
        return _empty(cash0)
    with _no_cyclic_gc():
        schedule = _Schedule(weight_schedule, price_schedule)
        result = _simulate(schedule, cash0, bps, stops_cfg)
    from engine.portfolio.metrics import compute_metrics

    result["metrics"] = compute_metrics(result["returns"], float(periods_per_year), float(risk_free))
    return result


def _simulate(schedule: _Schedule, cash0: int, bps: int, stops_cfg: StopConfig | None) -> dict[str, Any]:
    names, prices = schedule.names, schedule.prices
    book = _Book(len(names), cash0, bps)
    stops = StopBook(stops_cfg, cents_level) if stops_cfg is not None else None
    qty = np.empty_like(prices)
    curve = np.empty(len(prices) + 1, dtype=np.int64)
    curve[0] = cash0
    events: list[dict[str, Any]] = []
    for t, weights in enumerate(schedule.weights):
        row = prices[t]
        if not schedule.full_rows and ((book.qty != 0) & (row == 0)).any():
            missing = ", ".join(names[j] for j in np.flatnonzero((book.qty != 0) & (row == 0)))
            raise BacktestError(f"held symbol(s) {missing} have no price; give a price to value or close them", t)
        equity = book.equity(row, t)
        if equity > 0:
            equity = book.rebalance(equity, weights, row, t)
        if stops is not None:
            events.extend(_run_stops(stops, book, schedule, row, t))
            equity = book.equity(row, t)
        curve[t + 1] = equity
        qty[t] = book.qty
    out = _outputs(schedule, qty, curve)
    return {"returns": out["returns"], "equity_curve": out["equity_curve"], "final_cash": book.cash, "metrics": None,
            "skipped_rebalances": [], "holdings": out["holdings"], "symbol_returns": out["symbol_returns"],
            "stop_events": events}


# ---------------------------------------------------------------- array entry point


def backtest_weights_arrays(
    symbols: Sequence[str],
    weights: npt.ArrayLike,
    prices_cents: npt.ArrayLike,
    initial_cash: int,
    cost_bps: int,
    periods_per_year: float = 252.0,
    risk_free: float = 0.0,
    stop_cfg: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`backtest_weights` for data already in arrays: same rules, same result dict, without building pair lists.

    `weights[t, j]` is symbol j's weight in period t; NaN means "not in the weight list" (held positions in it are
    closed first), a number means listed, and listed symbols trade in column order. `prices_cents[t, j]` is an
    integer price in cents, 0 where the symbol has no price that period. Equal to `backtest_weights` called with
    each row's listed (symbol, weight) pairs in column order and its priced (symbol, cents) pairs.
    """
    cash0, bps = _check_scalars(initial_cash, cost_bps, periods_per_year, risk_free)
    stops_cfg: StopConfig | None = parse_stop_cfg(stop_cfg)
    schedule = _schedule_from_arrays(symbols, weights, prices_cents)
    if not len(schedule.prices):
        return _empty(cash0)
    with _no_cyclic_gc():
        result = _simulate(schedule, cash0, bps, stops_cfg)
    from engine.portfolio.metrics import compute_metrics

    result["metrics"] = compute_metrics(result["returns"], float(periods_per_year), float(risk_free))
    return result


def _array_inputs(symbols: Sequence[str], weights: npt.ArrayLike, prices_cents: npt.ArrayLike
                  ) -> tuple[list[str], FloatArray, IntArray]:
    """Validated (sorted names, weights, prices) with columns permuted into symbol order."""
    names = list(symbols)
    _check_symbols(tuple(names), set(), "symbols", 0)
    w = np.asarray(weights, dtype=np.float64)
    raw = np.asarray(prices_cents)
    if w.ndim != 2 or raw.shape != w.shape or w.shape[1] != len(names):
        raise BacktestError(f"weights {w.shape} and prices_cents {raw.shape} must both be [periods, "
                            f"{len(names)} symbols]")
    if raw.dtype.kind not in "iu":
        raise BacktestError(f"prices_cents must be integer cents, got dtype {raw.dtype}")
    p = raw.astype(np.int64)
    bad = (p < 0) | (p >= _MAX_CENTS)
    if bad.any():
        t, j = np.argwhere(bad)[0]
        raise BacktestError(f"price of {names[j]} must be positive cents below 2**53 (0 = no price), got {p[t, j]}",
                            int(t))
    if np.isinf(w).any():
        t, j = np.argwhere(np.isinf(w))[0]
        raise BacktestError(f"weight of {names[j]} is not finite ({w[t, j]!r})", int(t))
    gross = np.nansum(np.abs(w), axis=1)
    over = gross > GROSS_LIMIT * (1 + 1e-12)
    if over.any():
        t = int(np.flatnonzero(over)[0])
        raise BacktestError(f"gross weight Σ|w| = {gross[t]:.4g} exceeds {GROSS_LIMIT:g} (weights are fractions)", t)
    order = np.argsort(np.array(names, dtype=object), kind="stable")
    return [names[j] for j in order], w[:, order], p[:, order]


def _rows_from_arrays(w: FloatArray, p: IntArray, names: list[str]) -> list[_WeightRow]:
    n = len(names)
    listed = ~np.isnan(w)
    unpriced = listed & (p == 0)
    wrong = unpriced & (w != 0)
    if wrong.any():
        t = int(np.flatnonzero(wrong.any(axis=1))[0])
        missing = ", ".join(names[j] for j in np.flatnonzero(wrong[t]))
        raise BacktestError(f"weight given for symbol(s) without a price this period: {missing}", t)
    listed &= ~unpriced  # a zero weight on an unpriced symbol is dropped, as in the list form
    layouts: dict[bytes, tuple[IntArray, npt.NDArray[np.bool_] | None, bool]] = {}
    rows: list[_WeightRow] = []
    for t in range(len(w)):
        mask = listed[t]
        key = mask.tobytes()
        layout = layouts.get(key)
        if layout is None:
            cols = np.flatnonzero(mask)
            layout = layouts[key] = (cols, None, True) if cols.size == n else (cols, mask.copy(), False)
        cols, targeted, identity = layout
        rows.append(_WeightRow(cols, w[t] if identity else w[t, cols], targeted, identity))
    return rows


def _schedule_from_arrays(symbols: Sequence[str], weights: npt.ArrayLike, prices_cents: npt.ArrayLike) -> _Schedule:
    """The `_Schedule` the list form would build, made straight from arrays (no pair lists to read)."""
    names, w, p = _array_inputs(symbols, weights, prices_cents)
    schedule = _Schedule.__new__(_Schedule)
    schedule.names = names
    schedule.col = {s: j for j, s in enumerate(names)}
    schedule.prices = p
    schedule.full_rows = bool((p > 0).all())
    schedule.weights = _rows_from_arrays(w, p, names)
    return schedule
