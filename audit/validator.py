"""Structural validation of an audit log: sequence, run framing, intent → result pairing, order lifecycles.

Errors mean the file breaks the write-ahead contract; warnings describe crash leftovers that recovery handles
(dangling intents, runs without run_completed). Seed lines follow the seed's §7.6 rules, with W-A5 fixed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from audit.errors import AuditCorrupt

if TYPE_CHECKING:
    from audit.reader import AuditLog, AuditRecord

__all__ = ["ValidationIssue", "is_valid", "validate"]

Severity = Literal["error", "warning"]
_READ_PAIRS: Final = {
    "account_summary_result": "account_summary_intent",
    "positions_result": "positions_intent",
    "quotes_result": "quotes_intent",
}
# A v1 session may open with these instead of run_started: recover, kill and cron-rejection sessions.
_AUX_OPENERS: Final = frozenset({"recovery_assessed", "kill_requested", "kill_completed", "idempotency_rejection"})
_MAINTENANCE: Final = "torn_tail_repaired"


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One finding: 1-based `line` (None for file-level findings), a stable `code`, and a readable message."""

    line: int | None
    code: str
    message: str
    severity: Severity = "error"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def is_valid(issues: Iterable[ValidationIssue]) -> bool:
    """True when no issue is an error (warnings allowed)."""
    return all(issue.severity != "error" for issue in issues)


def validate(log: AuditLog, *, schema: bool = True) -> list[ValidationIssue]:
    """Check `log` against the audit contract. `schema=True` also validates every v1 line's typed payload."""
    issues: list[ValidationIssue] = []
    if log.torn_tail is not None:
        tail = log.torn_tail
        issues.append(ValidationIssue(tail.line, "torn_tail", f"last line is unreadable: {tail.reason}", "warning"))
    issues.extend(
        ValidationIssue(t.line, "torn_line_repaired", f"torn line acknowledged by the writer: {t.reason}", "warning")
        for t in log.repaired
    )
    _check_sequence(log.records, issues)
    v1 = [record for record in log.records if record.format == "v1"]
    seed = [record for record in log.records if record.format == "seed"]
    if schema:
        for record in v1:
            try:
                _ = record.event
            except AuditCorrupt as exc:
                issues.append(ValidationIssue(record.line, "schema", str(exc).split(": ", 1)[-1]))
    _V1Checker(issues).run(v1)
    _check_seed(seed, issues)
    issues.sort(key=lambda issue: (issue.line or 0, issue.code))
    return issues


def _check_sequence(records: list[AuditRecord], issues: list[ValidationIssue]) -> None:
    previous: int | None = None
    previous_line = 0
    for record in records:
        view = record.view
        if record.format == "seed" and "checkpoint" not in record.raw:
            continue  # the seed's plain events carry no sequence, or a deliberately lower one (cron_*, §7.3)
        seq = view.get("seq")
        if seq is None:
            issues.append(ValidationIssue(record.line, "seq_missing", f"{view['event']} has no sequence number"))
            continue
        if previous is not None and seq <= previous:
            message = f"seq {seq} does not increase (line {previous_line}: {previous})"
            issues.append(ValidationIssue(record.line, "seq_order", message))
        else:
            previous, previous_line = seq, record.line


