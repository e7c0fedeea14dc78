"""A plan: the orders a target implies for one account at one moment, with the fingerprint of its inputs.

`plan --out` saves it; `run --plan` executes exactly it and refuses it when stale (positions or cash changed,
too old, or prices moved beyond a bound). Serialisation is deterministic (same inputs → same bytes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from configs.files import write_atomic
from engine.errors import StalePlanError
from engine.rebalance.diff import PlannedOrder, SkippedSymbol

PLAN_SCHEMA = "nanobook.plan/1"


def fingerprint(*, broker: str, account_id: str, cash: Decimal, positions: Mapping[str, Decimal],
                target_sha256: str, config_sha256: str | None) -> str:
    """SHA-256 of what a plan depends on, except prices (those are checked against a bound instead)."""
    canonical = json.dumps({
        "broker": broker, "account_id": account_id, "cash": _dec(cash),
        "positions": {s: _dec(q) for s, q in sorted(positions.items()) if q != 0},
        "target_sha256": target_sha256, "config_sha256": config_sha256,
    }, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _dec(value: Decimal) -> str:
    """Canonical text of a decimal: 100.50, 100.5 and 1.005E+2 all give "100.5"."""
    return format(value.normalize(), "f")


@dataclass(frozen=True, slots=True)
class Plan:
    """Orders (execution order), skipped symbols, risk rows and the inputs they were computed from."""

    created_at: datetime
    broker: str
    account_id: str
    target_path: str
    target_sha256: str
    config_sha256: str | None
    scope: str
    equity: Decimal
    cash: Decimal
    positions: dict[str, Decimal]
    prices: dict[str, Decimal]
    orders: tuple[PlannedOrder, ...]
    skipped: tuple[SkippedSymbol, ...]
    risk: tuple[dict[str, Any], ...]
    risk_passed: bool
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def fingerprint(self) -> str:
        """Input fingerprint (see `fingerprint`)."""
        return fingerprint(broker=self.broker, account_id=self.account_id, cash=self.cash,
                           positions=self.positions, target_sha256=self.target_sha256,
                           config_sha256=self.config_sha256)

    def turnover(self) -> Decimal:
        """Σ |quantity × limit| over the orders."""
        return sum((o.notional for o in self.orders), Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (Decimals as strings, exact)."""
        return {
            "schema": PLAN_SCHEMA,
            "created_at": self.created_at.isoformat(),
            "broker": self.broker,
            "account_id": self.account_id,
            "target_path": self.target_path,
            "target_sha256": self.target_sha256,
            "config_sha256": self.config_sha256,
            "scope": self.scope,
            "fingerprint": self.fingerprint,
            "equity": str(self.equity),
            "cash": str(self.cash),
            "positions": {s: str(q) for s, q in sorted(self.positions.items())},
            "prices": {s: str(p) for s, p in sorted(self.prices.items())},
            "orders": [order_to_dict(o) for o in self.orders],
            "skipped": [{"symbol": s.symbol, "reason": s.reason, "detail": s.detail} for s in self.skipped],
            "risk": {"passed": self.risk_passed, "checks": list(self.risk)},
            "warnings": list(self.warnings),
        }

    def save(self, path: Path) -> None:
        """Write the plan as pretty JSON with a content hash, atomically; InputError (exit 4) if it cannot."""
        data = self.to_dict()
        data["plan_sha256"] = content_hash(data)
        write_atomic(path, json.dumps(data, indent=2) + "\n", what="plan")

    @staticmethod
    def load(path: Path) -> Plan:
        """Read a saved plan; StalePlanError (exit 4) when it is unreadable or not a nanobook plan."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise StalePlanError(f"cannot read plan {path}: {exc.strerror or exc}") from None
        except RecursionError:
            raise StalePlanError(f"cannot read plan {path}: invalid JSON (nested too deeply)") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StalePlanError(f"cannot read plan {path}: {exc}") from None
        if not isinstance(data, dict) or data.get("schema") != PLAN_SCHEMA:
            raise StalePlanError(f"{path} is not a nanobook plan (schema {PLAN_SCHEMA!r} expected)")
        if data.pop("plan_sha256", None) != content_hash(data):
            raise StalePlanError(f"plan {path} was modified after it was saved (content hash mismatch)")
        try:
            return _plan_from_dict(data)
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise StalePlanError(f"plan {path} is malformed: {exc!r}") from None


def content_hash(data: dict[str, Any]) -> str:
    """SHA-256 of a plan document (without its own hash), so a hand-edited plan is refused."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def order_to_dict(o: PlannedOrder) -> dict[str, Any]:
    """JSON-ready planned order."""
    return {
        "client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side, "action": o.action,
        "quantity": str(o.quantity), "limit_price": str(o.limit_price), "reference_price": str(o.reference_price),
        "notional": str(o.notional), "current_quantity": str(o.current_quantity),
        "target_quantity": str(o.target_quantity), "current_weight": str(o.current_weight),
        "target_weight": str(o.target_weight), "reason": o.reason, "leg": o.leg,
    }


