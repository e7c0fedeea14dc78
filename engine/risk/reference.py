"""The seed's risk checks for `RiskEngine.check_order` / `check_batch`: integer cents, float ratios, seed strings.

Names, statuses, details and blind spots (B11, target-weight "Max position") follow engine-spec §7; only i64
overflow differs (the seed wraps or saturates, this port is exact). Real gating uses `RiskEngine.check_plan`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.risk._format import rust_display, rust_fixed
from engine.risk.report import CheckStatus, RiskCheck

__all__ = [
    "ReferenceConfig",
    "reference_check_batch",
    "reference_check_order",
]

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
U64_MAX = 2**64 - 1
MAX_SYMBOL_BYTES = 8

PASS, WARN, FAIL = CheckStatus.PASS, CheckStatus.WARN, CheckStatus.FAIL


# ---------------------------------------------------------------- argument conversion (PyO3-like) ----------


def as_f64(value: object) -> float:
    """An f64 argument: any real number (ints, bools, objects with __float__), never a str."""
    if isinstance(value, str | bytes):
        raise TypeError(f"must be real number, not {type(value).__name__}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"must be real number, not {type(value).__name__}") from None


def as_i64(value: object) -> int:
    """An i64 argument: an int (via __index__) within the i64 range, else TypeError / OverflowError."""
    number = operator.index(value)  # type: ignore[arg-type]
    if not I64_MIN <= number <= I64_MAX:
        raise OverflowError("Python int too large to convert to C long")
    return number


def as_u64(value: object) -> int:
    """A u64 argument: a non-negative int below 2**64."""
    number = operator.index(value)  # type: ignore[arg-type]
    if number < 0:
        raise OverflowError("can't convert negative int to unsigned")
    if number > U64_MAX:
        raise OverflowError("int too big to convert")
    return number


def as_bool(value: object) -> bool:
    """A bool argument: exactly True or False."""
    if not isinstance(value, bool):
        raise TypeError(f"'{type(value).__name__}' object is not an instance of 'bool'")
    return value


def as_str(value: object) -> str:
    """A str argument."""
    if not isinstance(value, str):
        raise TypeError(f"'{type(value).__name__}' object is not an instance of 'str'")
    return value


def parse_symbol(value: object) -> str:
    """A symbol of at most 8 UTF-8 bytes (the empty symbol is accepted, as in the reference)."""
    text = as_str(value)
    if len(text.encode("utf-8")) > MAX_SYMBOL_BYTES:
        raise ValueError(f"Symbol '{text}' exceeds 8 bytes. Use a shorter symbol.")
    return text


def parse_side(value: object) -> int:
    """`buy`/`b` → +1, `sell`/`s` → −1, ASCII case-insensitive; anything else is a ValueError."""
    text = as_str(value)
    lowered = text.encode("utf-8").lower().decode("utf-8")
    if lowered in ("buy", "b"):
        return 1
    if lowered in ("sell", "s"):
        return -1
    raise ValueError(f"Invalid side '{text}'. Use 'buy' or 'sell'.")


def rows(value: object, width: int, what: str) -> list[Sequence[object]]:
    """A sequence of `width`-tuples (lists accepted too); a Mapping counts as its (key, value) items."""
    if isinstance(value, Mapping) and width == 2:
        return [tuple(item) for item in value.items()]
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"{what} must be a sequence of {width}-tuples, got {type(value).__name__}")
    out: list[Sequence[object]] = []
    for row in value:
        if isinstance(row, str | bytes) or not isinstance(row, Sequence) or len(row) != width:
            raise TypeError(f"each entry of {what} must be a {width}-tuple, got {row!r}")
        out.append(row)
    return out


def trunc_i64(value: float) -> int:
    """Rust `x as i64`: truncate toward zero, saturate at the i64 range, NaN → 0."""
    if math.isnan(value):
        return 0
    if value >= 2.0**63:
        return I64_MAX
    if value <= -(2.0**63):
        return I64_MIN
    return int(value)


# ---------------------------------------------------------------- config --------------------------------------


@dataclass(frozen=True, slots=True)
class ReferenceConfig:
    """The seed's RiskConfig (min_trade_usd fixed at its default 100.0: the reference Python cannot set it)."""

    max_position_pct: float = 0.25
    max_leverage: float = 1.5
    max_drawdown_pct: float = 0.20
    allow_short: bool = True
    max_short_pct: float = 0.30
    max_trade_usd: float = 100_000.0
    max_order_value_cents: int = 10_000_000
    max_batch_value_cents: int = 100_000_000
    min_trade_usd: float = 100.0

    def validate(self) -> None:
        """Raise ValueError(`invalid RiskConfig: ...`) for the first invalid field, in the seed's order."""
        problem = self._problem()
        if problem is not None:
            raise ValueError(f"invalid RiskConfig: {problem}")

    def _problem(self) -> str | None:
        def finite(x: float) -> bool:
            return math.isfinite(x)

        if not (finite(self.max_position_pct) and 0.0 < self.max_position_pct <= 1.0):
            return f"max_position_pct must be in (0, 1], got {rust_display(self.max_position_pct)}"
        if not (finite(self.max_leverage) and self.max_leverage >= 1.0):
            return f"max_leverage must be >= 1.0 and finite, got {rust_display(self.max_leverage)}"
        if not (finite(self.max_drawdown_pct) and 0.0 <= self.max_drawdown_pct <= 1.0):
            return f"max_drawdown_pct must be in [0, 1], got {rust_display(self.max_drawdown_pct)}"
        if not (finite(self.max_short_pct) and self.max_short_pct >= 0.0):
            return f"max_short_pct must be >= 0 and finite, got {rust_display(self.max_short_pct)}"
        if not (finite(self.min_trade_usd) and self.min_trade_usd >= 0.0):
            return f"min_trade_usd must be >= 0 and finite, got {rust_display(self.min_trade_usd)}"
        if self.max_order_value_cents < 0:
            return f"max_order_value_cents must be >= 0, got {self.max_order_value_cents}"
        if self.max_batch_value_cents < 0:
            return f"max_batch_value_cents must be >= 0, got {self.max_batch_value_cents}"
        if not (finite(self.max_trade_usd) and self.max_trade_usd >= 0.0):
            return f"max_trade_usd must be >= 0 and finite, got {rust_display(self.max_trade_usd)}"
        return None


