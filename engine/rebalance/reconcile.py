"""Pure reconciliation: holdings vs target weights per symbol, drift in basis points, tolerance verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from engine.brokers.base import BrokerOrder, Position

_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class ReconcileRow:
    """One symbol: target vs actual weight and quantity; status OK / OUT_OF_BAND / UNEXPECTED / MISSING."""

    symbol: str
    target_weight: Decimal
    actual_weight: Decimal
    drift_bps: Decimal
    target_quantity: Decimal
    actual_quantity: Decimal
    price: Decimal | None
    value: Decimal
    status: str


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """Rows sorted by symbol, summary figures and the verdict against `tolerance_bps`."""

    rows: tuple[ReconcileRow, ...]
    equity: Decimal
    cash: Decimal
    cash_weight: Decimal
    tolerance_bps: int
    max_drift_bps: Decimal
    tracking_error_bps: Decimal
    open_orders: tuple[BrokerOrder, ...]

    @property
    def within_tolerance(self) -> bool:
        """Every symbol within the band and nothing still working at the venue."""
        return all(r.status == "OK" for r in self.rows) and not self.open_orders


def reconcile(*, equity: Decimal, cash: Decimal, positions: Mapping[str, Position], prices: Mapping[str, Decimal],
              targets: Mapping[str, Decimal], tolerance_bps: int,
              open_orders: Sequence[BrokerOrder] = ()) -> ReconcileReport:
    """Compare holdings with targets. Drift = actual − target weight, in basis points of equity."""
    rows: list[ReconcileRow] = []
    for symbol in sorted(set(targets) | {s for s, p in positions.items() if p.quantity != 0}):
        weight = targets.get(symbol, Decimal(0))
        qty = positions[symbol].quantity if symbol in positions else Decimal(0)
        price = prices.get(symbol)
        value = qty * price if price is not None else Decimal(0)
        actual = value / equity if equity > 0 else Decimal(0)
        target_qty = (equity * weight / price).to_integral_value(ROUND_DOWN) if price and equity > 0 else Decimal(0)
        drift = (actual - weight) * _BPS
        if price is None:
            status = "NO_PRICE"
        elif weight == 0 and qty != 0:
            status = "UNEXPECTED"
        elif weight != 0 and qty == 0:
            status = "MISSING" if abs(drift) > tolerance_bps else "OK"
        else:
            status = "OK" if abs(drift) <= tolerance_bps else "OUT_OF_BAND"
        rows.append(ReconcileRow(symbol, weight, actual, drift, target_qty, qty, price, value, status))
    drifts = [abs(r.drift_bps) for r in rows]
    te = (sum((d * d for d in drifts), Decimal(0)) / max(len(drifts), 1)).sqrt() if drifts else Decimal(0)
    return ReconcileReport(tuple(rows), equity, cash, cash / equity if equity > 0 else Decimal(0), tolerance_bps,
                           max(drifts, default=Decimal(0)), te, tuple(open_orders))
