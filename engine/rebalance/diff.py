"""Pure diff: a snapshot (account, positions, quotes, instruments) + target weights → planned orders.

Rules: untargeted holdings are closed; flips split into close + open; quantities round toward zero to the lot
(never overshooting a target); limits are quantized to the tick on the passive side of the offset; orders
below the minimum notional or inside the tolerance band are skipped with a reason; sells come before buys.
No I/O, no broker calls, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Literal

from engine.brokers.base import Instrument, Position, Quote, Side

Action = Literal["BUY", "SELL", "SELL SHORT", "BUY TO COVER"]
_ZERO = Decimal(0)
_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class DiffSettings:
    """The knobs of the diff (all from `[execution]`/`[risk]` of the config, constraints applied)."""

    limit_offset_bps: int = 10
    min_trade_notional: Decimal = Decimal(100)
    cash_buffer_pct: Decimal = Decimal("0.01")
    tolerance_bps: int = 0


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    """One order of a plan. `leg` distinguishes the close and open halves of a flip."""

    client_order_id: str
    symbol: str
    side: Side
    action: Action
    quantity: Decimal
    limit_price: Decimal
    reference_price: Decimal
    current_quantity: Decimal
    target_quantity: Decimal
    current_weight: Decimal
    target_weight: Decimal
    reason: str
    leg: str = "single"

    @property
    def notional(self) -> Decimal:
        """quantity × limit price."""
        return self.quantity * self.limit_price

    @property
    def signed_quantity(self) -> Decimal:
        """+quantity for a buy, −quantity for a sell."""
        return self.quantity if self.side == "buy" else -self.quantity


@dataclass(frozen=True, slots=True)
class SkippedSymbol:
    """A symbol the diff did not trade, and why (shown in the plan, never silent)."""

    symbol: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class DiffResult:
    """Orders in execution order (sells first) plus every skipped symbol."""

    orders: tuple[PlannedOrder, ...]
    skipped: tuple[SkippedSymbol, ...]
    equity: Decimal
    long_scale: Decimal


def client_order_id(scope: str, account_id: str, symbol: str, side: Side, quantity: Decimal, leg: str) -> str:
    """Deterministic id: the same plan inputs always give the same id, so the venue can refuse a duplicate."""
    material = "\x00".join((scope, account_id, symbol.upper(), side, format(quantity.normalize(), "f"), leg))
    return "nb" + hashlib.sha256(material.encode()).hexdigest()[:30]


def _quantize(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=rounding) * step


def limit_price(mid: Decimal, side: Side, offset_bps: int, tick: Decimal) -> Decimal:
    """mid ± offset, rounded to the tick toward the mid (a buy never pays more than mid + offset)."""
    offset = mid * Decimal(offset_bps) / _BPS
    if side == "buy":
        return max(_quantize(mid + offset, tick, ROUND_FLOOR), tick)
    return max(_quantize(mid - offset, tick, ROUND_CEILING), tick)


def _legs(current: Decimal, target: Decimal) -> list[tuple[Side, Action, Decimal, str, str]]:
    """Orders taking `current` to `target`: (side, action, quantity, reason, leg). Flips are two legs."""
    delta = target - current
    if delta == 0:
        return []
    if current > 0 > target:
        return [("sell", "SELL", current, "flip: close long", "close"),
                ("sell", "SELL SHORT", -target, "flip: open short", "open")]
    if current < 0 < target:
        return [("buy", "BUY TO COVER", -current, "flip: close short", "close"),
                ("buy", "BUY", target, "flip: open long", "open")]
    if delta > 0:
        if current < 0:
            return [("buy", "BUY TO COVER", delta, "decrease short" if target < 0 else "close short", "single")]
        return [("buy", "BUY", delta, "open" if current == 0 else "increase", "single")]
    if current > 0:
        return [("sell", "SELL", -delta, "decrease" if target > 0 else "close long", "single")]
    return [("sell", "SELL SHORT", -delta, "open short" if current == 0 else "increase short", "single")]


def compute_diff(
    *,
    equity: Decimal,
    positions: Mapping[str, Position],
    quotes: Mapping[str, Quote],
    instruments: Mapping[str, Instrument],
    targets: Mapping[str, Decimal],
    settings: DiffSettings,
    scope: str,
    account_id: str,
    stale: frozenset[str] = frozenset(),
) -> DiffResult:
    """Plan the orders that move `positions` to `targets` (weights of `equity`). Pure and deterministic."""
    long_sum = sum((w for w in targets.values() if w > 0), _ZERO)
    headroom = Decimal(1) - settings.cash_buffer_pct
    # Keep the cash buffer: scale long targets down only when they would eat into it.
    long_scale = min(Decimal(1), headroom / long_sum) if long_sum > 0 else Decimal(1)
    universe = sorted(set(targets) | {s for s, p in positions.items() if p.quantity != 0})
    orders: list[PlannedOrder] = []
    skipped: list[SkippedSymbol] = []
    for symbol in universe:
        weight = targets.get(symbol, _ZERO)
        position = positions.get(symbol)
        priced = _priced(symbol, weight, quotes, instruments, stale)
        if isinstance(priced, SkippedSymbol):
            skipped.append(priced)
            continue
        mid, inst = priced
        ctx = _SymbolContext(symbol, weight, weight * long_scale if weight > 0 else weight,
                             position.quantity if position else _ZERO, mid, inst)
        new_orders, new_skips = _symbol_orders(ctx, equity, settings, scope, account_id)
        orders.extend(new_orders)
        skipped.extend(new_skips)
    # Sells first: a cash account cannot fund buys with proceeds it has not received yet.
    orders.sort(key=lambda o: (o.side != "sell", o.leg != "close", o.symbol))
    return DiffResult(tuple(orders), tuple(skipped), equity, long_scale)


@dataclass(frozen=True, slots=True)
class _SymbolContext:
    symbol: str
    weight: Decimal        # as in the target file
    effective: Decimal     # after the cash-buffer scaling
    current: Decimal
    mid: Decimal
    inst: Instrument


def _priced(symbol: str, weight: Decimal, quotes: Mapping[str, Quote], instruments: Mapping[str, Instrument],
            stale: frozenset[str]) -> tuple[Decimal, Instrument] | SkippedSymbol:
    quote = quotes.get(symbol)
    mid = quote.mid if quote else None
    if symbol in stale or mid is None or mid <= 0:
        reason = "stale_quote" if symbol in stale else "no_price"
        verb = "close" if weight == 0 else "trade"
        return SkippedSymbol(symbol, reason, f"cannot {verb} {symbol}: {reason.replace('_', ' ')}")
    inst = instruments.get(symbol) or Instrument(symbol)
    if not inst.tradable:
        return SkippedSymbol(symbol, "not_tradable", f"{symbol} is not tradable at the venue")
    return mid, inst


def _symbol_orders(ctx: _SymbolContext, equity: Decimal, settings: DiffSettings, scope: str,
                   account_id: str) -> tuple[list[PlannedOrder], list[SkippedSymbol]]:
    """Orders for one priced symbol, each leg rounded to the lot and checked against the venue minimums."""
    symbol, inst, mid = ctx.symbol, ctx.inst, ctx.mid
    target_value = equity * ctx.effective if equity > 0 else _ZERO
    target_qty = _quantize(target_value / mid, inst.lot_size, ROUND_DOWN)
    if target_qty != 0 and abs(target_qty) < inst.min_quantity:
        target_qty = _ZERO  # a holding below the venue minimum cannot exist
    current_w = ctx.current * mid / equity if equity > 0 else _ZERO
    if ctx.weight != 0 and abs(current_w - ctx.effective) * _BPS <= settings.tolerance_bps:
        drift = (current_w - ctx.effective) * _BPS
        detail = f"drift {drift:+.1f} bp within ±{settings.tolerance_bps} bp"
        return [], [SkippedSymbol(symbol, "within_tolerance", detail)]
    if ctx.weight != 0 and target_qty == 0 and ctx.current == 0:
        return [], [SkippedSymbol(symbol, "rounds_to_zero",
                                  f"{symbol}: {ctx.effective:.2%} of equity is less than one lot at {mid:.2f}")]
    orders: list[PlannedOrder] = []
    skipped: list[SkippedSymbol] = []
    for side, action, raw_qty, why, leg in _legs(ctx.current, target_qty):
        closing = leg == "close" or ctx.weight == 0
        qty = _quantize(raw_qty, inst.lot_size, ROUND_DOWN)
        limit = limit_price(mid, side, settings.limit_offset_bps, inst.tick_size)
        problem = _leg_problem(qty, limit, inst, settings, closing)
        if problem is not None:
            skipped.append(SkippedSymbol(symbol, problem[0], f"{action} {qty} {symbol} {problem[1]}"))
            continue
        orders.append(PlannedOrder(
            client_order_id=client_order_id(scope, account_id, symbol, side, qty, leg),
            symbol=symbol, side=side, action=action, quantity=qty, limit_price=limit, reference_price=mid,
            current_quantity=ctx.current, target_quantity=target_qty, current_weight=current_w,
            target_weight=ctx.weight, reason="close: not in target" if ctx.weight == 0 else why, leg=leg,
        ))
    return orders, skipped


def _leg_problem(qty: Decimal, limit: Decimal, inst: Instrument, settings: DiffSettings,
                 closing: bool) -> tuple[str, str] | None:
    """Why a leg cannot be sent: venue minimums always apply; our minimum notional not to closes."""
    if qty <= 0:
        return "below_lot", f"is less than one lot of {inst.lot_size} (dust)"
    if qty < inst.min_quantity:
        return "below_min_quantity", f"is below the venue minimum quantity {inst.min_quantity}"
    notional = qty * limit  # what the venue checks: quantity at the limit price, not at the mid
    if notional < inst.min_notional:
        return "below_min_notional", f"≈ {notional:.2f} < minimum {inst.min_notional:.2f} (venue)"
    if not closing and notional < settings.min_trade_notional:
        return "below_min_notional", f"≈ {notional:.2f} < minimum {settings.min_trade_notional:.2f}"
    return None
