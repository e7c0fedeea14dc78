"""Synthetic v1 audit logs for size tests and the read+decide benchmark (same line shapes the writer emits)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from audit.events import (
    AccountSummaryIntent,
    AccountSummaryResult,
    AuditEnvelope,
    DiffComputed,
    DiffOrder,
    OrderFilled,
    OrderIntent,
    OrderSubmitted,
    PositionEntry,
    PositionsIntent,
    PositionsResult,
    QuoteEntry,
    QuotesIntent,
    QuotesResult,
    RiskCheck,
    RiskCheckItem,
    RunCompleted,
    RunStarted,
    UserConfirmed,
)

SYMBOLS = ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM", "V", "XOM")
START = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)
_RUN_TOKEN = 9999999  # rendered into ids once, then replaced by the real run number per line
_SEQ_TOKEN = 123456789


def _run_events(run: int, orders: int) -> list[AuditEnvelope]:
    symbols = SYMBOLS[:orders]
    ids = [f"r{run:07d}-{symbol}-b" for symbol in symbols]
    price = Decimal("101.25")
    events: list[AuditEnvelope] = [
        RunStarted(command="run", target_path="target.json", target_sha256="a" * 64, config_sha256="b" * 64,
                   broker="sim", account_id="SIM-0001", dry_run=False),
        AccountSummaryIntent(),
        AccountSummaryResult(cash=Decimal("100000.00"), equity=Decimal("250000.00"),
                             buying_power=Decimal("100000.00"), currency="USD"),
        PositionsIntent(),
        PositionsResult(positions=tuple(PositionEntry(symbol=s, quantity=Decimal(10), avg_cost=price)
                                        for s in symbols)),
        QuotesIntent(symbols=symbols),
        QuotesResult(quotes=tuple(QuoteEntry(symbol=s, bid=price, ask=price + 1, last=price, ts=START, live=True)
                                  for s in symbols)),
        DiffComputed(orders=tuple(DiffOrder(client_order_id=c, symbol=s, side="buy", quantity=Decimal(5),
                                            limit_price=price, action="increase", reason="underweight")
                                  for c, s in zip(ids, symbols, strict=True))),
        RiskCheck(passed=True, checks=(RiskCheckItem(name="Max position", status="PASS", detail="ok"),)),
        UserConfirmed(approved=True, plan_sha256="c" * 64, method="flag"),
    ]
    for coid, symbol in zip(ids, symbols, strict=True):
        events += [
            OrderIntent(client_order_id=coid, symbol=symbol, side="buy", quantity=Decimal(5), limit_price=price),
            OrderSubmitted(client_order_id=coid, symbol=symbol, order_id=f"{run}{symbol}", state="submitted"),
            OrderFilled(client_order_id=coid, symbol=symbol, order_id=f"{run}{symbol}", state="filled",
                        filled_quantity=Decimal(5), avg_fill_price=price),
        ]
    events.append(RunCompleted(status="ok", submitted=orders, filled=orders, failed=0))
    return events


def synthetic_lines(n_lines: int, orders_per_run: int = 10) -> Iterator[str]:
    """Exactly `n_lines` JSON lines (no newline): complete runs, then whatever part of a run fits.

    When the last run is cut inside its order phase the log-only decision is resume or manual_review; seq
    increases by one per line, timestamps by one second. Lines are rendered from one run of real models.
    """
    templates = []
    for event in _run_events(_RUN_TOKEN, orders_per_run):
        data = event.model_dump(mode="json")
        data.update(run_id=f"run-{_RUN_TOKEN}", seq=_SEQ_TOKEN, ts="@TS@")
        templates.append(json.dumps(data, separators=(",", ":")))
    per_run = len(templates)
    for seq in range(1, n_lines + 1):
        run, index = divmod(seq - 1, per_run)
        ts = (START + timedelta(seconds=seq)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        yield (templates[index].replace(str(_RUN_TOKEN), f"{run:07d}")
               .replace(str(_SEQ_TOKEN), str(seq)).replace("@TS@", ts))


def synthetic_bytes(n_lines: int, orders_per_run: int = 10) -> bytes:
    """The file content for `synthetic_lines` (newline-terminated)."""
    return ("\n".join(synthetic_lines(n_lines, orders_per_run)) + "\n").encode()
