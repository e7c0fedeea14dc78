"""Order-book primitive codes (side, time in force, status, STP policy) and their text forms.

Internal code is integers for speed; this module owns the mapping to the reference package's strings.
It must not hold any book state.
"""

from __future__ import annotations

import operator
from typing import Final

BUY: Final = 0
SELL: Final = 1

GTC: Final = 0
IOC: Final = 1
FOK: Final = 2

NEW: Final = 0
PARTIALLY_FILLED: Final = 1
FILLED: Final = 2
CANCELLED: Final = 3

STP_OFF: Final = 0
STP_CANCEL_NEWEST: Final = 1
STP_CANCEL_OLDEST: Final = 2
STP_DECREMENT_AND_CANCEL: Final = 3

PRICE_MAX: Final = 2**63 - 1
PRICE_MIN: Final = -(2**63)
U64_MAX: Final = 2**64 - 1

SIDE_NAMES: Final = ("buy", "sell")
SIDE_RUST: Final = ("Buy", "Sell")
SIDE_ORACLE: Final = ("BUY", "SELL")
TIF_NAMES: Final = ("gtc", "ioc", "fok")
TIF_RUST: Final = ("GTC", "IOC", "FOK")
STATUS_RESULT: Final = ("New", "PartiallyFilled", "Filled", "Cancelled")
STATUS_ORDER: Final = ("new", "partiallyfilled", "filled", "cancelled")
STP_NAMES: Final = ("off", "cancel_newest", "cancel_oldest", "decrement_and_cancel")
STP_RUST: Final = ("Off", "CancelNewest", "CancelOldest", "DecrementAndCancel")


def _variants(pairs: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for text, code in pairs.items():
        for form in (text, text.lower(), text.upper(), text.capitalize()):
            out[form] = code
    return out


# Exact-string lookup tables: one dict probe on the hot path; anything else goes to the slow parser.
SIDE_CODES: Final = _variants({"buy": BUY, "sell": SELL, "b": BUY, "s": SELL})
TIF_CODES: Final = _variants({"gtc": GTC, "ioc": IOC, "fok": FOK})
STP_CODES: Final = {
    **_variants({n: i for i, n in enumerate(STP_NAMES)}),
    **{n: i for i, n in enumerate(STP_RUST)},
    "none": STP_OFF,
}


def parse_side(text: object) -> int:
    """Return BUY/SELL for "buy"/"sell"/"b"/"s" in any case; ValueError otherwise (reference message)."""
    code = SIDE_CODES.get(text.lower()) if isinstance(text, str) else None
    if code is None:
        raise ValueError(f"Invalid side '{text}'. Use 'buy' or 'sell'.")
    return code


def parse_tif(text: object) -> int:
    """Return the time-in-force code for "gtc"/"ioc"/"fok" in any case; ValueError otherwise."""
    code = TIF_CODES.get(text.lower()) if isinstance(text, str) else None
    if code is None:
        raise ValueError(f"Invalid time_in_force '{text}'. Use 'gtc', 'ioc', or 'fok'.")
    return code


def parse_stp(text: object) -> int:
    """Return the STP policy code; accepts snake_case and the Rust/oracle CamelCase names."""
    code = STP_CODES.get(text) if isinstance(text, str) else None
    if code is None and isinstance(text, str):
        code = STP_CODES.get(text.lower().replace("-", "_"))
    if code is None:
        raise ValueError(f"Invalid stp_policy '{text}'. Use one of: {', '.join(STP_NAMES)}.")
    return code


def _as_int(value: object, name: str) -> int:
    # Any integer type (numpy ints included) via __index__, as the reference accepts; never bool or float.
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got bool")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None


def check_price(value: object, name: str = "price") -> int:
    """Validate a price in integer ticks within the signed 64-bit range of the reference; returns an int."""
    price = _as_int(value, name)
    if not PRICE_MIN <= price <= PRICE_MAX:
        raise OverflowError(f"{name} {price} is outside the signed 64-bit range")
    return price


def check_quantity(value: object, name: str = "quantity") -> int:
    """Validate a quantity as an unsigned 64-bit integer (negative → OverflowError, as the reference)."""
    qty = _as_int(value, name)
    if not 0 <= qty <= U64_MAX:
        raise OverflowError(f"can't convert {qty} to an unsigned 64-bit {name}")
    return qty


def check_owner(value: object) -> int | None:
    """Owners are opaque unsigned 32-bit tags (or None to opt out of self-trade prevention)."""
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= 2**32 - 1:
        raise ValueError(f"owner must be None or an int in [0, 2**32), got {value!r}")
    return value


def format_price(price: int) -> str:
    """Render integer cents the reference's way: 10050 → "$100.50", -250 → "-$2.50"."""
    sign = "-" if price < 0 else ""
    whole, cents = divmod(abs(price), 100)
    return f"{sign}${whole}.{cents:02d}"
