"""Models of target.json (portfolio weights from a strategy), tighten-only constraints and the window id.

Weights are exact Decimals; zero, |w| > 1, duplicates (case-insensitive) and a long sum above 1 are
refused. Shorts load fine: the risk gate decides. No file I/O and no imports from `engine`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, NamedTuple, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from configs.errors import TargetError
from configs.fields import Float, Money, Str, to_decimal, value_error
from configs.models import RiskSettings

__all__ = [
    "LONG_SUM_TOLERANCE",
    "Constraints",
    "CrossIssue",
    "TargetFile",
    "TargetMetadata",
    "TargetWeight",
    "effective_risk",
    "format_scope_timestamp",
    "target_cross_issues",
    "window_id",
]

LONG_SUM_TOLERANCE = Decimal("1e-9")
MAX_SYMBOL_BYTES = 8
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_TS_FIX = 'use RFC 3339 with an offset, e.g. "2026-11-02T21:00:00Z"'


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, validate_default=True)


def _weight(value: Any, info: ValidationInfo) -> Decimal:
    if isinstance(value, str) and info.mode == "json":  # a model_dump_json round trip carries Decimals as strings
        try:
            value = Decimal(value)
        except InvalidOperation:
            raise value_error("must be a number", "write the weight as a number such as 0.25") from None
    if isinstance(value, bool):
        raise value_error("must be a number, not a boolean", "write the weight as a number such as 0.25")
    if isinstance(value, str):
        raise value_error("must be a number, not a string", "remove the quotes around the weight")
    if not isinstance(value, int | float | Decimal):
        raise value_error("must be a number", "write the weight as a number such as 0.25")
    weight = to_decimal(value)
    if not weight.is_finite():
        raise value_error("must be a finite number (NaN and Infinity are not allowed)",
                          "write the weight as a number such as 0.25")
    if abs(weight) > 1:
        raise value_error("|weight| must be ≤ 1", "use a fraction of equity between -1 and 1, e.g. 0.25 for 25 %")
    if weight == 0:
        raise value_error("weight is zero — omit the symbol instead",
                          "remove this entry; a symbol absent from targets is closed")
    return weight


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        if not _RFC3339.fullmatch(value):
            raise value_error("not an RFC 3339 timestamp with a UTC offset", _TS_FIX)
        try:
            parsed = datetime.fromisoformat(value.upper().replace(" ", "T"))
        except ValueError:
            raise value_error("not a valid date and time", _TS_FIX) from None
    else:
        raise value_error("must be an RFC 3339 timestamp string", _TS_FIX)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise value_error("must include a UTC offset", _TS_FIX)
    return parsed.astimezone(UTC)


Weight = Annotated[Decimal, BeforeValidator(_weight)]
Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]


class TargetWeight(_Strict):
    """One symbol's target weight: a signed fraction of equity (0.25 = 25 % long, -0.1 = 10 % short)."""

    symbol: Str
    weight: Weight

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        fix = 'use the venue symbol, e.g. "AAPL"'
        if not value:
            raise value_error("empty symbol", fix)
        if value != value.strip() or any(c.isspace() or not c.isprintable() for c in value):
            raise value_error("symbol must not contain spaces or control characters", fix)
        if len(value.encode("utf-8")) > MAX_SYMBOL_BYTES:
            raise value_error(f"symbol '{value}' exceeds {MAX_SYMBOL_BYTES} bytes", fix)
        return value


class TargetMetadata(_Strict):
    """Free-form run metadata; `id` names the idempotency scope (blank = use the timestamp)."""

    id: Str = ""


class Constraints(_Strict):
    """Per-target risk overrides. They may only tighten the config's `[risk]` (see `effective_risk`)."""

    max_position_pct: Float | None = Field(default=None, gt=0, le=1)
    max_leverage: Float | None = Field(default=None, ge=1, le=10)
    max_short_pct: Float | None = Field(default=None, ge=0, le=1)
    min_trade_notional: Money | None = Field(default=None, ge=0)


class CrossIssue(NamedTuple):
    """A problem spanning several targets: where (a loc path), what, and the fix."""

    loc: tuple[str | int, ...]
    message: str
    fix: str


def target_cross_issues(targets: Sequence[Any]) -> list[CrossIssue]:
    """Duplicate symbols (case-insensitive) and a long sum above 1 (+1e-9), over raw or validated targets.

    Works on raw JSON items too (entries that are not well-formed are skipped), so the loader can report
    these issues alongside per-field ones in one pass.
    """
    issues: list[CrossIssue] = []
    seen: dict[str, int] = {}
    long_sum = Decimal(0)
    for index, item in enumerate(targets):
        symbol, weight = _parts(item)
        if isinstance(symbol, str) and symbol:
            first = seen.setdefault(symbol.upper(), index)
            if first != index:
                issues.append(CrossIssue(
                    ("targets", index, "symbol"),
                    f"duplicate symbol '{symbol}' (same as targets[{first}], symbols are case-insensitive)",
                    "keep one entry per symbol"))
        if isinstance(weight, int | float | Decimal) and not isinstance(weight, bool):
            number = to_decimal(weight)
            if number.is_finite() and 0 < number <= 1:
                long_sum += number
    if long_sum > 1 + LONG_SUM_TOLERANCE:
        issues.append(CrossIssue(("targets",), f"long weights sum to {long_sum:.4f} (> 1)",
                                 "scale the positive weights down so they sum to at most 1"))
    return issues