# ---------------------------------------------------------------- checks --------------------------------------


def _cmp(status: CheckStatus) -> str:
    return "<=" if status is PASS else ">"


def _ratio_or_inf(numerator: int, equity: int) -> float:
    return float(numerator) / float(equity) if equity > 0 else math.inf


def reference_check_order(cfg: ReferenceConfig, symbol: str, sign: int, quantity: int, price_cents: int,
                          equity_cents: int, positions: Sequence[tuple[str, int]]) -> list[RiskCheck]:
    """Seed `check_order` (§7.3): Max order value, Max position, Order size, and Short selling when it fails."""
    notional = quantity * price_cents
    checks: list[RiskCheck] = []

    max_order = cfg.max_order_value_cents
    status = FAIL if max_order > 0 and notional > max_order else PASS
    checks.append(RiskCheck("Max order value", status,
                            f"${rust_fixed(float(notional) / 100.0, 0)} {_cmp(status)} "
                            f"${rust_fixed(float(max_order) / 100.0, 0)} max_order_value_cents"))

    current = next((qty for sym, qty in positions if sym == symbol), 0)  # first match wins
    post_qty = current + sign * quantity
    post_value = abs(post_qty) * price_cents
    post_pct = float(post_value) / float(equity_cents) if equity_cents > 0 else 0.0
    status = FAIL if post_pct > cfg.max_position_pct else PASS
    checks.append(RiskCheck("Max position", status,
                            f"{rust_fixed(post_pct * 100.0, 1)}% ({symbol}) {_cmp(status)} "
                            f"{rust_fixed(cfg.max_position_pct * 100.0, 1)}% limit"))

    max_cents = trunc_i64(cfg.max_trade_usd * 100.0)
    status = WARN if notional > max_cents else PASS
    checks.append(RiskCheck("Order size", status,
                            f"${rust_fixed(float(notional) / 100.0, 2)} {_cmp(status)} "
                            f"${rust_fixed(cfg.max_trade_usd, 2)} max"))

    if sign < 0 and post_qty < 0 and not cfg.allow_short:
        checks.append(RiskCheck("Short selling", FAIL, "short selling not allowed"))
    return checks


