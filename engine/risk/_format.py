"""Number formatting for risk details: the seed's Rust float formats, and Decimal display strings for plans."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

__all__ = [
    "fmt_count",
    "fmt_money",
    "fmt_pct",
    "fmt_qty",
    "fmt_ratio",
    "rust_display",
    "rust_fixed",
]


def rust_fixed(value: float, places: int) -> str:
    """Rust `format!("{:.N}", x)`: exact, round-half-even on the binary value; `NaN`, `inf`, `-inf`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{places}f}"


def rust_display(value: float | int) -> str:
    """Rust `format!("{}", x)`: shortest round-trip digits, never an exponent (1.0 → `1`, -0.0 → `-0`)."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _quantize(value: Decimal, places: int, shift: int = 0) -> Decimal:
    """Scale by 10**shift and round half up to `places` decimals, exactly at any magnitude; -0 becomes 0."""
    digits = len(value.as_tuple().digits) + max(value.adjusted(), 0) + shift + places + 2
    with localcontext(Context(prec=max(digits, 28), rounding=ROUND_HALF_UP)):
        rounded = value.scaleb(shift).quantize(Decimal(1).scaleb(-places))
    return rounded.copy_abs() if rounded.is_zero() else rounded


def fmt_pct(fraction: Decimal) -> str:
    """A fraction as a percentage with 2 dp: Decimal("0.25") → `25.00%`."""
    return f"{_quantize(fraction, 2, shift=2):f}%"


def fmt_money(amount: Decimal) -> str:
    """An amount with thousands separators and 2 dp: `$1,234.56`, `-$5.00`."""
    rounded = _quantize(amount, 2)
    sign = "-" if rounded < 0 else ""
    return f"{sign}${rounded.copy_abs():,.2f}"


def fmt_ratio(ratio: Decimal) -> str:
    """A leverage ratio with 2 dp: `1.02x`."""
    return f"{_quantize(ratio, 2):f}x"


def fmt_qty(quantity: Decimal) -> str:
    """A quantity without exponent or trailing zeros: `50`, `0.0015`, `-3`."""
    text = format(quantity, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def fmt_count(count: int, noun: str) -> str:
    """`1 order`, `3 orders`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
