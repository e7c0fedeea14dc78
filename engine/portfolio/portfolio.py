"""`Portfolio`: cash, positions and the return series of a simulated account, rebalanced to target weights.

Integer cents and whole shares (engine-spec §5.3–5.6, reference 0.19.2 rules: cost per fill, buys trimmed to the cash
on hand). Fills come from a price map (`rebalance_simple`) or from `engine.lob` books (`rebalance_lob`). JSON I/O only
in `save_json`/`load_json`, when called.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import BacktestError
from engine.portfolio.cost import CostModel, is_int
from engine.portfolio.position import Position, tdiv

if TYPE_CHECKING:
    from engine.lob.multi import MultiExchange
    from engine.portfolio.metrics import Metrics

__all__ = ["Portfolio", "PriceInput", "TargetInput"]

PriceInput = Mapping[str, int] | Sequence[tuple[str, int]]
TargetInput = Mapping[str, float] | Sequence[tuple[str, float]]
MAX_SYMBOL_BYTES = 8
_MICRO = 1_000_000  # the reference's JSON stores quantities in micro-shares


def _symbol(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value.encode()) > MAX_SYMBOL_BYTES:
        raise BacktestError(f"symbol must be a non-empty string of at most {MAX_SYMBOL_BYTES} bytes, got {value!r}")
    return value


def _pairs(values: Mapping[str, Any] | Sequence[tuple[str, Any]], what: str) -> list[tuple[str, Any]]:
    items = list(values.items()) if isinstance(values, Mapping) else list(values)
    out: list[tuple[str, Any]] = []
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise BacktestError(f"{what} must be (symbol, value) pairs, got {item!r}")
        out.append((_symbol(item[0]), item[1]))
    if len({s for s, _ in out}) != len(out):
        raise BacktestError(f"{what} list a symbol twice")
    return out


def price_map(prices: PriceInput) -> dict[str, int]:
    """Validated {symbol: positive integer cents}."""
    out: dict[str, int] = {}
    for symbol, price in _pairs(prices, "prices"):
        if not is_int(price) or price <= 0:
            raise BacktestError(f"price of {symbol} must be positive integer cents, got {price!r}")
        out[symbol] = int(price)
    return out


def target_list(targets: TargetInput) -> list[tuple[str, float]]:
    """Validated (symbol, finite weight) pairs in the given order."""
    out = []
    for symbol, weight in _pairs(targets, "targets"):
        if isinstance(weight, bool) or not isinstance(weight, Real) or not math.isfinite(float(weight)):
            raise BacktestError(f"weight of {symbol} must be a finite number, got {weight!r}")
        out.append((symbol, float(weight)))
    return out


class Portfolio:
    """A simulated account: no margin model, shorts allowed; a buy never spends more cash than is on hand."""

    def __init__(self, initial_cash: int, cost_model: CostModel | None = None) -> None:
        if not is_int(initial_cash) or initial_cash < 0:
            raise BacktestError(f"initial_cash must be integer cents >= 0, got {initial_cash!r}")
        self.cash = int(initial_cash)
        self.cost_model = cost_model if cost_model is not None else CostModel()
        self._positions: dict[str, Position] = {}
        self.returns: list[float] = []
        self.equity_curve: list[int] = [self.cash]
        self.prev_equity = self.cash

    # ------------------------------------------------------------------ queries

    def positions(self) -> dict[str, Position]:
        """Positions by symbol (flat ones included until reloaded), sorted by symbol."""
        return {s: self._positions[s] for s in sorted(self._positions)}

    def position(self, symbol: str) -> Position | None:
        return self._positions.get(symbol)

    def _open(self) -> list[Position]:
        return [self._positions[s] for s in sorted(self._positions) if self._positions[s].quantity]

    def total_equity(self, prices: PriceInput) -> int:
        """cash + Σ qty·price. A held symbol without a price is an error (the reference silently valued it at 0)."""
        return self._equity(price_map(prices))

    def _equity(self, px: Mapping[str, int]) -> int:
        missing = [p.symbol for p in self._open() if p.symbol not in px]
        if missing:
            raise BacktestError(f"held symbol(s) {', '.join(missing)} have no price; cannot value the portfolio")
        return self.cash + sum(p.quantity * px[p.symbol] for p in self._open())

    def current_weights(self, prices: PriceInput) -> list[tuple[str, float]]:
        """(symbol, market value / equity) of open positions, sorted by symbol; [] when equity is 0."""
        px = price_map(prices)
        equity = self._equity(px)
        if equity == 0:
            return []
        return [(p.symbol, p.quantity * px[p.symbol] / equity) for p in self._open()]

    def snapshot(self, prices: PriceInput) -> dict[str, Any]:
        px = price_map(prices)
        equity = self._equity(px)
        return {"cash": self.cash, "equity": equity, "num_positions": len(self._open()),
                "total_realized_pnl": sum(p.realized_pnl for p in self._positions.values()),
                "weights": {p.symbol: p.quantity * px[p.symbol] / equity for p in self._open()} if equity else {}}

    def compute_metrics(self, periods_per_year: float = 252.0, risk_free: float = 0.0) -> Metrics | None:
        """Metrics of the recorded returns; None before the first recorded return."""
        if not self.returns:
            return None
        from engine.portfolio.metrics import compute_metrics

        return compute_metrics(self.returns, periods_per_year, risk_free)

    # ------------------------------------------------------------------ trading

    def fill(self, symbol: str, quantity: int, price: int, *, trim: bool = True) -> int:
        """Execute `quantity` (+buy / −sell) at `price` moved by the modelled slippage; returns the filled quantity.

        A buy is trimmed to the largest whole quantity the cash pays for, commission included.
        """
        fill_price = self.cost_model.fill_price(price, quantity)
        if quantity > 0 and trim:
            quantity = min(quantity, self.cost_model.affordable(self.cash, fill_price))
        if quantity:
            self._book(symbol, quantity, fill_price)
        return quantity

    def _book(self, symbol: str, quantity: int, price: int) -> None:
        notional = quantity * price
        self._positions.setdefault(symbol, Position(symbol)).apply_fill(quantity, price)
        self.cash -= notional + self.cost_model.compute_cost(notional)

    def close_position_at(self, symbol: str, price: int) -> bool:
        """Close `symbol` at `price` (a cover is trimmed to cash like any buy); True if anything traded."""
        pos = self._positions.get(symbol)
        if pos is None or pos.quantity == 0 or price <= 0:
            return False
        return self.fill(symbol, -pos.quantity, price) != 0

    def rebalance_simple(self, targets: TargetInput, prices: PriceInput) -> None:
        """Trade to trunc(E·w) of the pre-trade equity E at `prices`; a no-op when E <= 0.

        Untargeted holdings close first (in symbol order), then the targets trade in the given order; Δ shares are
        truncated toward zero.
        """
        wanted, px = target_list(targets), price_map(prices)
        self._check_targets_priced(wanted, px)
        equity = self._equity(px)
        if equity <= 0:
            return
        listed = {s for s, _ in wanted}
        for pos in self._open():
            if pos.symbol not in listed:
                self.fill(pos.symbol, -pos.quantity, px[pos.symbol])
        for symbol, weight in wanted:
            price = px.get(symbol)
            if price is None:
                continue
            delta = self._delta(symbol, weight, equity, price)
            if delta:
                self.fill(symbol, delta, price)

    def _delta(self, symbol: str, weight: float, equity: int, price: int) -> int:
        pos = self._positions.get(symbol)
        held = pos.quantity * price if pos else 0
        return tdiv(math.trunc(equity * weight) - held, price)

    @staticmethod
    def _check_targets_priced(wanted: list[tuple[str, float]], px: Mapping[str, int]) -> None:
        unpriced = [s for s, w in wanted if s not in px and w != 0.0]
        if unpriced:
            raise BacktestError(f"target symbol(s) {', '.join(unpriced)} have no price")

    def rebalance_lob(self, targets: TargetInput, exchange: MultiExchange) -> None:
        """Rebalance by market orders on `exchange` books, valued at each book's mid (one side if only one).

        Every trade is booked as a fill at its trade price with commission (the book is the slippage, so the
        modelled slippage is not added); buys are trimmed to what the cash pays for along the ask side.
        """
        wanted = target_list(targets)
        px = _mids(exchange)
        self._check_targets_priced(wanted, px)
        equity = self._equity(px)
        if equity <= 0:
            return
        listed = {s for s, _ in wanted}
        for pos in self._open():
            if pos.symbol not in listed and pos.symbol in px:
                self._market(exchange, pos.symbol, -pos.quantity)
        for symbol, weight in wanted:
            if symbol in px:
                delta = self._delta(symbol, weight, equity, px[symbol])
                if delta:
                    self._market(exchange, symbol, delta)

    def _market(self, exchange: MultiExchange, symbol: str, quantity: int) -> None:
        book = exchange.get(symbol)
        if book is None:
            return
        if quantity > 0:
            quantity = min(quantity, self._affordable_depth(book.full_book().asks))
            if quantity == 0:
                return
        result = book.submit_market("buy" if quantity > 0 else "sell", abs(quantity))
        sign = 1 if quantity > 0 else -1
        for trade in result.trades:
            self._book(symbol, sign * trade.quantity, trade.price)

    def _affordable_depth(self, asks: Sequence[Any]) -> int:
        cash, total = self.cash, 0
        for level in asks:
            q = min(level.quantity, self.cost_model.affordable(cash, level.price))
            total += q
            cash -= q * level.price + (self.cost_model.compute_cost(q * level.price) if q else 0)
            if q < level.quantity:
                break
        return total

    # ------------------------------------------------------------------ returns

    def record_return(self, prices: PriceInput) -> None:
        """Append (E − prev)/prev (0.0 while prev <= 0) and E to the equity curve."""
        equity = self._equity(price_map(prices))
        self.returns.append((equity - self.prev_equity) / self.prev_equity if self.prev_equity > 0 else 0.0)
        self.equity_curve.append(equity)
        self.prev_equity = equity

    # ------------------------------------------------------------------ persistence

    def copy(self) -> Portfolio:
        return copy.deepcopy(self)

    def to_dict(self) -> dict[str, Any]:
        return {"cash": self.cash, "positions": [[s, p.to_dict()] for s, p in self.positions().items()],
                "cost_model": self.cost_model.to_dict(), "returns": list(self.returns),
                "equity_curve": list(self.equity_curve), "prev_equity": self.prev_equity}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Portfolio:
        """Inverse of `to_dict`; also reads the reference's JSON (micro-share quantities, whole shares only)."""
        try:
            out = cls(0, CostModel.from_dict(data["cost_model"]))
            out.cash = int(data["cash"])
            micro = "quantity_step" in data
            for symbol, raw in data["positions"]:
                pos = Position.from_dict({**raw, "symbol": symbol})
                if micro:
                    if pos.quantity % _MICRO:
                        raise BacktestError(f"position {symbol} holds a fractional share; only whole shares load")
                    pos.quantity //= _MICRO
                out._positions[_symbol(symbol)] = pos
            out.returns = [float(r) for r in data["returns"]]
            out.equity_curve = [int(e) for e in data["equity_curve"]]
            out.prev_equity = int(data["prev_equity"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BacktestError(f"not a saved portfolio: {exc}") from exc
        return out

    def save_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load_json(cls, path: str | Path) -> Portfolio:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise BacktestError(f"cannot read portfolio {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise BacktestError(f"{path}: not a saved portfolio")
        return cls.from_dict(data)

    def __repr__(self) -> str:
        return f"Portfolio(cash={self.cash}, positions={len(self._open())}, returns={len(self.returns)})"


def _mids(exchange: MultiExchange) -> dict[str, int]:
    out: dict[str, int] = {}
    for symbol, bid, ask in exchange.best_prices():
        if bid is not None and ask is not None:
            out[str(symbol)] = bid + tdiv(ask - bid, 2)
        elif bid is not None or ask is not None:
            out[str(symbol)] = bid if bid is not None else ask  # type: ignore[assignment]
    return {s: p for s, p in out.items() if p > 0}