def reference_check_batch(cfg: ReferenceConfig, orders: Sequence[tuple[str, int, int, int]], equity_cents: int,
                          positions: Sequence[tuple[str, int]],
                          target_weights: Sequence[tuple[str, float]]) -> list[RiskCheck]:
    """Seed `check_batch` (§7.4), in its emission order; `orders` rows are (symbol, ±1, qty, price_cents)."""
    checks: list[RiskCheck] = []

    # 1. Max position: the largest |target weight| (first wins ties; "?" when none exceeds 0).
    worst, worst_sym = 0.0, "?"
    for sym, weight in target_weights:
        if abs(weight) > worst:
            worst, worst_sym = abs(weight), sym
    status = FAIL if worst > cfg.max_position_pct else PASS
    checks.append(RiskCheck("Max position", status,
                            f"{rust_fixed(worst * 100.0, 1)}% ({worst_sym}) {_cmp(status)} "
                            f"{rust_fixed(cfg.max_position_pct * 100.0, 1)}% limit"))

    # 2. Leverage: post quantities priced at the last order price per symbol; unordered symbols price 0 (B11).
    post_qty: dict[str, int] = dict(positions)  # last duplicate wins
    price_map: dict[str, int] = {}
    for sym, sign, qty, price in orders:
        post_qty[sym] = post_qty.get(sym, 0) + sign * qty
        price_map[sym] = price

    def exposure(shorts_only: bool) -> int:
        return sum(abs(qty) * abs(price_map.get(sym, 0))
                   for sym, qty in post_qty.items() if not shorts_only or qty < 0)

    leverage = _ratio_or_inf(exposure(False), equity_cents)
    status = FAIL if leverage > cfg.max_leverage else PASS
    checks.append(RiskCheck("Leverage", status,
                            f"{rust_fixed(leverage, 2)}x {_cmp(status)} {rust_fixed(cfg.max_leverage, 2)}x limit"))

    # 3. Short selling (any sell order and any post-trade short) or Short exposure.
    has_shorts = any(sign < 0 for _, sign, _, _ in orders) and any(q < 0 for q in post_qty.values())
    if has_shorts and not cfg.allow_short:
        checks.append(RiskCheck("Short selling", FAIL, "short selling not allowed"))
    else:
        short_pct = _ratio_or_inf(exposure(True), equity_cents)
        status = FAIL if short_pct > cfg.max_short_pct else PASS
        checks.append(RiskCheck("Short exposure", status,
                                f"{rust_fixed(short_pct * 100.0, 1)}% {_cmp(status)} "
                                f"{rust_fixed(cfg.max_short_pct * 100.0, 1)}% limit"))

    # 4. Max order value (one FAIL per offending order) and 5. Max batch value.
    max_order, max_batch = cfg.max_order_value_cents, cfg.max_batch_value_cents
    notionals = [qty * abs(price) for _, _, qty, price in orders]
    for (sym, _, _, _), notional in zip(orders, notionals, strict=True):
        if max_order > 0 and notional > max_order:
            checks.append(RiskCheck("Max order value", FAIL,
                                    f"{sym}: ${rust_fixed(float(notional) / 100.0, 0)} > "
                                    f"${rust_fixed(float(max_order) / 100.0, 0)} max_order_value_cents"))
    batch_value = sum(notionals)
    if max_batch > 0 and batch_value > max_batch:
        checks.append(RiskCheck("Max batch value", FAIL,
                                f"${rust_fixed(float(batch_value) / 100.0, 0)} > "
                                f"${rust_fixed(float(max_batch) / 100.0, 0)} max_batch_value_cents"))

    # 6. Max trade size: WARN only.
    max_cents = trunc_i64(cfg.max_trade_usd * 100.0)
    for (sym, _, _, _), notional in zip(orders, notionals, strict=True):
        if notional > max_cents:
            checks.append(RiskCheck("Max trade size", WARN,
                                    f"{sym}: ${rust_fixed(float(notional) / 100.0, 0)} > "
                                    f"${rust_fixed(cfg.max_trade_usd, 0)} max_trade_usd"))

    # 7. Order count and 8. Weight allocation (over the de-duplicated target map, last duplicate wins).
    checks.append(RiskCheck("Order count", PASS, f"{len(orders)} orders"))
    target_map = dict(target_weights)
    long_sum = short_sum = -0.0  # Rust's float sum starts at -0.0
    for weight in target_map.values():
        if weight > 0.0:
            long_sum += weight
        elif weight < 0.0:
            short_sum += abs(weight)
    checks.append(RiskCheck("Weight allocation", PASS,
                            f"{rust_fixed(long_sum * 100.0, 1)}% long, {rust_fixed(short_sum * 100.0, 1)}% short, "
                            f"{rust_fixed((1.0 - long_sum) * 100.0, 1)}% cash"))
    return checks
