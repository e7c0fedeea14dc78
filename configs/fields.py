"""Strict scalar field types shared by the config and target models (no silent coercion, no NaN/inf).

Each type raises `PydanticCustomError` with an operator-facing message and a `fix` hint in its context;
the loader turns those into `file:LINE key = value → problem (fix: …)` lines. No I/O here.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationInfo
from pydantic_core import PydanticCustomError

__all__ = ["Bool", "Float", "Int", "Money", "Str", "to_decimal"]

TYPE_ERROR = "nanobook_type"
VALUE_ERROR = "nanobook_value"


def _error(message: str, fix: str, kind: str = TYPE_ERROR) -> PydanticCustomError:
    # The fix travels in the context; messages never contain `{name}` template fields.
    return PydanticCustomError(kind, message, {"fix": fix})


def _non_finite(value: object) -> bool:
    if isinstance(value, Decimal):
        return not value.is_finite()
    if isinstance(value, float):
        return not math.isfinite(value)
    return False


def _reject_common(value: object, noun: str, example: str) -> None:
    """Raise for the inputs every numeric type refuses: booleans, strings, nan/inf, non-numbers."""
    if isinstance(value, bool):
        raise _error(f"must be {noun}, not a boolean", f"write a number such as {example}")
    if isinstance(value, str):
        raise _error(f"must be {noun}, not a string", "remove the quotes")
    if _non_finite(value):
        raise _error(f"must be a finite {noun.removeprefix('an ').removeprefix('a ')} (nan and inf are not allowed)",
                     f"write a finite value such as {example}")
    if not isinstance(value, int | float | Decimal):
        raise _error(f"must be {noun}", f"write a value such as {example}")


def _int(value: Any) -> int:
    _reject_common(value, "an integer", "5")
    if isinstance(value, float | Decimal):
        whole = value == int(value)
        raise _error("must be an integer, not a float",
                     f"write {int(value)} without a decimal point" if whole else "use a whole number")
    return int(value)


def _float(value: Any) -> float:
    _reject_common(value, "a number", "1.5")
    return float(value)


def to_decimal(value: object) -> Decimal:
    """Exact Decimal of a finite int/float/Decimal (floats via their shortest repr, so 0.1 → Decimal('0.1'))."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int | Decimal):
        return Decimal(value)
    raise TypeError(f"not a number: {value!r}")


def _decimal(value: Any, info: ValidationInfo) -> Decimal:
    # JSON-mode validation (model_validate_json of a model_dump_json) carries Decimals as strings.
    if isinstance(value, str) and info.mode == "json":
        try:
            parsed = Decimal(value)
        except InvalidOperation:
            raise _error("must be a number", "write a number such as 100") from None
        value = parsed
    _reject_common(value, "a number", "100")
    return to_decimal(value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        raise _error("must be true or false, not a string", f"write {value.strip().lower()} without quotes")
    raise _error("must be true or false", "write true or false")


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _error("must be a string", "put the value in double quotes")


Int = Annotated[int, BeforeValidator(_int)]
Float = Annotated[float, BeforeValidator(_float)]
Money = Annotated[Decimal, BeforeValidator(_decimal)]
Bool = Annotated[bool, BeforeValidator(_bool)]
Str = Annotated[str, BeforeValidator(_str)]


def value_error(message: str, fix: str, **context: Any) -> PydanticCustomError:
    """A value-level error (range, format, cross-field) with a fix hint; `context` may name `keys` involved."""
    return PydanticCustomError(VALUE_ERROR, message, {"fix": fix, **context})
