"""Order-book input events: the in-memory tuple form, the public `Event` view, and two JSON-lines dialects.

Dialect "events" is the seed's serde form (`{"SubmitLimit": {...}}`) plus `owner`/`stp_policy` when set;
dialect "oracle" is the type-tagged form of the oracle corpus. Readers name the 1-based bad line; no book logic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from typing import IO, Any, Final

from engine.errors import EventLogError
from engine.lob.types import (
    PRICE_MAX,
    PRICE_MIN,
    SIDE_NAMES,
    SIDE_ORACLE,
    SIDE_RUST,
    STP_NAMES,
    STP_OFF,
    STP_RUST,
    TIF_NAMES,
    TIF_RUST,
    U64_MAX,
)

EV_LIMIT: Final = 0
EV_MARKET: Final = 1
EV_CANCEL: Final = 2
EV_MODIFY: Final = 3
EV_STOP_MARKET: Final = 4
EV_STOP_LIMIT: Final = 5
EV_TRAIL_MARKET: Final = 6
EV_TRAIL_LIMIT: Final = 7
EV_REDUCE: Final = 8  # an in-place reduction of a resting order (ITCH partial cancel/execution); ours only

KIND_NAMES: Final = ("submit_limit", "submit_market", "cancel", "modify", "submit_stop_market",
                     "submit_stop_limit", "submit_trailing_stop_market", "submit_trailing_stop_limit", "reduce")
TAG_NAMES: Final = ("SubmitLimit", "SubmitMarket", "Cancel", "Modify", "SubmitStopMarket", "SubmitStopLimit",
                    "SubmitTrailingStopMarket", "SubmitTrailingStopLimit", "Reduce")
# Field names of each tuple form after the kind code (owner/stp are the trailing extras of submits).
FIELDS: Final = (
    ("side", "price", "quantity", "time_in_force", "owner", "stp_policy"),
    ("side", "quantity", "owner", "stp_policy"),
    ("order_id",),
    ("order_id", "new_price", "new_quantity"),
    ("side", "stop_price", "quantity"),
    ("side", "stop_price", "limit_price", "quantity", "time_in_force"),
    ("side", "stop_price", "quantity", "trail_method"),
    ("side", "stop_price", "limit_price", "quantity", "time_in_force", "trail_method"),
    ("order_id", "quantity"),
)
_TAG_CODE: Final = {name: code for code, name in enumerate(TAG_NAMES)}
_PRICE_FIELDS: Final = frozenset({"price", "stop_price", "limit_price", "new_price"})


class Event:
    """Read-only view of one logged input (`kind`, field attributes, Rust-debug `repr`)."""

    __slots__ = ("raw",)

    def __init__(self, raw: tuple[Any, ...]) -> None:
        self.raw = raw

    @property
    def kind(self) -> str:
        """One of submit_limit, submit_market, cancel, modify, submit_stop_*, submit_trailing_stop_*, reduce."""
        return KIND_NAMES[self.raw[0]]

    def fields(self) -> dict[str, Any]:
        """Field values with public names ("buy", "gtc", "cancel_newest", trail method tuple)."""
        out: dict[str, Any] = {}
        for name, value in zip(FIELDS[self.raw[0]], self.raw[1:], strict=True):
            if name == "side":
                value = SIDE_NAMES[value]
            elif name == "time_in_force":
                value = TIF_NAMES[value]
            elif name == "stp_policy":
                value = STP_NAMES[value]
            out[name] = value
        return out

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields()[name]
        except KeyError:
            raise AttributeError(name) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Event, (self.raw,))

    def __repr__(self) -> str:
        parts = []
        for name, value in zip(FIELDS[self.raw[0]], self.raw[1:], strict=True):
            if name == "side":
                text = SIDE_RUST[value]
            elif name == "time_in_force":
                text = TIF_RUST[value]
            elif name in _PRICE_FIELDS:
                text = f"Price({value})"
            elif name == "order_id":
                text = f"OrderId({value})"
            elif name == "trail_method":
                text = _trail_debug(value)
            elif name == "owner":
                if value is None:
                    continue
                text = f"Some({value})"
            elif name == "stp_policy":
                if value == STP_OFF:
                    continue
                text = STP_RUST[value]
            else:
                text = str(value)
            parts.append(f"{name}: {text}")
        return f"{TAG_NAMES[self.raw[0]]} {{ {', '.join(parts)} }}"

    __str__ = __repr__


def _trail_debug(method: tuple[Any, ...]) -> str:
    if method[0] == "fixed":
        return f"Fixed({method[1]})"
    if method[0] == "percentage":
        return f"Percentage({method[1]!r})"
    return f"SmaAbsChange {{ multiplier: {method[1]!r}, period: {method[2]} }}"


# ---------------------------------------------------------------------------- dialect "events"

def _trail_to_json(method: tuple[Any, ...]) -> dict[str, Any]:
    if method[0] == "fixed":
        return {"Fixed": method[1]}
    if method[0] == "percentage":
        return {"Percentage": method[1]}
    return {"SmaAbsChange": {"multiplier": method[1], "period": method[2]}}


def event_to_json(raw: tuple[Any, ...]) -> dict[str, Any]:
    """The serde externally-tagged object for one event (owner/stp_policy only when not default)."""
    body: dict[str, Any] = {}
    for name, value in zip(FIELDS[raw[0]], raw[1:], strict=True):
        if name == "side":
            body[name] = SIDE_RUST[value]
        elif name == "time_in_force":
            body[name] = TIF_RUST[value]
        elif name == "trail_method":
            body[name] = _trail_to_json(value)
        elif name == "owner":
            if value is not None:
                body[name] = value
        elif name == "stp_policy":
            if value != STP_OFF:
                body[name] = STP_RUST[value]
        else:
            body[name] = value
    return {TAG_NAMES[raw[0]]: body}


def save_events(events: Iterable[tuple[Any, ...]], path: str) -> None:
    """Write events as compact JSON lines."""
    with open(path, "w", encoding="utf-8") as fh:
        for raw in events:
            fh.write(json.dumps(event_to_json(raw), separators=(",", ":")))
            fh.write("\n")


def _need_int(body: dict[str, Any], key: str, lo: int, hi: int, allow_str: bool = False) -> int:
    if key not in body:
        raise ValueError(f"missing field '{key}'")
    value = body[key]
    if allow_str and isinstance(value, str):
        try:
            value = int(value, 10)
        except ValueError:
            raise ValueError(f"field '{key}' is not an integer: {body[key]!r}") from None
    if type(value) is not int:
        raise ValueError(f"field '{key}' must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"field '{key}' = {value} is out of range [{lo}, {hi}]")
    return value


def _need_enum(body: dict[str, Any], key: str, names: tuple[str, ...], default: int | None = None) -> int:
    if key not in body:
        if default is not None:
            return default
        raise ValueError(f"missing field '{key}'")
    value = body[key]
    if value not in names:
        raise ValueError(f"field '{key}' = {value!r} is not one of {', '.join(names)}")
    return names.index(value)


def _owner(body: dict[str, Any], allow_str: bool = False) -> int | None:
    if body.get("owner") is None:
        return None
    return _need_int(body, "owner", 0, 2**32 - 1, allow_str)


def _finite_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _trail_from_json(value: Any) -> tuple[Any, ...]:
    if isinstance(value, dict) and len(value) == 1:
        (tag, arg), = value.items()
        if tag == "Fixed" and type(arg) is int:
            return ("fixed", arg)
        if tag == "Percentage" and _finite_number(arg):
            return ("percentage", float(arg))
        if tag in ("SmaAbsChange", "Atr") and isinstance(arg, dict):
            m, k = arg.get("multiplier"), arg.get("period")
            if _finite_number(m) and type(k) is int and k >= 0:
                return ("sma_abs_change", float(m), k)  # type: ignore[arg-type]
    raise ValueError(f"invalid trail_method {value!r}")


_I64 = (PRICE_MIN, PRICE_MAX)
_U64 = (0, U64_MAX)


def event_from_json(obj: Any) -> tuple[Any, ...]:
    """Parse one serde-dialect object; ValueError with a reason on anything malformed."""
    if not isinstance(obj, dict) or len(obj) != 1:
        raise ValueError("expected an object with exactly one event tag")
    (tag, body), = obj.items()
    code = _TAG_CODE.get(tag)
    if code is None:
        raise ValueError(f"unknown event type '{tag}'")
    if not isinstance(body, dict):
        raise ValueError(f"'{tag}' must hold an object")
    allowed = set(FIELDS[code])
    unknown = set(body) - allowed
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))} in {tag}")
    values: list[Any] = [code]
    for name in FIELDS[code]:
        if name == "side":
            values.append(_need_enum(body, name, SIDE_RUST))
        elif name == "time_in_force":
            values.append(_need_enum(body, name, TIF_RUST))
        elif name == "stp_policy":
            values.append(_need_enum(body, name, STP_RUST, default=STP_OFF))
        elif name == "owner":
            values.append(_owner(body))
        elif name == "trail_method":
            values.append(_trail_from_json(body.get(name)))
        elif name in _PRICE_FIELDS:
            values.append(_need_int(body, name, *_I64))
        else:
            values.append(_need_int(body, name, *_U64))
    if code == EV_REDUCE and values[2] == 0:
        raise ValueError("field 'quantity' of Reduce must be greater than zero")
    return tuple(values)


# ---------------------------------------------------------------------------- dialect "oracle"

_ORACLE_TYPES: Final = {"SubmitLimit": EV_LIMIT, "SubmitMarket": EV_MARKET, "Cancel": EV_CANCEL}
_ORACLE_KEYS: Final = {
    EV_LIMIT: {"type", "side", "price", "quantity", "time_in_force", "owner", "stp_policy", "schema_version"},
    EV_MARKET: {"type", "side", "quantity", "owner", "stp_policy", "schema_version"},
    EV_CANCEL: {"type", "order_id", "schema_version"},
}


def oracle_event_from_json(obj: Any) -> tuple[Any, ...]:
    """Parse one oracle-dialect object. Integers may be JSON strings (as corpus cases 17/18 encode them)."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    kind = obj.get("type")
    if kind == TAG_NAMES[EV_REDUCE]:  # our own kind: say why rather than just "unknown"
        raise ValueError("unknown event type 'Reduce': not part of the oracle dialect (use the events dialect)")
    code = _ORACLE_TYPES.get(kind) if isinstance(kind, str) else None
    if code is None:
        if "type" not in obj:
            raise ValueError("missing \"type\" (an oracle event names its kind, e.g. \"SubmitLimit\")")
        raise ValueError(f"unknown event type {obj.get('type')!r}")
    unknown = set(obj) - _ORACLE_KEYS[code]
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
    if code == EV_CANCEL:
        return (EV_CANCEL, _need_int(obj, "order_id", *_U64, allow_str=True))
    side = _need_enum(obj, "side", SIDE_ORACLE)
    stp = _need_enum(obj, "stp_policy", STP_RUST, default=STP_OFF)
    owner = _owner(obj, allow_str=True)
    qty = _need_int(obj, "quantity", *_U64, allow_str=True)
    if code == EV_MARKET:
        return (EV_MARKET, side, qty, owner, stp)
    price = _need_int(obj, "price", *_I64, allow_str=True)
    tif = _need_enum(obj, "time_in_force", TIF_RUST)
    return (EV_LIMIT, side, price, qty, tif, owner, stp)


