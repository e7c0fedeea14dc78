"""Typed audit events, schema_version "1": one frozen pydantic model per event, one discriminated union.

Owns the on-disk vocabulary (seed event names kept); the writer fills the envelope. Imports nothing from `engine`.
Money and quantities are `Decimal` rendered as JSON strings; timestamps are UTC RFC3339 with microseconds and `Z`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal, Union, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, TypeAdapter

__all__ = [
    "EPOCH",
    "EVENT_NAMES",
    "EVENT_TYPES",
    "NOT_SUBMITTED_ERROR_TYPES",
    "SCHEMA_VERSION",
    "AccountSummaryIntent",
    "AccountSummaryResult",
    "AnyEvent",
    "AuditEnvelope",
    "AuditEvent",
    "CancelIntent",
    "CancelResult",
    "CronCompleted",
    "DiffComputed",
    "DiffOrder",
    "DiffSkip",
    "IdempotencyRejection",
    "KillCompleted",
    "KillRequested",
    "OrderFailed",
    "OrderFilled",
    "OrderIntent",
    "OrderSubmitted",
    "PositionEntry",
    "PositionsIntent",
    "PositionsResult",
    "QuoteEntry",
    "QuotesIntent",
    "QuotesResult",
    "RecoveryAssessed",
    "ResolvedOrder",
    "RiskCheck",
    "RiskCheckItem",
    "RunCompleted",
    "RunStarted",
    "TornTailRepaired",
    "UserConfirmed",
    "format_ts",
    "parse_event",
    "proves_not_submitted",
]

SCHEMA_VERSION: Final = "1"
# Placeholder envelope values of an event built in memory; `AuditWriter.append` replaces all three.
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _as_utc(value: datetime) -> datetime:
    # A naive timestamp is ambiguous by hours; refuse it rather than guess the zone.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware (UTC)")
    return value.astimezone(UTC)


def format_ts(value: datetime) -> str:
    """Render a timezone-aware timestamp as RFC3339 UTC with microseconds and `Z` (2024-01-15T10:00:00.000000Z)."""
    return _as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _no_float(value: object) -> object:
    # Binary floats cannot represent most cent amounts; money must arrive as Decimal, int or a decimal string.
    if isinstance(value, float):
        raise ValueError("money and quantities must be Decimal, int or a decimal string, not float")
    return value


UtcDatetime = Annotated[
    datetime, AfterValidator(_as_utc), PlainSerializer(format_ts, return_type=str, when_used="json")
]
def _plain(value: Decimal) -> str:
    # Fixed-point text, every digit kept ("0.00000001", not "1E-8"): exact, and readable in an audit.
    return format(value, "f")


_AsText = PlainSerializer(_plain, return_type=str, when_used="json")
Amount = Annotated[Decimal, BeforeValidator(_no_float), _AsText]  # finite by pydantic's default for Decimal
PositiveAmount = Annotated[Decimal, BeforeValidator(_no_float), Field(gt=0), _AsText]
NonNegativeAmount = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0), _AsText]
ClientOrderId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Symbol = Annotated[str, Field(min_length=1, max_length=32)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Count = Annotated[int, Field(ge=0)]
Side = Literal["buy", "sell"]
OrderStateName = Literal["pending", "submitted", "partially_filled", "filled", "cancelled", "rejected"]
TerminalState = Literal["filled", "cancelled", "rejected"]
# rejected: the venue refused it; permanent: refused before reaching the venue (bad symbol, validation);
# failed: the broker raised a definite (non-ambiguous) error — proof of non-submission only when not retryable.
# ambiguous / max_retries_exceeded: the venue may hold the order — recovery must look it up by client id.
OrderErrorType = Literal["rejected", "permanent", "failed", "ambiguous", "max_retries_exceeded"]
NOT_SUBMITTED_ERROR_TYPES: Final = frozenset({"rejected", "permanent"})
# none: nothing was running (the kill command still cancels our working orders).
KillMethod = Literal["graceful", "two_phase", "forced", "none"]
RecoveryAction = Literal["restart", "resume", "manual_review", "rollback"]
ResolvedOutcome = Literal[
    "pending", "submitted", "partially_filled", "filled", "cancelled", "rejected", "not_found", "unknown"
]
RunStatus = Literal[
    "ok", "partial", "interrupted", "declined", "no_changes", "dry_run", "risk_rejected", "failed", "skipped"
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuditEnvelope(_Frozen):
    """Keys on every line. Build events without them: the writer fills run_id, seq and ts on append."""

    schema_version: Literal["1"] = SCHEMA_VERSION
    run_id: str = ""
    seq: Count = 0
    ts: UtcDatetime = EPOCH


# ---- value objects nested in payloads -------------------------------------------------------------------------


class PositionEntry(_Frozen):
    """A holding: signed quantity (negative = short), average cost per unit in account currency."""

    symbol: Symbol
    quantity: Amount
    avg_cost: Amount


class QuoteEntry(_Frozen):
    """Top of book with the source timestamp; `live` is False for delayed data."""

    symbol: Symbol
    bid: Amount | None
    ask: Amount | None
    last: Amount | None
    ts: UtcDatetime
    live: bool


class DiffOrder(_Frozen):
    """One planned limit order. `action` is display text (open/close/increase...), treated as opaque."""

    client_order_id: ClientOrderId
    symbol: Symbol
    side: Side
    quantity: PositiveAmount
    limit_price: PositiveAmount
    action: str
    reason: str
    # Optional context the planner may add (display strings / Decimals); not needed for recovery.
    reference_price: Amount | None = None
    notional: Amount | None = None
    current_quantity: Amount | None = None
    target_quantity: Amount | None = None
    current_weight: Amount | None = None
    target_weight: Amount | None = None
    leg: str | None = None


class DiffSkip(_Frozen):
    """A symbol left alone, and why (below minimum notional, no quote, ...)."""

    symbol: Symbol
    reason: str


class RiskCheckItem(_Frozen):
    """One risk gate's verdict."""

    name: str
    status: Literal["PASS", "WARN", "FAIL"]
    detail: str
    limit: str | None = None
    value: str | None = None


