"""`check_plan`: post-trade risk gates for a rebalance plan in exact Decimal arithmetic, the seed's blind spots fixed.

Every held position is valued (not only traded symbols), concentration comes from post-trade holdings, cash
accounts must be able to fund their buys, and the per-order / per-batch caps and the max-trade cap FAIL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from typing import Literal

from engine.risk._format import fmt_count, fmt_money, fmt_pct, fmt_qty, fmt_ratio
from engine.risk.limits import RiskLimits
from engine.risk.report import CheckStatus, RiskCheck, RiskReport
from engine.risk.types import ProposedOrder, as_decimal

__all__ = ["AccountKind", "Exposure", "check_plan", "post_trade_exposure"]

AccountKind = Literal["cash", "margin"]
PASS, WARN, FAIL = CheckStatus.PASS, CheckStatus.WARN, CheckStatus.FAIL
ZERO = Decimal(0)
NA = "n/a"
DISABLED = "disabled"

# Wide enough that products and sums of realistic amounts are exact; fixed so results never depend on the caller.
_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])


@dataclass(frozen=True, slots=True)
class Exposure:
    """Post-trade holdings. `quantities` covers every held or traded symbol (sorted); `marks` only priced ones.

    A symbol's mark is `prices[symbol]` when positive, else the highest limit price among its orders, else none
    (then it is listed in `unpriced` and left out of every value below).
    """

    quantities: Mapping[str, Decimal]
    marks: Mapping[str, Decimal]
    values: Mapping[str, Decimal]          # |post qty| × mark, per priced symbol
    gross: Decimal                          # Σ values
    short: Decimal                          # Σ values of post-trade shorts
    current_gross: Decimal                  # the same measure before trading (priced symbols only)
    unpriced: tuple[str, ...]               # held symbols with a non-zero post-trade quantity and no mark


def _decimal_map(name: str, mapping: Mapping[str, Decimal]) -> dict[str, Decimal]:
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{name} must be a mapping of symbol to Decimal, got {type(mapping).__name__}")
    return {str(sym): as_decimal(f"{name}[{sym!r}]", value) for sym, value in mapping.items()}


def post_trade_exposure(orders: Sequence[ProposedOrder], positions: Mapping[str, Decimal],
                        prices: Mapping[str, Decimal]) -> Exposure:
    """Holdings after every order fills in full, valued at marks (see `Exposure`). Pure; Decimal throughout."""
    held = _decimal_map("positions", positions)
    price_map = _decimal_map("prices", prices)
    with localcontext(_CONTEXT):
        post: dict[str, Decimal] = {sym: qty for sym, qty in held.items() if qty != 0}
        best_limit: dict[str, Decimal] = {}
        for order in orders:
            if not isinstance(order, ProposedOrder):
                raise TypeError(f"orders must be ProposedOrder, got {type(order).__name__}")
            post[order.symbol] = post.get(order.symbol, ZERO) + order.signed_quantity
            best_limit[order.symbol] = max(best_limit.get(order.symbol, order.limit_price), order.limit_price)
        quantities = {sym: post[sym] for sym in sorted(post)}
        marks: dict[str, Decimal] = {}
        for sym in quantities:
            price = price_map.get(sym, ZERO)
            mark = price if price > 0 else best_limit.get(sym)
            if mark is not None:
                marks[sym] = mark
        values = {sym: abs(qty) * marks[sym] for sym, qty in quantities.items() if sym in marks}
        gross = sum(values.values(), ZERO)
        short = sum((v for sym, v in values.items() if quantities[sym] < 0), ZERO)
        current_gross = sum((abs(qty) * marks[sym] for sym, qty in held.items() if sym in marks), ZERO)
    unpriced = tuple(sym for sym, qty in quantities.items() if qty != 0 and sym not in marks)
    return Exposure(quantities, marks, values, gross, short, current_gross, unpriced)


def _equity_undefined(name: str, equity: Decimal, what: str, limit: str) -> RiskCheck:
    return RiskCheck(name, FAIL, f"equity {fmt_money(equity)} <= 0: {what} is undefined", limit, NA)


def _max_position(limits: RiskLimits, exposure: Exposure, equity: Decimal) -> list[RiskCheck]:
    limit = fmt_pct(limits.max_position_pct)
    if equity <= 0:
        return [_equity_undefined("Max position", equity, "position concentration", limit)]
    cap = limits.max_position_pct * equity
    failing = [sym for sym, value in exposure.values.items() if value > cap]
    if failing:
        return [RiskCheck("Max position", FAIL,
                          f"{fmt_pct(exposure.values[sym] / equity)} ({sym}) > {limit} limit",
                          limit, fmt_pct(exposure.values[sym] / equity)) for sym in failing]
    worst_sym, worst = "none", ZERO
    for sym, value in exposure.values.items():  # sorted by symbol: ties keep the first
        if value > worst:
            worst_sym, worst = sym, value
    pct = fmt_pct(worst / equity)
    return [RiskCheck("Max position", PASS, f"{pct} ({worst_sym}) <= {limit} limit", limit, pct)]


def _leverage(limits: RiskLimits, exposure: Exposure, equity: Decimal) -> RiskCheck:
    limit = fmt_ratio(limits.max_leverage)
    if equity <= 0:
        return _equity_undefined("Leverage", equity, "leverage", limit)
    status = FAIL if exposure.gross > limits.max_leverage * equity else PASS
    ratio = fmt_ratio(exposure.gross / equity)
    cmp = "<=" if status is PASS else ">"
    return RiskCheck("Leverage", status, f"{ratio} {cmp} {limit} limit (gross {fmt_money(exposure.gross)})",
                     limit, ratio)


def _shorts(limits: RiskLimits, exposure: Exposure, equity: Decimal, account_kind: AccountKind) -> RiskCheck:
    shorts = [sym for sym, qty in exposure.quantities.items() if qty < 0]
    if account_kind == "cash" or not limits.allow_short:
        reason = "a cash account cannot hold shorts" if account_kind == "cash" else "short selling not allowed"
        if shorts:
            listed = ", ".join(f"{sym} {fmt_qty(exposure.quantities[sym])}" for sym in shorts)
            return RiskCheck("Short selling", FAIL, f"{reason}: {listed} after trading", "not allowed",
                             fmt_count(len(shorts), "short"))
        return RiskCheck("Short selling", PASS, f"no short positions after trading ({reason})", "not allowed", "none")
    limit = fmt_pct(limits.max_short_pct)
    if equity <= 0:
        return _equity_undefined("Short exposure", equity, "short exposure", limit)
    status = FAIL if exposure.short > limits.max_short_pct * equity else PASS
    pct = fmt_pct(exposure.short / equity)
    cmp = "<=" if status is PASS else ">"
    return RiskCheck("Short exposure", status, f"{pct} {cmp} {limit} limit (short {fmt_money(exposure.short)})",
                     limit, pct)


def _per_order_cap(name: str, cap: Decimal, what: str, orders: Sequence[ProposedOrder],
                   notionals: Sequence[Decimal]) -> list[RiskCheck]:
    """One FAIL row per order above `cap` (0 disables), else one PASS row for the largest order."""
    largest = max(notionals, default=ZERO)
    if cap == 0:
        return [RiskCheck(name, PASS, f"{what} check disabled (limit 0)", DISABLED, fmt_money(largest))]
    limit = fmt_money(cap)
    failing = [RiskCheck(name, FAIL, f"{o.symbol} {o.side} {fmt_qty(o.quantity)}: {fmt_money(n)} > {limit} {what}",
                         limit, fmt_money(n)) for o, n in zip(orders, notionals, strict=True) if n > cap]
    if failing:
        return failing
    detail = f"largest order {fmt_money(largest)} <= {limit} {what}" if orders else "no orders"
    return [RiskCheck(name, PASS, detail, limit, fmt_money(largest))]


def _min_trade(limits: RiskLimits, orders: Sequence[ProposedOrder], notionals: Sequence[Decimal]) -> list[RiskCheck]:
    floor = limits.min_trade_notional
    smallest = min(notionals, default=ZERO)
    if floor == 0:
        return [RiskCheck("Min trade size", PASS, "min trade check disabled (limit 0)", DISABLED, fmt_money(smallest))]
    limit = fmt_money(floor)
    small = [RiskCheck("Min trade size", WARN,
                       f"{o.symbol} {o.side} {fmt_qty(o.quantity)}: {fmt_money(n)} < {limit} min trade",
                       limit, fmt_money(n)) for o, n in zip(orders, notionals, strict=True) if n < floor]
    if small:
        return small
    detail = f"smallest order {fmt_money(smallest)} >= {limit} min trade" if orders else "no orders"
    return [RiskCheck("Min trade size", PASS, detail, limit, fmt_money(smallest))]


def _batch_value(limits: RiskLimits, total: Decimal) -> RiskCheck:
    cap = limits.max_batch_value
    if cap == 0:
        return RiskCheck("Batch value", PASS, "batch value check disabled (limit 0)", DISABLED, fmt_money(total))
    status = FAIL if total > cap else PASS
    cmp = "<=" if status is PASS else ">"
    return RiskCheck("Batch value", status, f"{fmt_money(total)} {cmp} {fmt_money(cap)} batch value",
                     fmt_money(cap), fmt_money(total))


def _buying_power(orders: Sequence[ProposedOrder], notionals: Sequence[Decimal], exposure: Exposure,
                  cash: Decimal, buying_power: Decimal, account_kind: AccountKind) -> RiskCheck:
    if account_kind == "cash":
        buys = sum((n for o, n in zip(orders, notionals, strict=True) if o.side == "buy"), ZERO)
        proceeds = sum((n for o, n in zip(orders, notionals, strict=True) if o.side == "sell"), ZERO)
        available = cash + proceeds
        status = FAIL if buys > 0 and buys > available else PASS
        cmp = "<=" if status is PASS else ">"
        return RiskCheck("Buying power", status,
                         f"buys {fmt_money(buys)} {cmp} cash {fmt_money(cash)} + sell proceeds {fmt_money(proceeds)}"
                         " (cash account, sells first)", fmt_money(available), fmt_money(buys))
    capacity = exposure.current_gross + buying_power
    growing = exposure.gross > exposure.current_gross
    status = FAIL if growing and exposure.gross > capacity else PASS
    cmp = "<=" if status is PASS else ">"
    return RiskCheck("Buying power", status,
                     f"post-trade gross {fmt_money(exposure.gross)} {cmp} current gross "
                     f"{fmt_money(exposure.current_gross)} + buying power {fmt_money(buying_power)} (margin account)",
                     fmt_money(capacity), fmt_money(exposure.gross))


def _weight_allocation(limits: RiskLimits, targets: Mapping[str, Decimal],
                       account_kind: AccountKind) -> RiskCheck:
    long_sum = sum((w for w in targets.values() if w > 0), ZERO)
    short_sum = sum((-w for w in targets.values() if w < 0), ZERO)
    detail = f"{fmt_pct(long_sum)} long, {fmt_pct(short_sum)} short, {fmt_pct(1 - long_sum)} cash"
    value = f"{fmt_pct(long_sum)} long / {fmt_pct(short_sum)} short"
    issues = [f"target {sym} {fmt_pct(w)} exceeds {fmt_pct(limits.max_position_pct)} max position"
              for sym, w in sorted(targets.items()) if abs(w) > limits.max_position_pct]
    if long_sum + short_sum > limits.max_leverage:
        issues.append(f"target gross {fmt_pct(long_sum + short_sum)} exceeds {fmt_ratio(limits.max_leverage)} "
                      "max leverage")
    if short_sum > 0 and (account_kind == "cash" or not limits.allow_short):
        issues.append("target has shorts but short selling is not allowed")
    elif short_sum > limits.max_short_pct:
        issues.append(f"target short {fmt_pct(short_sum)} exceeds {fmt_pct(limits.max_short_pct)} max short")
    if issues:
        return RiskCheck("Weight allocation", WARN, f"{detail}; " + "; ".join(issues), NA, value)
    return RiskCheck("Weight allocation", PASS, detail, NA, value)


def check_plan(limits: RiskLimits, orders: Sequence[ProposedOrder], *, equity: Decimal, cash: Decimal,
               buying_power: Decimal, account_kind: AccountKind, positions: Mapping[str, Decimal],
               prices: Mapping[str, Decimal], target_weights: Mapping[str, Decimal]) -> RiskReport:
    """Gate a plan; see `engine.risk.engine` for the check table. Raises TypeError/ValueError on malformed input."""
    if account_kind not in ("cash", "margin"):
        raise ValueError(f"account_kind must be 'cash' or 'margin', got {account_kind!r}")
    equity = as_decimal("equity", equity)
    cash = as_decimal("cash", cash)
    buying_power = as_decimal("buying_power", buying_power)
    targets = _decimal_map("target_weights", target_weights)
    orders = list(orders)
    exposure = post_trade_exposure(orders, positions, prices)

    with localcontext(_CONTEXT):
        notionals = [o.quantity * o.limit_price for o in orders]
        checks: list[RiskCheck] = []
        if exposure.unpriced:
            checks.append(RiskCheck("Valuation", FAIL,
                                    f"no price for held {', '.join(exposure.unpriced)}: exposure cannot be checked",
                                    "every holding priced", fmt_count(len(exposure.unpriced), "unpriced symbol")))
        checks += _max_position(limits, exposure, equity)
        checks.append(_leverage(limits, exposure, equity))
        checks.append(_shorts(limits, exposure, equity, account_kind))
        checks += _per_order_cap("Max trade size", limits.max_trade_notional, "max trade", orders, notionals)
        checks += _min_trade(limits, orders, notionals)
        checks += _per_order_cap("Order value", limits.max_order_value, "max order value", orders, notionals)
        checks.append(_batch_value(limits, sum(notionals, ZERO)))
        checks.append(_buying_power(orders, notionals, exposure, cash, buying_power, account_kind))
        checks.append(RiskCheck("Order count", PASS, fmt_count(len(orders), "order"), NA, str(len(orders))))
        checks.append(_weight_allocation(limits, targets, account_kind))
    return RiskReport(tuple(checks))
