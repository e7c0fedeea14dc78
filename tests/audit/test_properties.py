"""Property: whatever sequence of events the writer appends, the reader gives back exactly those events."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from audit.events import (
    AuditEnvelope,
    CancelResult,
    DiffComputed,
    DiffOrder,
    KillCompleted,
    OrderFailed,
    OrderFilled,
    OrderIntent,
    OrderSubmitted,
    PositionEntry,
    PositionsResult,
    QuoteEntry,
    QuotesResult,
    RunCompleted,
    RunStarted,
)
from audit.reader import read_audit
from audit.validator import validate
from audit.writer import AuditWriter

coids = st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True)
symbols = st.from_regex(r"[A-Z][A-Z0-9.]{0,7}", fullmatch=True)
positive = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1e12"), allow_nan=False,
                       allow_infinity=False)
signed = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, allow_infinity=False)
text = st.text(max_size=40)  # any unicode, including quotes, newlines and U+2028
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
sides = st.sampled_from(["buy", "sell"])

events = st.one_of(
    st.builds(RunStarted, command=text, broker=text, dry_run=st.booleans(), account_id=st.none() | text,
              target_path=st.none() | text),
    st.builds(OrderIntent, client_order_id=coids, symbol=symbols, side=sides, quantity=positive, limit_price=positive,
              attempt=st.integers(1, 9)),
    st.builds(OrderSubmitted, client_order_id=coids, symbol=symbols, order_id=text,
              state=st.sampled_from(["pending", "submitted", "partially_filled", "filled"])),
    st.builds(OrderFailed, client_order_id=coids, symbol=symbols, error_message=text, retryable=st.booleans(),
              error_type=st.sampled_from(["rejected", "permanent", "failed", "ambiguous", "max_retries_exceeded"])),
    st.builds(OrderFilled, client_order_id=coids, symbol=symbols, order_id=text,
              state=st.sampled_from(["filled", "cancelled", "rejected"]),
              filled_quantity=positive | st.just(Decimal(0)), avg_fill_price=st.none() | positive),
    st.builds(CancelResult, client_order_id=coids, symbol=symbols, order_id=text, success=st.booleans(),
              state=st.none() | st.just("cancelled"), error_message=st.none() | text),
    st.builds(PositionsResult, positions=st.lists(st.builds(PositionEntry, symbol=symbols, quantity=signed,
                                                            avg_cost=signed), max_size=3).map(tuple)),
    st.builds(QuotesResult, quotes=st.lists(st.builds(QuoteEntry, symbol=symbols, bid=st.none() | positive,
                                                      ask=st.none() | positive, last=st.none() | positive,
                                                      ts=instants, live=st.booleans()), max_size=3).map(tuple)),
    st.builds(DiffComputed, orders=st.lists(st.builds(DiffOrder, client_order_id=coids, symbol=symbols, side=sides,
                                                      quantity=positive, limit_price=positive, action=text,
                                                      reason=text), max_size=3).map(tuple)),
    st.builds(KillCompleted, method=st.sampled_from(["graceful", "forced"]), orders_cancelled_count=st.integers(0, 9),
              orders_remaining_count=st.integers(0, 9), error_messages=st.lists(text, max_size=2).map(tuple)),
    st.builds(RunCompleted, status=st.sampled_from(["ok", "partial", "failed"]), submitted=st.integers(0, 99),
              filled=st.integers(0, 99), failed=st.integers(0, 99)),
)


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.lists(events, min_size=1, max_size=8), min_size=1, max_size=3))
def test_writer_reader_round_trip(batches: list[list[AuditEnvelope]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = datetime(2024, 1, 15, tzinfo=UTC)
        expected = []
        for run, batch in enumerate(batches):  # several writers: seq must continue across them
            ticks = iter(range(10_000))

            def clock(ticks: Iterator[int] = ticks) -> datetime:
                return start + timedelta(microseconds=next(ticks))

            with AuditWriter("logs/audit.jsonl", f"run-{run}", clock, root=root) as audit:
                for event in batch:
                    line = audit.append(event)
                    expected.append((f"run-{run}", line))
        log = read_audit(root / "logs" / "audit.jsonl")
        assert log.torn_tail is None
        assert [r.seq for r in log.records] == list(range(1, len(expected) + 1))
        assert [r.raw for r in log.records] == [line for _, line in expected]
        originals = [event for batch in batches for event in batch]
        for record, original, (run_id, _) in zip(log.records, originals, expected, strict=True):
            typed = record.event
            assert typed is not None
            assert typed.run_id == run_id
            payload = {k: v for k, v in typed.model_dump().items() if k not in ("run_id", "seq", "ts")}
            assert payload == {k: v for k, v in original.model_dump().items() if k not in ("run_id", "seq", "ts")}
        assert not [issue for issue in validate(log) if issue.code in ("schema", "seq_order", "seq_missing")]