class ResolvedOrder(_Frozen):
    """An in-flight order whose fate recovery established (broker state wins)."""

    client_order_id: ClientOrderId
    symbol: Symbol | None
    outcome: ResolvedOutcome


# ---- events ---------------------------------------------------------------------------------------------------


class RunStarted(AuditEnvelope):
    """First line of every run; `run_id` groups the run's lines. Hashes fingerprint the exact inputs."""

    event: Literal["run_started"] = "run_started"
    command: str
    target_path: str | None = None
    target_sha256: Sha256 | None = None
    config_sha256: Sha256 | None = None
    broker: str
    account_id: str | None = None
    dry_run: bool


class AccountSummaryIntent(AuditEnvelope):
    """About to fetch the account summary."""

    event: Literal["account_summary_intent"] = "account_summary_intent"


class AccountSummaryResult(AuditEnvelope):
    """Account summary as fetched, in `currency`."""

    event: Literal["account_summary_result"] = "account_summary_result"
    cash: Amount
    equity: Amount
    buying_power: Amount
    currency: str


class PositionsIntent(AuditEnvelope):
    """About to fetch positions."""

    event: Literal["positions_intent"] = "positions_intent"


class PositionsResult(AuditEnvelope):
    """Positions as fetched."""

    event: Literal["positions_result"] = "positions_result"
    positions: tuple[PositionEntry, ...]


class QuotesIntent(AuditEnvelope):
    """About to fetch quotes for `symbols`."""

    event: Literal["quotes_intent"] = "quotes_intent"
    symbols: tuple[Symbol, ...] = ()


class QuotesResult(AuditEnvelope):
    """Quotes as fetched."""

    event: Literal["quotes_result"] = "quotes_result"
    quotes: tuple[QuoteEntry, ...]


class DiffComputed(AuditEnvelope):
    """The plan: orders to place and symbols skipped."""

    event: Literal["diff_computed"] = "diff_computed"
    orders: tuple[DiffOrder, ...]
    skipped: tuple[DiffSkip, ...] = ()


class RiskCheck(AuditEnvelope):
    """All risk gates' verdicts; `passed` is False when any check FAILed."""

    event: Literal["risk_check"] = "risk_check"
    passed: bool
    checks: tuple[RiskCheckItem, ...]


class UserConfirmed(AuditEnvelope):
    """The operator's answer for the plan with hash `plan_sha256` (interactive prompt or --yes flag)."""

    event: Literal["user_confirmed"] = "user_confirmed"
    approved: bool
    plan_sha256: Sha256
    method: Literal["prompt", "flag", "no_tty"]


class OrderIntent(AuditEnvelope):
    """Write-ahead: about to call place_limit. `attempt` counts retries of the same client order id."""

    event: Literal["order_intent"] = "order_intent"
    client_order_id: ClientOrderId
    symbol: Symbol
    side: Side
    quantity: PositiveAmount
    limit_price: PositiveAmount
    attempt: Annotated[int, Field(ge=1)] = 1


class OrderSubmitted(AuditEnvelope):
    """The venue acknowledged the order; `state` is its state at acknowledgement."""

    event: Literal["order_submitted"] = "order_submitted"
    client_order_id: ClientOrderId
    symbol: Symbol
    order_id: str
    state: OrderStateName