class _V1Checker:
    """One pass over the v1 records, session by session (a session = consecutive lines with one run_id)."""

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = issues
        self.seen_runs: set[str] = set()
        self.submitted_ever: dict[str, int] = {}  # client_order_id → line of its order_submitted

    def error(self, record: AuditRecord, code: str, message: str) -> None:
        self.issues.append(ValidationIssue(record.line, code, message))

    def warn(self, line: int, code: str, message: str) -> None:
        self.issues.append(ValidationIssue(line, code, message, "warning"))

    def run(self, records: list[AuditRecord]) -> None:
        session: list[AuditRecord] = []
        for record in records:
            if session and record.view["run_id"] != session[0].view["run_id"]:
                self.session(session)
                session = []
            session.append(record)
        if session:
            self.session(session)

    def session(self, records: list[AuditRecord]) -> None:
        run_id: str = records[0].view["run_id"]
        if run_id in self.seen_runs:
            self.error(records[0], "run_interleaved", f"run {run_id} continues after another run started")
        self.seen_runs.add(run_id)
        body = [record for record in records if record.view["event"] != _MAINTENANCE]
        if not body:
            return
        opener = body[0].view["event"]
        if opener != "run_started" and opener not in _AUX_OPENERS:
            self.error(body[0], "run_start", f"run {run_id} starts with {opener}, not run_started")
        reads: dict[str, int] = {}  # open read intents → line
        orders: dict[str, str] = {}  # client_order_id → stage: intent, submitted, failed, terminal
        intent_lines: dict[str, int] = {}
        order_ids: dict[str, str] = {}
        cancels: dict[str, int] = {}
        completed_line: int | None = None
        for record in body:
            view = record.view
            name: str = view["event"]
            coid = view.get("client_order_id")
            if completed_line is not None:
                self.error(record, "after_completed", f"{name} after run_completed (line {completed_line})")
            if name == "run_started" and record is not body[0]:
                self.error(record, "run_restarted", f"second run_started in run {run_id}")
            elif name == "run_completed":
                completed_line = record.line
            elif name in ("account_summary_intent", "positions_intent", "quotes_intent"):
                reads[name] = record.line
            elif name in _READ_PAIRS:
                if reads.pop(_READ_PAIRS[name], None) is None:
                    self.error(record, "result_without_intent", f"{name} without a preceding {_READ_PAIRS[name]}")
            elif isinstance(coid, str):
                self.order_event(record, name, coid, orders, order_ids, cancels)
                if name == "order_intent":
                    intent_lines[coid] = record.line
        for name, line in reads.items():
            self.warn(line, "dangling_intent", f"{name} has no result")
        for coid, stage in orders.items():
            if stage == "intent":
                message = f"order_intent {coid} has no order_submitted/order_failed"
                self.warn(intent_lines[coid], "dangling_intent", message)
        for coid, line in cancels.items():
            self.warn(line, "dangling_intent", f"cancel_intent {coid} has no cancel_result")

    def order_event(
        self,
        record: AuditRecord,
        name: str,
        coid: str,
        orders: dict[str, str],
        order_ids: dict[str, str],
        cancels: dict[str, int],
    ) -> None:
        stage = orders.get(coid)
        view = record.view
        if name == "order_intent":
            if stage in ("submitted", "terminal") or coid in self.submitted_ever:
                self.error(record, "intent_after_submit", f"order_intent {coid} after the order was submitted")
            orders[coid] = "intent"
        elif name in ("order_submitted", "order_failed"):
            if stage != "intent":
                self.error(record, "result_without_intent", f"{name} {coid} without an open order_intent")
            if name == "order_submitted":
                if coid in self.submitted_ever:
                    first = self.submitted_ever[coid]
                    self.error(record, "submitted_twice", f"{coid} already submitted at line {first}")
                self.submitted_ever.setdefault(coid, record.line)
                order_ids[coid] = str(view.get("order_id"))
                orders[coid] = "submitted"
            else:
                orders[coid] = "failed"
        elif name == "order_filled":
            if stage != "submitted" and coid not in self.submitted_ever:
                self.error(record, "fill_without_submit", f"order_filled {coid} without order_submitted")
            elif stage == "terminal":
                self.error(record, "filled_twice", f"order_filled {coid} twice")
            known = order_ids.get(coid)
            if known is not None and known != str(view.get("order_id")):
                self.error(record, "order_id_mismatch", f"order_filled {coid} names order {view.get('order_id')}, "
                                                        f"submitted as {known}")
            orders[coid] = "terminal"
        elif name == "cancel_intent":
            if stage is None and coid not in self.submitted_ever:
                self.warn(record.line, "cancel_unknown_order", f"cancel_intent for {coid}, unknown to this log")
            cancels[coid] = record.line
        elif name == "cancel_result" and cancels.pop(coid, None) is None:
            self.error(record, "result_without_intent", f"cancel_result {coid} without a preceding cancel_intent")