def wrap_int63(value: int) -> int:
    """Emulate the oracle writer's 63-bit native ints (2**63-1 → -1, -(2**63-1) → 1): oracle-compat mode."""
    return ((value + 2**62) % 2**63) - 2**62


def oracle_trade_line(trade: tuple[Any, ...], int63: bool = False) -> str:
    """One trade in the oracle dialect, compact, keys in the corpus order."""
    tid, price, qty, side, aggr, passive, ts = trade
    if int63:
        tid, price, qty, aggr, passive, ts = (wrap_int63(v) for v in (tid, price, qty, aggr, passive, ts))
    return (f'{{"id":{tid},"price":{price},"quantity":{qty},"aggressor_order_id":{aggr},'
            f'"passive_order_id":{passive},"aggressor_side":"{side.upper()}","timestamp":{ts}}}')


# ---------------------------------------------------------------------------- readers

DIALECTS: Final = ("events", "oracle")


def detect_dialect(first_object: Any) -> str | None:
    """"oracle" for {"type": ...}, "events" for a single known serde tag, else None."""
    if isinstance(first_object, dict):
        if "type" in first_object:
            return "oracle"
        if len(first_object) == 1 and next(iter(first_object)) in _TAG_CODE:
            return "events"
    return None


def iter_events(lines: Iterable[str], dialect: str, path: str | None = None
                ) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """Yield (line number, event tuple) for each non-blank line; EventLogError on the first bad one."""
    parse = oracle_event_from_json if dialect == "oracle" else event_from_json
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            yield number, parse(json.loads(text))
        except RecursionError:
            raise EventLogError(number, "invalid JSON: nested too deeply", path) from None
        except ValueError as exc:
            reason = f"invalid JSON: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise EventLogError(number, reason, path) from None


def read_dialect(fh: IO[str], path: str | None = None) -> str:
    """Sniff the dialect from the first non-blank line, then rewind; EventLogError if unrecognisable."""
    start = fh.tell()
    for number, line in enumerate(fh, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            found = detect_dialect(json.loads(text))
        except RecursionError:
            raise EventLogError(number, "invalid JSON: nested too deeply", path) from None
        except ValueError as exc:
            raise EventLogError(number, f"invalid JSON: {exc}", path) from None
        fh.seek(start)
        if found is None:
            raise EventLogError(number, "not an order-book event (dialect events or oracle)", path)
        return found
    fh.seek(start)
    return "events"


def load_events(path: str, dialect: str | None = None) -> list[tuple[Any, ...]]:
    """Read a whole JSON-lines event file (dialect auto-detected unless given)."""
    with open(path, encoding="utf-8") as fh:
        chosen = dialect or read_dialect(fh, path)
        return [event for _, event in iter_events(fh, chosen, path)]