class OrderFailed(AuditEnvelope):
    """place_limit failed; `proves_not_submitted(error_type, retryable)` says whether the venue can hold it.

    `rejected`, `permanent`, and `failed` with retryable=False prove it cannot; anything else leaves the order
    in flight for recovery to look up by client order id.
    """

    event: Literal["order_failed"] = "order_failed"
    client_order_id: ClientOrderId
    symbol: Symbol
    error_type: OrderErrorType
    error_message: str
    retryable: bool


class OrderFilled(AuditEnvelope):
    """Terminal outcome of a submitted order (filled, cancelled with any partial fill, or rejected)."""

    event: Literal["order_filled"] = "order_filled"
    client_order_id: ClientOrderId
    symbol: Symbol
    order_id: str
    state: TerminalState
    filled_quantity: NonNegativeAmount
    avg_fill_price: Amount | None = None


class CancelIntent(AuditEnvelope):
    """Write-ahead: about to request cancellation of `order_id`."""

    event: Literal["cancel_intent"] = "cancel_intent"
    client_order_id: ClientOrderId
    symbol: Symbol
    order_id: str
    reason: str


class CancelResult(AuditEnvelope):
    """Outcome of a cancel request; `state` is the order's state afterwards when known."""

    event: Literal["cancel_result"] = "cancel_result"
    client_order_id: ClientOrderId
    symbol: Symbol
    order_id: str
    success: bool
    state: OrderStateName | None = None
    error_message: str | None = None


class KillRequested(AuditEnvelope):
    """A stop was requested (kill command, SIGTERM/SIGINT)."""

    event: Literal["kill_requested"] = "kill_requested"
    method: KillMethod
    target_pid: int | None = None
    trigger_source: str


class KillCompleted(AuditEnvelope):
    """A stop finished; `orders_remaining_count` > 0 means orders may still be working at the venue."""

    event: Literal["kill_completed"] = "kill_completed"
    method: KillMethod
    orders_cancelled_count: Count
    orders_remaining_count: Count
    error_messages: tuple[str, ...] = ()


class RecoveryAssessed(AuditEnvelope):
    """`recover` decided `action`; `resolved` lists in-flight orders whose fate the broker confirmed."""

    event: Literal["recovery_assessed"] = "recovery_assessed"
    action: RecoveryAction
    reasons: tuple[str, ...]
    resolved: tuple[ResolvedOrder, ...] = ()


class IdempotencyRejection(AuditEnvelope):
    """Cron mode refused a window that already completed."""

    event: Literal["idempotency_rejection"] = "idempotency_rejection"
    window_id: str


class CronCompleted(AuditEnvelope):
    """Cron mode: the window is fully executed (the only completion marker)."""

    event: Literal["cron_completed"] = "cron_completed"
    window_id: str


class RunCompleted(AuditEnvelope):
    """Last line of a run that ended in an orderly way (any status)."""

    event: Literal["run_completed"] = "run_completed"
    status: RunStatus
    submitted: Count
    filled: Count
    failed: Count


class TornTailRepaired(AuditEnvelope):
    """Written by the writer when it finds a torn last line: acknowledges line `line` so readers can skip it."""

    event: Literal["torn_tail_repaired"] = "torn_tail_repaired"
    line: Annotated[int, Field(ge=1)]
    reason: str


AnyEvent = Union[  # noqa: UP007 — spelled as in DESIGN/style rule 5c.5; the union below reuses it
    RunStarted,
    AccountSummaryIntent,
    AccountSummaryResult,
    PositionsIntent,
    PositionsResult,
    QuotesIntent,
    QuotesResult,
    DiffComputed,
    RiskCheck,
    UserConfirmed,
    OrderIntent,
    OrderSubmitted,
    OrderFailed,
    OrderFilled,
    CancelIntent,
    CancelResult,
    KillRequested,
    KillCompleted,
    RecoveryAssessed,
    IdempotencyRejection,
    CronCompleted,
    RunCompleted,
    TornTailRepaired,
]
AuditEvent = Annotated[AnyEvent, Field(discriminator="event")]

EVENT_TYPES: Final[Mapping[str, type[AuditEnvelope]]] = {
    cls.model_fields["event"].default: cls for cls in get_args(AnyEvent)
}
EVENT_NAMES: Final = frozenset(EVENT_TYPES)
_ADAPTER: Final[TypeAdapter[AnyEvent]] = TypeAdapter(AuditEvent)


def parse_event(data: Mapping[str, Any]) -> AnyEvent:
    """Validate one decoded line (envelope + payload) into its typed event; raises pydantic.ValidationError."""
    return _ADAPTER.validate_python(data)


def proves_not_submitted(error_type: object, retryable: object) -> bool:
    """True when an `order_failed` with this error_type/retryable proves the venue never took the order."""
    return error_type in NOT_SUBMITTED_ERROR_TYPES or (error_type == "failed" and retryable is False)