def _check_seed(records: list[AuditRecord], issues: list[ValidationIssue]) -> None:
    """The seed's checkpoint rules (§7.6) per run block; `positions_fetched` satisfies rule 3 (W-A5)."""
    blocks: list[list[AuditRecord]] = [[]]
    for record in records:
        if record.view["event"] == "run_started":
            blocks.append([])
        blocks[-1].append(record)
    prefix, runs = blocks[0], blocks[1:]
    issues.extend(
        ValidationIssue(record.line, "run_start", f"checkpoint {record.view['event']} before any run_started")
        for record in prefix
        if "checkpoint" in record.raw
    )
    for block in runs:
        _check_seed_run(block, issues)


def _check_seed_run(block: list[AuditRecord], issues: list[ValidationIssue]) -> None:
    first_line = block[0].line
    names = [record.view["event"] for record in block]
    diff_at = max((i for i, name in enumerate(names) if name == "diff_computed"), default=None)
    if diff_at is None:
        issues.append(ValidationIssue(first_line, "incomplete_run", "run has no diff_computed", "warning"))
    else:
        before = set(names[:diff_at])
        if "positions_fetched" not in before and "positions_result" not in before:
            issues.append(ValidationIssue(block[diff_at].line, "positions_missing",
                                          "diff_computed without positions_fetched/positions_result before it"))
        orders = block[diff_at].raw.get("orders")
        after = names[diff_at + 1:]
        placed = any(name in ("order_intent", "order_submitted") for name in after)
        if (not isinstance(orders, list) or orders) and placed and "risk_check_passed" not in after:
            issues.append(ValidationIssue(block[diff_at].line, "risk_missing",
                                          "orders placed without risk_check_passed after diff_computed"))
        if isinstance(orders, list) and not orders and "run_completed" in names[:diff_at]:
            issues.append(ValidationIssue(first_line, "completed_before_diff", "run_completed before diff_computed"))
    open_reads: dict[str, int] = {}
    intent_symbols: set[str] = set()
    wal = "order_intent" in names
    open_cancels: dict[str | None, int] = {}
    open_orders: list[AuditRecord] = []
    for record in block:
        view = record.view
        name = view["event"]
        if name in ("account_summary_intent", "positions_intent", "quotes_intent"):
            open_reads[name] = record.line
        elif name in _READ_PAIRS:
            if open_reads.pop(_READ_PAIRS[name], None) is None:
                issues.append(ValidationIssue(record.line, "result_without_intent",
                                              f"{name} without a preceding {_READ_PAIRS[name]}"))
        elif name == "cancel_intent":
            open_cancels[view.get("order_id")] = record.line
        elif name == "cancel_result":
            if open_cancels.pop(view.get("order_id"), None) is None:
                issues.append(ValidationIssue(record.line, "result_without_intent",
                                              "cancel_result without a preceding cancel_intent"))
        elif name == "order_intent":
            if isinstance(view.get("symbol"), str):
                intent_symbols.add(view["symbol"])
            open_orders.append(record)
        elif name in ("order_submitted", "order_failed"):
            if name == "order_submitted" and wal and view.get("symbol") not in intent_symbols:
                issues.append(ValidationIssue(record.line, "result_without_intent",
                                              f"order_submitted {view.get('symbol')} without a preceding order_intent"))
            _close_seed_intent(open_orders, view)
    for intent in open_orders:
        issues.append(ValidationIssue(intent.line, "dangling_intent",
                                      f"order_intent {intent.client_order_id or intent.symbol} has no outcome",
                                      "warning"))
    for name, line in open_reads.items():
        issues.append(ValidationIssue(line, "dangling_intent", f"{name} has no result", "warning"))
    for line in open_cancels.values():
        issues.append(ValidationIssue(line, "dangling_intent", "cancel_intent has no cancel_result", "warning"))


def _close_seed_intent(open_orders: list[AuditRecord], view: dict[str, Any]) -> None:
    # Seed outcomes name the order by client id, else symbol, else not at all (then it follows its intent).
    for key in ("client_order_id", "symbol"):
        wanted = view.get(key)
        if isinstance(wanted, str):
            for i in range(len(open_orders) - 1, -1, -1):
                if open_orders[i].view.get(key) == wanted:
                    del open_orders[i]
                    return
    if open_orders and not isinstance(view.get("client_order_id"), str) and not isinstance(view.get("symbol"), str):
        open_orders.pop()
