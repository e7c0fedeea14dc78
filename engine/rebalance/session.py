"""One audited `run`, as explicit steps the CLI calls in order (it asks for confirmation in between).

    open (lock + pid file) → preflight (recovery, cron window) → prepare (audited snapshot, plan or saved
    plan checked for staleness) → gate (diff_computed, risk_check) → confirm → execute → finish

Every broker read is wrapped in an intent/result audit pair; every state-changing call is written ahead.
Never prompts or prints; returns data and raises the engine's errors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from audit.reader import read_audit
from audit.writer import AuditWriter
from configs.target import window_id
from engine.brokers.base import Broker
from engine.errors import RecoveryRequired, RiskRejected
from engine.rebalance.executor import ExecutionResult, ExecutionSettings, Executor, Reporter, StopSignal
from engine.rebalance.pidfile import PID_FILE
from engine.rebalance.pipeline import PlanInputs, build_plan, recheck_risk
from engine.rebalance.plan import Plan, check_fresh, order_to_dict
from engine.rebalance.recovery import decide_from_log, reconstruct
from engine.rebalance.snapshot import Snapshot

T = TypeVar("T")


def new_run_id(clock: Callable[[], datetime]) -> str:
    """Sortable, unique run id: UTC time plus random suffix."""
    return clock().strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


@dataclass(slots=True)
class RunOutcome:
    """How a run ended (for rendering and the exit code)."""

    status: str                       # ok | partial | interrupted | declined | no_changes | risk_rejected | skipped
    plan: Plan | None = None
    result: ExecutionResult | None = None
    message: str = ""


class RunSession:
    """Holds the audit writer, the broker and the run id for one `run` invocation."""

    def __init__(self, inputs: PlanInputs, broker: Broker, clock: Callable[[], datetime],
                 root: Path | None = None) -> None:
        self.inputs = inputs
        self.broker = broker
        self.clock = clock
        self.root = root or Path.cwd()
        self.run_id = new_run_id(clock)
        self.audit_path = self.root / inputs.config.audit.path
        self.audit: AuditWriter | None = None
        self.snapshot: Snapshot | None = None
        self.window: str | None = None
        self.started = False
        self.finished = False

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> RunSession:
        self.audit = AuditWriter(self.audit_path, self.run_id, self.clock, root=self.root)
        self.audit.__enter__()
        self._write_pid_file()
        return self

    def __exit__(self, *exc: object) -> None:
        (self.root / PID_FILE).unlink(missing_ok=True)
        if self.audit is not None:
            self.audit.__exit__(None, None, None)

    def _write_pid_file(self) -> None:
        path = self.root / PID_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"pid": os.getpid(), "run_id": self.run_id,
                                    "started_at": self.clock().isoformat(),
                                    "audit_path": str(self.audit_path)}) + "\n", encoding="utf-8")

    def log(self, event: dict[str, Any]) -> None:
        """Append one audit event (durable before return)."""
        assert self.audit is not None, "RunSession used outside its context"
        self.audit.append(event)

    # ------------------------------------------------------------------ steps

    def preflight(self) -> None:
        """Refuse to start over an incomplete previous run (its orders may still be live)."""
        if not self.audit_path.exists():
            return
        decision = decide_from_log(reconstruct(read_audit(self.audit_path)))
        if decision.action != "restart":
            reasons = "; ".join(decision.reasons) or decision.action
            raise RecoveryRequired(f"the previous run is incomplete ({decision.action}: {reasons}); "
                                   "run `nanobook recover` first")

    def start(self, command: str, dry_run: bool = False) -> None:
        """run_started."""
        self.started = True
        self.log({"event": "run_started", "command": command, "target_path": str(self.inputs.target_path),
                  "target_sha256": self.inputs.target_sha256, "config_sha256": self.inputs.config_sha256,
                  "broker": self.inputs.broker_kind, "account_id": "", "dry_run": dry_run})

    def _step(self, name: str, fn: Callable[[], T], **intent: object) -> T:
        self.log({"event": f"{name}_intent", **intent})
        value = fn()
        self.log({"event": f"{name}_result", **_result_payload(name, value)})
        return value

    def prepare(self, saved: Plan | None) -> Plan:
        """Audited snapshot, then a fresh plan — or the saved plan, refused if stale."""
        plan, snapshot = build_plan(self.broker, self.inputs, self.clock, step=self._step)
        self.snapshot = snapshot
        if saved is None:
            return plan
        ex = self.inputs.config.execution
        check_fresh(saved, now=snapshot.taken_at, broker=self.inputs.broker_kind,
                    account_id=snapshot.account.account_id, cash=snapshot.account.cash,
                    positions=snapshot.quantities(), prices=snapshot.mids(),
                    target_sha256=self.inputs.target_sha256, config_sha256=self.inputs.config_sha256,
                    max_age_s=ex.plan_max_age_s, max_reprice_bps=ex.max_reprice_bps)
        # A saved file is input, not proof: its orders are risk-checked again against today's account.
        report = recheck_risk(snapshot, saved.orders, self.inputs)
        return dataclasses.replace(saved, risk=tuple(report.to_dicts()), risk_passed=report.passed)

    def cron_window_done(self) -> bool:
        """Cron mode: True (and logged) when this target's window already completed for this account."""
        assert self.snapshot is not None
        self.window = window_id(self.inputs.target, self.snapshot.account.account_id)
        if not self.audit_path.exists():
            return False
        done = any(r.raw.get("event") == "cron_completed" and r.raw.get("window_id") == self.window
                   for r in read_audit(self.audit_path).records)
        if done:
            self.log({"event": "idempotency_rejection", "window_id": self.window})
        return done

    def gate(self, plan: Plan) -> None:
        """diff_computed and risk_check; RiskRejected when a check failed or the order cap is exceeded."""
        self.log({"event": "diff_computed", "orders": [order_to_dict(o) for o in plan.orders],
                  "skipped": [{"symbol": s.symbol, "reason": s.reason} for s in plan.skipped]})
        cap = self.inputs.config.execution.max_orders_per_run
        checks = list(plan.risk)
        passed = plan.risk_passed and len(plan.orders) <= cap
        if len(plan.orders) > cap:
            checks.append({"name": "Order cap", "status": "FAIL",
                           "detail": f"{len(plan.orders)} orders > max_orders_per_run {cap}"})
        self.log({"event": "risk_check", "passed": passed, "checks": checks})
        if not passed:
            failed = [c for c in checks if c.get("status") == "FAIL"]
            raise RiskRejected("risk check failed: " + "; ".join(f"{c['name']}: {c.get('detail', '')}"
                                                                for c in failed))

    def confirmed(self, approved: bool, plan: Plan, method: str) -> None:
        """Record the operator's answer (plan hash included)."""
        self.log({"event": "user_confirmed", "approved": approved, "plan_sha256": plan.fingerprint,
                  "method": method})

    def execute(self, plan: Plan, settings: ExecutionSettings, sleep: Callable[[float], None],
                stop: StopSignal, reporter: Reporter | None) -> ExecutionResult:
        """Place the plan's orders through the write-ahead executor."""
        assert self.audit is not None
        executor = Executor(self.broker, self.audit, settings, self.clock, sleep, stop, reporter)
        return executor.execute([dataclasses.replace(o, client_order_id=run_order_id(o.client_order_id, self.run_id))
                                 for o in plan.orders])

    def finish(self, outcome: RunOutcome) -> None:
        """cron_completed (cron mode, fully done) and run_completed (once)."""
        if self.finished:
            return
        self.finished = True
        result = outcome.result
        if self.window is not None and outcome.status == "ok":
            self.log({"event": "cron_completed", "window_id": self.window})
        self.log({"event": "run_completed", "status": outcome.status,
                  "submitted": result.submitted if result else 0, "filled": result.filled if result else 0,
                  "failed": result.failed if result else 0})


def run_order_id(plan_order_id: str, run_id: str) -> str:
    """The client order id sent to the venue: the plan's id keyed by this run.

    Retries within a run reuse it (the venue refuses a second booking); a later run, allowed only once
    recovery found nothing in flight, gets fresh ids, so an order a previous run cancelled can be placed again.
    """
    return "nb" + hashlib.sha256(f"{plan_order_id}\x00{run_id}".encode()).hexdigest()[:30]


def _result_payload(name: str, value: Any) -> dict[str, Any]:
    if name == "account_summary":
        return {"cash": value.cash, "equity": value.equity, "buying_power": value.buying_power,
                "currency": value.currency}
    if name == "positions":
        return {"positions": [{"symbol": p.symbol, "quantity": p.quantity, "avg_cost": p.avg_cost} for p in value]}
    if name == "quotes":
        return {"quotes": [{"symbol": q.symbol, "bid": q.bid, "ask": q.ask, "last": q.last, "ts": q.ts,
                            "live": q.live} for q in value.values()]}
    return {}