def _order_from_dict(d: dict[str, Any]) -> PlannedOrder:
    return PlannedOrder(
        client_order_id=d["client_order_id"], symbol=d["symbol"], side=d["side"], action=d["action"],
        quantity=Decimal(d["quantity"]), limit_price=Decimal(d["limit_price"]),
        reference_price=Decimal(d["reference_price"]), current_quantity=Decimal(d["current_quantity"]),
        target_quantity=Decimal(d["target_quantity"]), current_weight=Decimal(d["current_weight"]),
        target_weight=Decimal(d["target_weight"]), reason=d["reason"], leg=d["leg"],
    )


def _plan_from_dict(d: dict[str, Any]) -> Plan:
    plan = Plan(
        created_at=datetime.fromisoformat(d["created_at"]), broker=d["broker"], account_id=d["account_id"],
        target_path=d["target_path"], target_sha256=d["target_sha256"], config_sha256=d["config_sha256"],
        scope=d["scope"], equity=Decimal(d["equity"]), cash=Decimal(d["cash"]),
        positions={s: Decimal(q) for s, q in d["positions"].items()},
        prices={s: Decimal(p) for s, p in d["prices"].items()},
        orders=tuple(_order_from_dict(o) for o in d["orders"]),
        skipped=tuple(SkippedSymbol(s["symbol"], s["reason"], s["detail"]) for s in d["skipped"]),
        risk=tuple(d["risk"]["checks"]), risk_passed=bool(d["risk"]["passed"]),
        warnings=tuple(d.get("warnings", ())),
    )
    if plan.fingerprint != d["fingerprint"]:
        raise ValueError("fingerprint does not match the plan's inputs (edited by hand?)")
    return plan


def check_fresh(plan: Plan, *, now: datetime, broker: str, account_id: str, cash: Decimal,
                positions: Mapping[str, Decimal], prices: Mapping[str, Decimal], target_sha256: str,
                config_sha256: str | None, max_age_s: float, max_reprice_bps: int) -> None:
    """Raise StalePlanError listing every reason the saved plan no longer applies."""
    reasons: list[str] = []
    age = (now - plan.created_at).total_seconds()
    if age > max_age_s:
        reasons.append(f"plan is {age:.0f}s old (max {max_age_s:.0f}s)")
    if age < -5:
        reasons.append("plan was created in the future (clock skew?)")
    current = fingerprint(broker=broker, account_id=account_id, cash=cash, positions=positions,
                          target_sha256=target_sha256, config_sha256=config_sha256)
    if current != plan.fingerprint:
        reasons.extend(_fingerprint_diff(plan, broker, account_id, cash, positions, target_sha256, config_sha256))
    for order in plan.orders:
        now_px = prices.get(order.symbol)
        if now_px is None:
            reasons.append(f"{order.symbol}: no current price")
            continue
        moved = abs(now_px - order.reference_price) / order.reference_price * 10_000
        if moved > max_reprice_bps:
            reasons.append(f"{order.symbol}: price moved {moved:.0f} bp (max {max_reprice_bps} bp)")
    if reasons:
        raise StalePlanError("saved plan is stale: " + "; ".join(reasons) + " — run `nanobook plan` again")


def _fingerprint_diff(plan: Plan, broker: str, account_id: str, cash: Decimal, positions: Mapping[str, Decimal],
                      target_sha256: str, config_sha256: str | None) -> list[str]:
    """Every input that differs from the plan's, in words."""
    reasons = []
    if (broker, account_id) != (plan.broker, plan.account_id):
        reasons.append(f"account changed ({plan.broker}:{plan.account_id} → {broker}:{account_id})")
    if target_sha256 != plan.target_sha256:
        reasons.append("target file changed since the plan was made")
    if config_sha256 != plan.config_sha256:
        reasons.append("config changed since the plan was made")
    if cash.compare_total(plan.cash) != 0 and cash != plan.cash:
        reasons.append(f"cash changed ({plan.cash} → {cash})")
    changed = sorted(s for s in set(plan.positions) | set(positions)
                     if plan.positions.get(s, Decimal(0)) != positions.get(s, Decimal(0)))
    if changed:
        reasons.append("positions changed: " + ", ".join(changed[:5]) + (" …" if len(changed) > 5 else ""))
    return reasons
