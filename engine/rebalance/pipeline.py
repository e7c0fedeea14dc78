"""Plan construction as explicit steps: snapshot → staleness → diff → risk gate → Plan.

Used by `plan` (no audit) and by `run` (each broker read wrapped in an audited step). Returns data only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from configs.models import NanobookConfig, RiskSettings
from configs.target import TargetFile, effective_risk
from engine.brokers.base import Broker
from engine.rebalance.diff import DiffResult, DiffSettings, PlannedOrder, compute_diff
from engine.rebalance.plan import Plan
from engine.rebalance.snapshot import Snapshot, StepRunner, _direct, stale_quotes, take_snapshot
from engine.risk import ProposedOrder, RiskEngine, RiskLimits, RiskReport


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """What a plan is computed from (paths and hashes identify the exact files used)."""

    target: TargetFile
    target_path: Path
    target_sha256: str
    config: NanobookConfig
    config_sha256: str | None
    broker_kind: str


def target_weights(target: TargetFile) -> dict[str, Decimal]:
    """Symbol (upper-case, as venues list them) → weight."""
    return {t.symbol.upper(): t.weight for t in target.targets}


def risk_limits(risk: RiskSettings) -> RiskLimits:
    """Map the `[risk]` settings onto the risk engine's limits."""
    def exact(value: float) -> Decimal:
        return Decimal(str(value))  # config floats are short decimals; repr round-trips them exactly

    return RiskLimits(
        max_position_pct=exact(risk.max_position_pct), max_leverage=exact(risk.max_leverage),
        max_short_pct=exact(risk.max_short_pct), allow_short=risk.allow_short,
        min_trade_notional=risk.min_trade_notional, max_trade_notional=risk.max_trade_notional,
        max_order_value=risk.max_order_value,
        max_batch_value=risk.max_batch_value,
    )


def diff_for(snapshot: Snapshot, inputs: PlanInputs, risk: RiskSettings, stale: frozenset[str]) -> DiffResult:
    """Run the pure diff on a snapshot."""
    execution = inputs.config.execution
    settings = DiffSettings(limit_offset_bps=execution.limit_offset_bps, min_trade_notional=risk.min_trade_notional,
                            cash_buffer_pct=Decimal(str(execution.cash_buffer_pct)),
                            tolerance_bps=execution.tolerance_bps)
    return compute_diff(equity=snapshot.account.equity, positions=snapshot.positions, quotes=snapshot.quotes,
                        instruments=snapshot.instruments, targets=target_weights(inputs.target), settings=settings,
                        scope=inputs.target.scope, account_id=snapshot.account.account_id, stale=stale)


def risk_gate(snapshot: Snapshot, diff: DiffResult, inputs: PlanInputs, risk: RiskSettings) -> RiskReport:
    """Check the whole batch against the effective limits."""
    return _check_orders(snapshot, diff.orders, inputs, risk)


def recheck_risk(snapshot: Snapshot, orders: Sequence[PlannedOrder], inputs: PlanInputs) -> RiskReport:
    """Risk-check a saved plan's orders against a fresh snapshot."""
    risk = effective_risk(inputs.config.risk, inputs.target.constraints, source=str(inputs.target_path))
    return _check_orders(snapshot, orders, inputs, risk)


def _check_orders(snapshot: Snapshot, planned: Sequence[PlannedOrder], inputs: PlanInputs,
                  risk: RiskSettings) -> RiskReport:
    orders = [ProposedOrder(o.symbol, o.side, o.quantity, o.limit_price) for o in planned]
    account = snapshot.account
    return RiskEngine.from_limits(risk_limits(risk)).check_plan(
        orders, equity=account.equity, cash=account.cash, buying_power=account.buying_power,
        account_kind=account.kind, positions=snapshot.quantities(), prices=snapshot.mids(),
        target_weights=target_weights(inputs.target))


def build_plan(broker: Broker, inputs: PlanInputs, clock: Callable[[], datetime],
               step: StepRunner = _direct) -> tuple[Plan, Snapshot]:
    """Snapshot the account and turn the target into a risk-checked plan."""
    snapshot = take_snapshot(broker, sorted(target_weights(inputs.target)), clock, step)
    stale = stale_quotes(snapshot.quotes, snapshot.taken_at, inputs.config.execution.quote_max_age_s)
    risk = effective_risk(inputs.config.risk, inputs.target.constraints, source=str(inputs.target_path))
    diff = diff_for(snapshot, inputs, risk, frozenset(stale))
    report = risk_gate(snapshot, diff, inputs, risk)
    warnings = [f"{symbol}: {why}" for symbol, why in sorted(stale.items())]
    if diff.long_scale < 1:
        warnings.append(f"long targets scaled by {diff.long_scale:.4f} to keep the cash buffer")
    if len(diff.orders) > inputs.config.execution.max_orders_per_run:
        warnings.append(f"{len(diff.orders)} orders exceed max_orders_per_run="
                        f"{inputs.config.execution.max_orders_per_run}; `run` will refuse this plan")
    if snapshot.open_orders:
        warnings.append(f"{len(snapshot.open_orders)} order(s) already working at the venue")
    plan = Plan(
        created_at=snapshot.taken_at, broker=inputs.broker_kind, account_id=snapshot.account.account_id,
        target_path=str(inputs.target_path), target_sha256=inputs.target_sha256, config_sha256=inputs.config_sha256,
        scope=inputs.target.scope, equity=snapshot.account.equity, cash=snapshot.account.cash,
        positions=snapshot.quantities(), prices=snapshot.mids(), orders=diff.orders, skipped=diff.skipped,
        risk=tuple(report.to_dicts()), risk_passed=report.passed, warnings=tuple(warnings),
    )
    return plan, snapshot
