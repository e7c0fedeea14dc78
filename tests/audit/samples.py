"""One valid instance of every audit event, a stepping UTC clock, and paths to the seed fixtures (read in place)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from audit.events import (
    AccountSummaryIntent,
    AccountSummaryResult,
    AuditEnvelope,
    CancelIntent,
    CancelResult,
    CronCompleted,
    DiffComputed,
    DiffOrder,
    DiffSkip,
    IdempotencyRejection,
    KillCompleted,
    KillRequested,
    OrderFailed,
    OrderFilled,
    OrderIntent,
    OrderSubmitted,
    PositionEntry,
    PositionsIntent,
    PositionsResult,
    QuoteEntry,
    QuotesIntent,
    QuotesResult,
    RecoveryAssessed,
    ResolvedOrder,
    RiskCheck,
    RiskCheckItem,
    RunCompleted,
    RunStarted,
    TornTailRepaired,
    UserConfirmed,
)
from tests.conftest import SHARED_DATA

AUDIT_FIXTURES = SHARED_DATA / "audit-fixtures"
START = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)


class StepClock:
    """Deterministic clock: each call returns START + n seconds + n microseconds (n = call count)."""

    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        return self.start + timedelta(seconds=self.calls, microseconds=self.calls)


def sample_events() -> list[AuditEnvelope]:
    """Every event type once, in a plausible run order (then the maintenance and kill/recovery events)."""
    price = Decimal("187.25")
    return [
        RunStarted(command="run", target_path="target.json", target_sha256="a" * 64, config_sha256="b" * 64,
                   broker="sim", account_id="SIM-1", dry_run=False),
        AccountSummaryIntent(),
        AccountSummaryResult(cash=Decimal("1000.10"), equity=Decimal("25000.00"), buying_power=Decimal("1000.10"),
                             currency="USD"),
        PositionsIntent(),
        PositionsResult(positions=(PositionEntry(symbol="AAPL", quantity=Decimal(-3), avg_cost=price),)),
        QuotesIntent(symbols=("AAPL", "MSFT")),
        QuotesResult(quotes=(QuoteEntry(symbol="AAPL", bid=price, ask=price + Decimal("0.02"), last=None,
                                        ts=START, live=True),)),
        DiffComputed(orders=(DiffOrder(client_order_id="nb-AAPL-b-1", symbol="AAPL", side="buy", quantity=Decimal(7),
                                       limit_price=price, action="increase", reason="underweight"),),
                     skipped=(DiffSkip(symbol="MSFT", reason="below minimum notional"),)),
        RiskCheck(passed=True, checks=(RiskCheckItem(name="Max position", status="PASS", detail="ok"),)),
        UserConfirmed(approved=True, plan_sha256="c" * 64, method="prompt"),
        OrderIntent(client_order_id="nb-AAPL-b-1", symbol="AAPL", side="buy", quantity=Decimal(7), limit_price=price),
        OrderSubmitted(client_order_id="nb-AAPL-b-1", symbol="AAPL", order_id="V-1", state="submitted"),
        CancelIntent(client_order_id="nb-AAPL-b-1", symbol="AAPL", order_id="V-1", reason="timeout"),
        CancelResult(client_order_id="nb-AAPL-b-1", symbol="AAPL", order_id="V-1", success=True, state="cancelled"),
        OrderFilled(client_order_id="nb-AAPL-b-1", symbol="AAPL", order_id="V-1", state="cancelled",
                    filled_quantity=Decimal(3), avg_fill_price=price),
        OrderIntent(client_order_id="nb-BAD-b-1", symbol="BAD", side="buy", quantity=Decimal(1), limit_price=price),
        OrderFailed(client_order_id="nb-BAD-b-1", symbol="BAD", error_type="rejected", error_message="unknown symbol",
                    retryable=False),
        CronCompleted(window_id="w-2024-01-15"),
        RunCompleted(status="partial", submitted=1, filled=0, failed=1),
        KillRequested(method="graceful", target_pid=4242, trigger_source="command"),
        KillCompleted(method="graceful", orders_cancelled_count=0, orders_remaining_count=0),
        RecoveryAssessed(action="restart", reasons=("all settled",),
                         resolved=(ResolvedOrder(client_order_id="nb-AAPL-b-1", symbol="AAPL", outcome="filled"),)),
        IdempotencyRejection(window_id="w-2024-01-15"),
        TornTailRepaired(line=3, reason="invalid JSON"),
    ]
