"""`RiskEngine`: the seed-compatible `check_order` / `check_batch`, and `check_plan`, the gate our rebalancer uses.

`CHECKS` below is the documented table of `check_plan` row names (stable), statuses and rules, in emission order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from engine.risk._format import rust_display
from engine.risk.limits import RiskLimits
from engine.risk.plan import AccountKind, check_plan
from engine.risk.reference import (
    ReferenceConfig,
    as_bool,
    as_f64,
    as_i64,
    as_str,
    as_u64,
    parse_side,
    parse_symbol,
    reference_check_batch,
    reference_check_order,
    rows,
)
from engine.risk.report import RiskCheck, RiskReport
from engine.risk.types import ProposedOrder

__all__ = ["CHECKS", "RiskEngine"]

# (name, statuses it can take, rule). Every row carries display `limit` and `value` strings. "mark" is
# prices[symbol], else the highest limit price among the symbol's orders; "post" means every order fills in full.
# Limits are inclusive (exactly at the limit passes). With equity <= 0 each check that divides by equity
# (Max position, Leverage, Short exposure) FAILs with "equity ... <= 0: ... is undefined".
CHECKS: tuple[tuple[str, str, str], ...] = (
    ("Valuation", "FAIL (emitted only when failing)", "a held symbol with a non-zero post quantity has no price"),
    ("Max position", "FAIL per symbol | one PASS", "|post qty| x mark > max_position_pct x equity"),
    ("Leverage", "FAIL | PASS", "sum |post qty| x mark over every held or traded symbol > max_leverage x equity"),
    ("Short selling", "FAIL | PASS", "allow_short=False or cash account: any post-trade short quantity"),
    ("Short exposure", "FAIL | PASS", "otherwise: sum of short values > max_short_pct x equity"),
    ("Max trade size", "FAIL per order | one PASS", "qty x limit > max_trade_notional (0 disables)"),
    ("Min trade size", "WARN per order | one PASS", "qty x limit < min_trade_notional (0 disables)"),
    ("Order value", "FAIL per order | one PASS", "qty x limit > max_order_value (0 disables)"),
    ("Batch value", "FAIL | PASS", "sum of qty x limit > max_batch_value (0 disables)"),
    ("Buying power", "FAIL | PASS", "cash account: buys > cash + proceeds of the batch's sells (sells run first); "
                                    "margin: post gross grows beyond current gross + buying power"),
    ("Order count", "PASS", "number of orders (informational)"),
    ("Weight allocation", "PASS | WARN", "long/short/cash share of the targets; WARN when a target exceeds a limit"),
)


def _reference_dicts(checks: list[RiskCheck]) -> list[dict[str, str]]:
    return [{"name": c.name, "status": str(c.status), "detail": c.detail} for c in checks]


class RiskEngine:
    """Pre-trade risk engine. The constructor takes the seed's RiskConfig keywords and defaults (engine-spec §7.1).

    Invalid values raise ValueError (`invalid RiskConfig: <field> must be ..., got <v>`), wrong types TypeError.
    `limits` holds the same values as Decimal `RiskLimits` for `check_plan`; `from_limits` builds an engine from
    `RiskLimits` directly (min_trade_notional included).
    """

    __slots__ = ("_config", "_limits")

    def __init__(self, max_position_pct: float = 0.25, max_leverage: float = 1.5, max_drawdown_pct: float = 0.20,
                 allow_short: bool = True, max_short_pct: float = 0.30, max_trade_usd: float = 100_000.0,
                 max_order_value_cents: int = 10_000_000, max_batch_value_cents: int = 100_000_000) -> None:
        config = ReferenceConfig(
            max_position_pct=as_f64(max_position_pct),
            max_leverage=as_f64(max_leverage),
            max_drawdown_pct=as_f64(max_drawdown_pct),
            allow_short=as_bool(allow_short),
            max_short_pct=as_f64(max_short_pct),
            max_trade_usd=as_f64(max_trade_usd),
            max_order_value_cents=as_i64(max_order_value_cents),
            max_batch_value_cents=as_i64(max_batch_value_cents),
        )
        config.validate()
        self._config = config
        self._limits = RiskLimits(
            max_position_pct=Decimal(repr(config.max_position_pct)),
            max_leverage=Decimal(repr(config.max_leverage)),
            max_short_pct=Decimal(repr(config.max_short_pct)),
            allow_short=config.allow_short,
            min_trade_notional=Decimal(repr(config.min_trade_usd)),
            max_trade_notional=Decimal(repr(config.max_trade_usd)),
            max_order_value=Decimal(config.max_order_value_cents).scaleb(-2),
            max_batch_value=Decimal(config.max_batch_value_cents).scaleb(-2),
            max_drawdown_pct=Decimal(repr(config.max_drawdown_pct)),
        )

    @classmethod
    def from_limits(cls, limits: RiskLimits) -> RiskEngine:
        """An engine whose `check_plan` enforces exactly `limits` (the reference methods see float/cent roundings)."""
        if not isinstance(limits, RiskLimits):
            raise TypeError(f"limits must be RiskLimits, got {type(limits).__name__}")
        engine = cls(max_position_pct=float(limits.max_position_pct), max_leverage=float(limits.max_leverage),
                     max_drawdown_pct=float(limits.max_drawdown_pct), allow_short=limits.allow_short,
                     max_short_pct=float(limits.max_short_pct), max_trade_usd=float(limits.max_trade_notional),
                     max_order_value_cents=int(limits.max_order_value.scaleb(2)),
                     max_batch_value_cents=int(limits.max_batch_value.scaleb(2)))
        engine._limits = limits
        return engine

    @property
    def limits(self) -> RiskLimits:
        """The Decimal limits `check_plan` enforces."""
        return self._limits

    # ------------------------------------------------------------------ reference-compatible surface ----------

    def check_order(self, symbol: str, side: str, quantity: int, price_cents: int, equity_cents: int,
                    positions: Sequence[tuple[str, int]] | Mapping[str, int]) -> list[dict[str, str]]:
        """Seed `check_order`: `{name, status, detail}` rows (Max order value, Max position, Order size, Short selling).

        `side` is buy/b/sell/s (ASCII case-insensitive); `positions` is (symbol, qty) pairs (first duplicate wins).
        """
        raw_symbol, raw_side = as_str(symbol), as_str(side)
        qty = as_u64(quantity)
        price = as_i64(price_cents)
        equity = as_i64(equity_cents)
        raw_pos = [(as_str(s), as_i64(q)) for s, q in rows(positions, 2, "positions")]
        sym = parse_symbol(raw_symbol)
        sign = parse_side(raw_side)
        pos = [(parse_symbol(s), q) for s, q in raw_pos]
        return _reference_dicts(reference_check_order(self._config, sym, sign, qty, price, equity, pos))

    def check_batch(self, orders: Sequence[tuple[str, str, int, int]], equity_cents: int,
                    positions: Sequence[tuple[str, int]] | Mapping[str, int],
                    target_weights: Sequence[tuple[str, float]] | Mapping[str, float]) -> list[dict[str, str]]:
        """Seed `check_batch` (with its blind spots, see engine-spec §7.4 and §13 B11): rows `{name, status, detail}`.

        `orders` is (symbol, side, quantity, price_cents) rows; `positions` (symbol, qty) pairs, last duplicate wins;
        `target_weights` (symbol, weight) pairs.
        """
        raw_orders = [(as_str(s), as_str(d), as_u64(q), as_i64(p)) for s, d, q, p in
                      rows(orders, 4, "orders")]
        equity = as_i64(equity_cents)
        raw_pos = [(as_str(s), as_i64(q)) for s, q in rows(positions, 2, "positions")]
        raw_targets = [(as_str(s), as_f64(w)) for s, w in rows(target_weights, 2, "target_weights")]
        parsed_orders = [(parse_symbol(s), parse_side(d), q, p) for s, d, q, p in raw_orders]
        pos = [(parse_symbol(s), q) for s, q in raw_pos]
        targets = [(parse_symbol(s), w) for s, w in raw_targets]
        return _reference_dicts(reference_check_batch(self._config, parsed_orders, equity, pos, targets))

    # ------------------------------------------------------------------ rebalancer surface ----------------------

    def check_plan(self, orders: Sequence[ProposedOrder], *, equity: Decimal, cash: Decimal, buying_power: Decimal,
                   account_kind: AccountKind, positions: Mapping[str, Decimal], prices: Mapping[str, Decimal],
                   target_weights: Mapping[str, Decimal]) -> RiskReport:
        """Post-trade gate for a rebalance plan (rows as in `CHECKS`). Pure and deterministic; Decimal throughout."""
        return check_plan(self._limits, orders, equity=equity, cash=cash, buying_power=buying_power,
                          account_kind=account_kind, positions=positions, prices=prices,
                          target_weights=target_weights)

    def __repr__(self) -> str:
        c = self._config
        return (f"RiskEngine(max_position_pct={rust_display(c.max_position_pct)}, "
                f"max_leverage={rust_display(c.max_leverage)}, allow_short={'true' if c.allow_short else 'false'})")

