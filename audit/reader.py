"""Tolerant audit-log reader: our v1 lines and the seed's flat format, one forward pass, typed events on demand.

A torn or invalid last line is reported (`torn_tail`), never fatal; any other bad line raises `AuditCorrupt`
unless the writer acknowledged it with a following `torn_tail_repaired` record. No engine imports, no writes.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from audit.errors import AuditCorrupt, AuditError
from audit.validator import ValidationIssue, is_valid, validate

if TYPE_CHECKING:
    from audit.events import AnyEvent

__all__ = [
    "AuditLog",
    "AuditRecord",
    "LogIndex",
    "RecordFormat",
    "TornTail",
    "ValidationIssue",
    "is_valid",
    "parse_audit",
    "read_audit",
    "seed_decimal",
    "validate",
]

RecordFormat = Literal["v1", "seed"]
LogFormat = Literal["v1", "seed", "mixed", "empty"]

_PREVIEW: Final = 200
_CONTEXT_SYMBOL: Final = re.compile(r"(?:^|[\s,])symbol:([^,\s]+)")
_CONTEXT_CLIENT_ID: Final = re.compile(r"(?:^|[\s,])client_order_id:([^,\s]+)")
_REPAIR_EVENT: Final = "torn_tail_repaired"
# The C scanner json.loads ends in (set on every JSONDecoder; typeshed does not declare the attribute).
_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = getattr(json.JSONDecoder(), "scan_once")  # noqa: B009


@dataclass(frozen=True, slots=True)
class TornTail:
    """An unreadable line the reader skipped: 1-based `line`, why, and the start of its text."""

    line: int
    reason: str
    text: str


class AuditRecord:
    """One readable line. `view` is the normalised payload (v1: the line itself; seed: a translated copy).

    Normalised keys shared by both formats: event, seq, ts, symbol, client_order_id, order_id (str), side.
    A v1 line of a large file is decoded on first access of `raw`/`view` (from the file's text, which the record
    references until then), giving the value the eager read gives; the reader has already checked the line.
    """

    __slots__ = ("_event", "_pos", "_raw", "_src", "_view", "format", "line")

    def __init__(self, line: int, raw: dict[str, Any], fmt: RecordFormat, view: dict[str, Any]) -> None:
        self.line = line
        self._raw: dict[str, Any] | None = raw
        self.format: RecordFormat = fmt
        self._view: dict[str, Any] | None = view
        self._src: str | bytes | None = None  # deferred: the file's text (str, or bytes when all ASCII)
        self._pos = 0  # deferred: where the line starts in `_src`
        self._event: AnyEvent | None = None

    @classmethod
    def _deferred(cls, line: int, src: str | bytes, pos: int) -> AuditRecord:
        """A v1 record whose payload is the line starting at `src[pos]`, decoded on first use."""
        record = cls.__new__(cls)
        record.line = line
        record._raw = record._view = record._event = None
        record.format = "v1"
        record._src = src
        record._pos = pos
        return record

    def _decode(self) -> dict[str, Any]:
        # What json.loads returns, without its wrapper: the probe accepted the line, so it is one JSON object
        # between JSON whitespace (no BOM), and the same C scanner decodes it.
        src, pos = self._src, self._pos
        assert src is not None
        if isinstance(src, bytes):
            end = src.find(b"\n", pos)
            text = src[pos:end if end >= 0 else len(src)].decode("ascii")
        else:
            end = src.find("\n", pos)
            text = src[pos:end if end >= 0 else len(src)]
        start = 0 if text.startswith("{") else len(text) - len(text.lstrip(" \t\n\r"))
        raw: dict[str, Any] = _SCAN(text, start)[0]
        self._raw = self._view = raw
        self._src = None
        return raw

    @property
    def raw(self) -> dict[str, Any]:
        """The decoded line as written."""
        raw = self._raw
        return raw if raw is not None else self._decode()

    @property
    def view(self) -> dict[str, Any]:
        """The normalised payload (the line itself for v1)."""
        view = self._view
        return view if view is not None else self._decode()

    @property
    def name(self) -> str:
        """Event name (seed vocabulary, shared by both formats)."""
        name: str = self.view["event"]
        return name

    @property
    def seq(self) -> int | None:
        """`seq` (v1) or `sequence_number` (seed; None on the seed's plain events)."""
        seq: int | None = self.view.get("seq")
        return seq

    @property
    def run_id(self) -> str | None:
        """The v1 run id (the seed format has none)."""
        run_id: str | None = self.view.get("run_id")
        return run_id

    @property
    def ts(self) -> str:
        """The envelope timestamp as written (RFC3339 text)."""
        ts: str = self.view["ts"]
        return ts

    @property
    def client_order_id(self) -> str | None:
        """Client order id (seed: also recovered from `context`)."""
        value = self.view.get("client_order_id")
        return value if isinstance(value, str) else None

    @property
    def symbol(self) -> str | None:
        """Symbol (seed: also recovered from `context`)."""
        value = self.view.get("symbol")
        return value if isinstance(value, str) else None

    @property
    def order_id(self) -> str | None:
        """Venue order id as text (seed: from `ibkr_id` or the cancel events' integer `order_id`)."""
        value = self.view.get("order_id")
        return value if isinstance(value, str) else None

    @property
    def event(self) -> AnyEvent | None:
        """The typed event of a v1 line (validated on first access); None for seed lines.

        Raises AuditCorrupt(line, reason) when the line does not match schema_version "1".
        """
        if self.format != "v1":
            return None
        if self._event is None:
            # Imported here so reading and deciding never pay for pydantic unless typed events are asked for.
            from pydantic import ValidationError  # noqa: PLC0415

            from audit.events import parse_event  # noqa: PLC0415

            try:
                self._event = parse_event(self.raw)
            except ValidationError as exc:
                raise AuditCorrupt(self.line, _first_error(exc)) from None
        return self._event

    def __repr__(self) -> str:
        return f"AuditRecord(line={self.line}, format={self.format!r}, event={self.name!r}, seq={self.seq!r})"


@dataclass(frozen=True, slots=True)
class LogIndex:
    """File-wide facts gathered during the read (while each line is hot), so deciding needs no second pass."""

    run_starts: tuple[int, ...]  # indexes into `records` of every run_started
    client_order_ids: frozenset[str]  # every top-level client_order_id in the file, all runs
    max_seq: int  # highest seq / sequence_number (0 when none)
    formats: frozenset[str]  # record formats present

    @classmethod
    def build(cls, records: Sequence[AuditRecord]) -> LogIndex:
        """Compute the index for records assembled in memory (the reader builds it while parsing)."""
        views = [record.view for record in records]
        return cls(
            run_starts=tuple(i for i, view in enumerate(views) if view["event"] == "run_started"),
            client_order_ids=frozenset(c for view in views if isinstance(c := view.get("client_order_id"), str)),
            max_seq=max((seq for view in views if type(seq := view.get("seq")) is int), default=0),
            formats=frozenset(record.format for record in records),
        )


@dataclass(frozen=True)
class AuditLog:
    """Everything readable in one audit file, in file order, plus what was skipped and why."""

    records: list[AuditRecord]
    torn_tail: TornTail | None
    path: Path | None
    repaired: list[TornTail] = field(default_factory=list)
    _index: LogIndex | None = field(default=None, repr=False, compare=False)

    @property
    def index(self) -> LogIndex:
        """File-wide facts (built by the reader; computed on first use for logs assembled by hand)."""
        if self._index is None:
            object.__setattr__(self, "_index", LogIndex.build(self.records))
        assert self._index is not None
        return self._index

    @property
    def format(self) -> LogFormat:
        """"v1", "seed", "mixed" (both generations in one file) or "empty"."""
        kinds = self.index.formats
        if not kinds:
            return "empty"
        if len(kinds) == 2:
            return "mixed"
        return "v1" if "v1" in kinds else "seed"

    @property
    def max_seq(self) -> int:
        """Highest sequence number in the file (0 when none): the writer continues above it."""
        return self.index.max_seq

    def __iter__(self) -> Iterator[AuditRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


def read_audit(path: str | Path) -> AuditLog:
    """Read an audit JSONL file (v1, seed, or both).

    Missing/unreadable file → AuditError; a bad line followed by more records → AuditCorrupt(line, reason)
    (unless the writer acknowledged it); a bad last line → `torn_tail`.
    """
    where = Path(path)
    try:
        data = where.read_bytes()
    except FileNotFoundError:
        raise AuditError(f"audit log {where} does not exist") from None
    except IsADirectoryError:
        raise AuditError(f"audit log {where} is a directory") from None
    except OSError as exc:
        raise AuditError(f"cannot read audit log {where}: {exc.strerror or exc}") from None
    return parse_audit(data, path=where)


def parse_audit(data: bytes, path: Path | None = None) -> AuditLog:
    """Parse the bytes of an audit file (see `read_audit`).

    From `_DEFER_MIN_BYTES` on, v1 lines are checked without being decoded into Python objects (see `_probe`)
    and decoded when first used: reading and deciding touch only the last run. The result is the same.
    """
    # Building a million small dicts triggers needless cyclic-GC passes (the graph is acyclic); pausing the
    # collector halves the read time. Restored in `finally`, and only if it was on.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse(data, path)
    finally:
        # Hand the new objects straight to the oldest generation (freeze + unfreeze are O(1) list splices) so
        # the collector does not walk a million records again in gen0 and gen1 right after we re-enable it.
        # Other live objects are promoted early too, which only delays collecting any cycles among them.
        gc.freeze()
        gc.unfreeze()
        if was_enabled:
            gc.enable()


# One decoded line: (1-based line number, the JSON value or None, the problem or None, the text when bad,
# start). `start` is -1, except for a deferred line: a valid v1 line whose value holds only the probed envelope
# keys (`_PROBED`) and whose text is the whole file's (str, or bytes when all ASCII), the line at `start`.
_Line = tuple[int, Any, str | None, str | bytes | None, int]

# Files at least this large are read with the envelope probe; smaller ones never import pydantic_core.
_DEFER_MIN_BYTES: Final = 4 * 1024 * 1024
# The keys the reader needs from every v1 line; the rest of a line is only decoded when somebody asks for it.
_PROBED: Final = ("schema_version", "run_id", "seq", "ts", "event", "client_order_id", "line")
_probe_json: Callable[[str | bytes], dict[str, Any]] | None = None


def _probe() -> Callable[[str | bytes], dict[str, Any]]:
    """A validator that accepts exactly the lines the hot path of `_parse` turns into v1 records.

    It parses one JSON line completely (pydantic_core, jiter in Rust) but builds Python objects only for the
    `_PROBED` keys, and requires the envelope `_parse` requires: schema_version "1", a non-empty string run_id,
    an integer seq ≥ 0, string ts and event. It refuses everything `json.loads` refuses that a line can contain
    (invalid syntax, control characters, non-JSON whitespace, over-long integers) and a few things json accepts
    (lone surrogates, nesting deeper than 200, other objects); refused lines take the exact `json.loads` path.
    What it accepts, `json.loads` decodes to the same values, duplicate keys included.
    """
    global _probe_json  # noqa: PLW0603 - built once per process, on the first large file
    if _probe_json is None:
        from pydantic_core import SchemaValidator, core_schema  # noqa: PLC0415

        def required(schema: core_schema.CoreSchema) -> core_schema.TypedDictField:
            return core_schema.typed_dict_field(schema)

        optional = core_schema.typed_dict_field(core_schema.any_schema(), required=False)
        text = core_schema.str_schema(strict=True)
        fields = {
            "schema_version": required(core_schema.literal_schema(["1"])),
            "run_id": required(core_schema.str_schema(strict=True, min_length=1)),
            "seq": required(core_schema.int_schema(strict=True, ge=0)),
            "ts": required(text),
            "event": required(text),
            "client_order_id": optional,
            "line": optional,
        }
        schema = core_schema.typed_dict_schema(fields, extra_behavior="ignore")
        _probe_json = SchemaValidator(schema).validate_json
    return _probe_json


def _lines(data: bytes) -> Iterator[_Line]:
    if len(data) >= _DEFER_MIN_BYTES and type(data) is bytes and data.isascii():
        # ASCII: the (immutable) bytes are the text, so deferred records can share them without a decoded copy.
        yield from _probed_lines(data, _probe())
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        yield from _byte_lines(data)  # json.loads decodes each line, so only the damaged line is blamed
        return
    if len(data) >= _DEFER_MIN_BYTES:
        yield from _probed_lines(text, _probe())
        return
    # Scan the whole text at line offsets instead of splitting it: no per-line string copies on the hot path.
    scan = _SCAN
    find = text.find
    size = len(text)
    pos = 0
    number = 0
    while pos < size:
        number += 1
        newline = find("\n", pos)
        if newline < 0:
            newline = size
        try:
            raw, end = scan(text, pos)
        except (StopIteration, ValueError, RecursionError):
            raw, end = None, -1
        if end == newline or (pos <= end < newline and text[end:newline].isspace()):
            yield number, raw, None, None, -1
        else:
            # Slow path: blank lines, leading whitespace, or a bad line (also one whose JSON ran past its newline).
            line = text[pos:newline]
            if line and not line.isspace():
                value, problem = _slow_decode(line)
                yield number, value, problem, line, -1
        pos = newline + 1


def _probed_lines(src: str | bytes, probe: Callable[[str | bytes], dict[str, Any]]) -> Iterator[_Line]:
    """`_lines` for large files: valid v1 lines come back deferred (see `_Line`), all others as `_lines` does.

    `src` is the decoded text, or the raw bytes when they are all ASCII (then they are that text). Scanning one
    line on its own gives what scanning it inside the file gives: a value that ends before the newline reads the
    same characters, and one that would run past it fails on the line alone (slow path).
    """
    scan = _SCAN
    newline_char: Any = b"\n" if isinstance(src, bytes) else "\n"
    find = src.find
    size = len(src)
    pos = 0
    number = 0
    while pos < size:
        number += 1
        newline = find(newline_char, pos)
        if newline < 0:
            newline = size
        raw_line = src[pos:newline]
        try:
            envelope = probe(raw_line)
        except ValueError:  # pydantic_core.ValidationError: not a v1 line _parse would accept as it is
            envelope = None
        if envelope is not None:
            yield number, envelope, None, src, pos
            pos = newline + 1
            continue
        pos = newline + 1
        line = raw_line.decode("ascii") if isinstance(raw_line, bytes) else raw_line
        try:
            raw, end = scan(line, 0)
        except (StopIteration, ValueError, RecursionError):
            raw, end = None, -1
        if end == len(line) or (0 <= end < len(line) and line[end:].isspace()):
            yield number, raw, None, None, -1
        elif line and not line.isspace():
            value, problem = _slow_decode(line)
            yield number, value, problem, line, -1


def _byte_lines(data: bytes) -> Iterator[_Line]:
    for number, line in enumerate(data.split(b"\n"), 1):
        if line and not line.isspace():
            value, problem = _slow_decode(line)
            yield number, value, problem, line, -1


def _parse(data: bytes, path: Path | None) -> AuditLog:
    where = str(path) if path is not None else None
    records: list[AuditRecord] = []
    append = records.append
    repaired: list[TornTail] = []
    run_starts: list[int] = []
    client_ids: set[str] = set()
    add_client_id = client_ids.add
    has_v1 = has_seed = False
    max_seq = 0
    pending: TornTail | None = None  # a bad line that is only acceptable if it turns out to be the last one
    for number, raw, problem, text, start in _lines(data):
        deferred = start >= 0
        if deferred:
            # A valid v1 line of a large file: `raw` holds only the probed keys, the line is decoded when used.
            event, seq = raw["event"], raw["seq"]
            assert text is not None
            record = AuditRecord._deferred(number, text, start)
            has_v1 = True
        # Hot path (one v1 line): each key is looked up once and kept in a local.
        elif problem is None and type(raw) is dict and raw.get("schema_version") == "1":
            event, seq, run_id = raw.get("event"), raw.get("seq"), raw.get("run_id")
            if (type(seq) is int and seq >= 0 and type(event) is str and type(run_id) is str and run_id
                    and type(raw.get("ts")) is str):
                record = AuditRecord(number, raw, "v1", raw)
                has_v1 = True
            else:
                record, problem = None, _v1_problem(raw)
        elif problem is None and type(raw) is dict and "schema_version" not in raw:
            view = _seed_view(raw)
            if isinstance(view, str):
                record, problem = None, view
            else:
                record, event, seq = AuditRecord(number, raw, "seed", view), view["event"], view["seq"]
                has_seed = True
        else:
            record = None
            problem = problem or (_v1_problem(raw) if type(raw) is dict else "not a JSON object")
        if record is None:
            if pending is not None:
                raise AuditCorrupt(pending.line, pending.reason, where)
            pending = TornTail(number, problem or "unreadable", _preview(text or ""))
            continue
        if pending is not None:
            # Only the writer's acknowledgement makes an earlier torn line acceptable mid-file.
            if record.format == "v1" and event == _REPAIR_EVENT and raw.get("line") == pending.line:
                repaired.append(pending)
                pending = None
            else:
                raise AuditCorrupt(pending.line, pending.reason, where)
        if event == "run_started":
            run_starts.append(len(records))
        client_id = (raw if deferred else record.view).get("client_order_id")
        if type(client_id) is str:
            add_client_id(client_id)
        if seq is not None and seq > max_seq:
            max_seq = seq
        append(record)
    formats = frozenset(name for name, present in (("v1", has_v1), ("seed", has_seed)) if present)
    index = LogIndex(tuple(run_starts), frozenset(client_ids), max_seq, formats)
    return AuditLog(records=records, torn_tail=pending, path=path, repaired=repaired, _index=index)


def _slow_decode(text: str | bytes) -> tuple[Any, str | None]:
    """json.loads with a readable reason on failure (lines the fast path refused)."""
    try:
        return json.loads(text), None
    except UnicodeDecodeError:
        return None, "not valid UTF-8 (torn write?)"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at column {exc.colno}"
    except ValueError as exc:  # e.g. an integer too long to convert
        return None, f"invalid JSON: {exc}"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"


def _preview(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return text[:_PREVIEW]


def _v1_problem(raw: dict[str, Any]) -> str:
    version = raw.get("schema_version")
    if version != "1":
        return f"unsupported schema_version {version!r} (this build reads '1' and the seed format)"
    for key, kind in (("run_id", str), ("seq", int), ("ts", str), ("event", str)):
        value = raw.get(key)
        if type(value) is not kind:
            return f"envelope key {key!r} missing or not a {kind.__name__}"
    if raw["seq"] < 0:
        return "envelope key 'seq' is negative"
    return "envelope key 'run_id' is empty"


def _seed_view(raw: dict[str, Any]) -> dict[str, Any] | str:
    """Validate a seed line (§7.1 strict rules) and translate it to the normalised keys, or return the problem."""
    name = raw.get("event")
    if type(name) is not str:
        return "missing string 'event' (and no schema_version)"
    ts = raw.get("ts")
    if type(ts) is not str:
        return "missing string 'ts'"
    try:
        datetime.fromisoformat(ts)
    except ValueError:
        return f"'ts' is not RFC3339: {ts[:40]!r}"
    seq = raw.get("sequence_number")
    if seq is not None and (type(seq) is not int or seq < 0):
        return "'sequence_number' must be a non-negative integer"
    view = dict(raw)
    view["seq"] = seq
    view["order_id"] = None
    # Seed venue ids are integers: ibkr_id on order events, order_id on cancel events.
    for key in ("ibkr_id", "order_id"):
        value = raw.get(key)
        if type(value) is int:
            view["order_id"] = str(value)
            break
    context = raw.get("context")
    if isinstance(context, str):
        # The seed's own order_failed has no symbol key (W-A1); its `context` carries symbol and client id.
        if not isinstance(raw.get("symbol"), str) and (match := _CONTEXT_SYMBOL.search(context)):
            view["symbol"] = match.group(1)
        if not isinstance(raw.get("client_order_id"), str) and (match := _CONTEXT_CLIENT_ID.search(context)):
            view["client_order_id"] = match.group(1)
    action = raw.get("action")
    if isinstance(action, str):
        # Seed action text varies (Buy, BUY, SELL SHORT, BUY COVER); only the side matters downstream.
        lowered = action.strip().lower()
        view["side"] = "buy" if lowered.startswith("buy") else "sell" if lowered.startswith("sell") else None
    return view


def seed_decimal(value: object) -> Decimal | None:
    """A seed number (dollar float or int) as an exact-as-printed Decimal; None when absent or not finite."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def _first_error(exc: Any) -> str:
    errors = exc.errors()
    if not errors:
        return "does not match audit schema_version '1'"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "line"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"schema_version '1': {where}: {first.get('msg', 'invalid')}{more}"
