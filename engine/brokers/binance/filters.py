"""Binance exchangeInfo filters as our instrument model, and order sizing that never breaks them.

Pure functions over `Decimal`: no I/O, no SDK objects. Rounding is toward zero (to the lot step and price tick), so a
sized order never exceeds its target; an order under the minimum notional is skipped with a reason, never bumped up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from engine.brokers.base import Instrument

__all__ = [
    "SizedOrder",
    "SymbolRules",
    "equity_in_quote",
    "parse_symbol",
    "round_price",
    "round_quantity",
    "size_order",
    "target_quantities",
]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """One spot symbol's trading rules from exchangeInfo (zero means "no such limit")."""

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    tradable: bool

    def instrument(self) -> Instrument:
        """Our broker-neutral instrument (prices in the quote asset)."""
        return Instrument(symbol=self.symbol, tick_size=self.tick_size, lot_size=self.step_size,
                          min_quantity=self.min_qty, min_notional=self.min_notional, currency=self.quote_asset,
                          tradable=self.tradable)


def _dec(raw: Any, what: str) -> Decimal:
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ValueError(f"{what}: {raw!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what}: {raw!r} must be a finite non-negative number")
    return value


def parse_symbol(entry: Mapping[str, Any]) -> SymbolRules:
    """Turn one `symbols[]` entry of exchangeInfo into `SymbolRules`.

    Reads PRICE_FILTER, LOT_SIZE and NOTIONAL, falling back to the legacy MIN_NOTIONAL when NOTIONAL is absent.
    A symbol without PRICE_FILTER or LOT_SIZE (or with a zero tick/step) is refused with ValueError: sizing needs both.
    """
    symbol = str(entry["symbol"])
    filters = {str(f.get("filterType")): f for f in entry.get("filters", [])}
    price = filters.get("PRICE_FILTER")
    lot = filters.get("LOT_SIZE")
    if price is None or lot is None:
        raise ValueError(f"{symbol}: exchangeInfo lacks PRICE_FILTER or LOT_SIZE")
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    tick = _dec(price.get("tickSize", "0"), f"{symbol} tickSize")
    step = _dec(lot.get("stepSize", "0"), f"{symbol} stepSize")
    if tick <= 0 or step <= 0:
        raise ValueError(f"{symbol}: tickSize and stepSize must be positive")
    return SymbolRules(
        symbol=symbol, base_asset=str(entry.get("baseAsset", "")), quote_asset=str(entry.get("quoteAsset", "")),
        tick_size=tick.normalize(), min_price=_dec(price.get("minPrice", "0"), f"{symbol} minPrice"),
        max_price=_dec(price.get("maxPrice", "0"), f"{symbol} maxPrice"), step_size=step.normalize(),
        min_qty=_dec(lot.get("minQty", "0"), f"{symbol} minQty").normalize(),
        max_qty=_dec(lot.get("maxQty", "0"), f"{symbol} maxQty"),
        min_notional=_dec(notional.get("minNotional", "0"), f"{symbol} minNotional").normalize(),
        tradable=entry.get("status") == "TRADING")


def _toward_zero(value: Decimal, step: Decimal) -> Decimal:
    # Decimal division then ROUND_DOWN truncates toward zero (DESIGN §3.1: `tdiv`, never floor `//` semantics).
    units = (value / step).to_integral_value(rounding=ROUND_DOWN)
    return (units * step).normalize() if units else _ZERO


def round_quantity(quantity: Decimal, rules: SymbolRules) -> Decimal:
    """`quantity` truncated toward zero to a multiple of the lot step."""
    return _toward_zero(quantity, rules.step_size)


def round_price(price: Decimal, rules: SymbolRules) -> Decimal:
    """`price` truncated toward zero to a multiple of the tick."""
    return _toward_zero(price, rules.tick_size)


@dataclass(frozen=True, slots=True)
class SizedOrder:
    """An order sized to the filters: `quantity` > 0 and `skipped` None, or quantity 0 and the reason it is skipped."""

    symbol: str
    quantity: Decimal
    price: Decimal
    skipped: str | None = None


def size_order(quantity: Decimal, price: Decimal, rules: SymbolRules) -> SizedOrder:
    """Round an unsigned target `quantity` at limit `price` to the filters, or skip it with a reason.

    The result never exceeds `quantity`, is a multiple of the step within [minQty, maxQty], has a price on the tick
    within [minPrice, maxPrice], and its notional is at least the minimum notional.
    """
    if not quantity.is_finite() or not price.is_finite() or quantity < 0 or price <= 0:
        raise ValueError(f"{rules.symbol}: quantity {quantity} and price {price} must be finite, price positive")
    px = round_price(price, rules)
    if px <= 0 or px < rules.min_price or (rules.max_price > 0 and px > rules.max_price):
        return SizedOrder(rules.symbol, _ZERO, px, f"price {price} is outside the PRICE_FILTER after rounding")
    qty = round_quantity(quantity, rules)
    if rules.max_qty > 0 and qty > rules.max_qty:
        qty = round_quantity(rules.max_qty, rules)
    if qty <= 0 or qty < rules.min_qty:
        return SizedOrder(rules.symbol, _ZERO, px, f"quantity {quantity} rounds to {qty}, below the minimum "
                                                   f"{rules.min_qty} (step {rules.step_size})")
    if qty * px < rules.min_notional:
        return SizedOrder(rules.symbol, _ZERO, px, f"notional {qty * px} is under the minimum notional "
                                                   f"{rules.min_notional}")
    return SizedOrder(rules.symbol, qty, px)


def equity_in_quote(balances: Mapping[str, Decimal], prices: Mapping[str, Decimal], quote: str = "USDT"
                    ) -> tuple[Decimal, list[str]]:
    """Σ balance × price of `asset`+`quote`, plus the quote balance itself; (equity, assets without a price).

    `prices` maps trading symbols (e.g. BTCUSDT) to a positive price in `quote`; an asset without one is left out of
    the equity and named in the second element so the caller can warn rather than silently undervalue.
    """
    equity = _ZERO
    unpriced: list[str] = []
    for asset, amount in sorted(balances.items()):
        if amount == 0:
            continue
        if asset == quote:
            equity += amount
            continue
        price = prices.get(asset + quote)
        if price is None or price <= 0:
            unpriced.append(asset)
            continue
        equity += amount * price
    return equity, unpriced


def target_quantities(weights: Mapping[str, Decimal], equity: Decimal, prices: Mapping[str, Decimal],
                      rules: Mapping[str, SymbolRules]) -> dict[str, SizedOrder]:
    """Target holdings per base asset: weight × equity / price, sized (toward zero) to each symbol's filters.

    `weights` are keyed by trading symbol; weights must be in [0, 1] and sum to at most 1 (the rest stays in quote).
    """
    total = sum(weights.values(), _ZERO)
    if any(w < 0 for w in weights.values()) or total > 1:
        raise ValueError(f"weights must be non-negative and sum to at most 1, got {total}")
    out: dict[str, SizedOrder] = {}
    for symbol, weight in sorted(weights.items()):
        price = prices[symbol]
        out[symbol] = size_order(weight * equity / price, price, rules[symbol])
    return out