def _parts(item: Any) -> tuple[object, object]:
    if isinstance(item, TargetWeight):
        return item.symbol, item.weight
    if isinstance(item, dict):
        return item.get("symbol"), item.get("weight")
    return None, None


class TargetFile(_Strict):
    """A whole target.json: when it was produced, what to hold, and optional tighten-only constraints."""

    timestamp: Timestamp
    metadata: TargetMetadata | None = None
    targets: tuple[TargetWeight, ...]
    constraints: Constraints | None = None

    @field_validator("targets")
    @classmethod
    def _not_empty(cls, value: tuple[TargetWeight, ...]) -> tuple[TargetWeight, ...]:
        if not value:
            raise value_error("targets list is empty", 'add at least one {"symbol": "AAPL", "weight": 0.25}')
        return value

    @model_validator(mode="after")
    def _cross(self) -> Self:
        issues = target_cross_issues(self.targets)
        if issues:
            first = issues[0]
            raise value_error(first.message, first.fix, cross_loc=first.loc)
        return self

    @property
    def scope(self) -> str:
        """Idempotency scope: metadata.id when non-blank (verbatim), else the RFC 3339 timestamp (+00:00)."""
        if self.metadata is not None and self.metadata.id.strip():
            return self.metadata.id
        return format_scope_timestamp(self.timestamp)

    @property
    def long_weight(self) -> Decimal:
        """Sum of the positive weights."""
        return sum((t.weight for t in self.targets if t.weight > 0), Decimal(0))

    @property
    def short_weight(self) -> Decimal:
        """Sum of the |negative| weights."""
        return sum((-t.weight for t in self.targets if t.weight < 0), Decimal(0))


def format_scope_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a `+00:00` offset; fractional seconds only when non-zero (ms when exact, else µs)."""
    utc = moment.astimezone(UTC)
    if utc.microsecond == 0:
        spec = "seconds"
    elif utc.microsecond % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return utc.isoformat(timespec=spec)


def _canonical_weight(weight: Decimal) -> str:
    # 0.10 and 0.1 are the same target: normalise so the window id depends on value, not spelling.
    return format(weight.normalize(), "f")


def window_id(target: TargetFile, account_id: str) -> str:
    """Stable cron-window id: first 16 hex of SHA-256 over canonical JSON of scope, account and sorted weights.

    Independent of target order and of how a weight is spelled (0.1 vs 0.10); changes with the account.
    """
    pairs = sorted((t.symbol.upper(), _canonical_weight(t.weight)) for t in target.targets)
    payload = json.dumps([target.scope, account_id, [list(p) for p in pairs]],
                         ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


_TIGHTER: tuple[tuple[str, str, str], ...] = (
    # (key, comparison that is allowed, wording of the fix)
    ("max_position_pct", "le", "≤"),
    ("max_leverage", "le", "≤"),
    ("max_short_pct", "le", "≤"),
    ("min_trade_notional", "ge", "≥"),
)


def effective_risk(risk: RiskSettings, constraints: Constraints | None, *, source: str = "target.json") -> RiskSettings:
    """The config's risk limits with the target's constraints applied; constraints may only tighten (W-T1).

    Raises TargetError listing every constraint that would loosen a config limit.
    """
    if constraints is None:
        return risk
    issues: list[str] = []
    updates: dict[str, Any] = {}
    for key, allowed, sign in _TIGHTER:
        wanted = getattr(constraints, key)
        if wanted is None:
            continue
        current = getattr(risk, key)
        tighter = wanted <= current if allowed == "le" else wanted >= current
        if tighter:
            updates[key] = wanted
        else:
            issues.append(f"{source}: constraints.{key} = {wanted} → looser than config risk.{key} = {current}; "
                          f"constraints may only tighten limits (fix: use a value {sign} {current} or remove it)")
    if issues:
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise TargetError(issues[0] + more, issues)
    if not updates:
        return risk
    try:
        return RiskSettings.model_validate({**risk.model_dump(), **updates})
    except ValidationError as exc:  # e.g. a raised min_trade_notional now above max_trade_notional
        problems = [f"{source}: constraints → {err['msg'].removeprefix('Value error, ')}" for err in exc.errors()]
        raise TargetError(problems[0], problems) from None
