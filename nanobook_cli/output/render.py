"""Rich renderings of engine results for people: plan, risk panel, execution summary, reconcile, positions.

Colour is never the only cue: every row also carries the sign and the action word. Pure functions of data.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from engine.brokers.base import Account, Position
    from engine.rebalance.executor import ExecutionResult
    from engine.rebalance.plan import Plan
    from engine.rebalance.reconcile import ReconcileReport

_SIDE_STYLE = {"buy": "green", "sell": "red"}
_STATUS_STYLE = {"PASS": "green", "WARN": "yellow", "FAIL": "bold red"}


def money(value: Decimal | None, places: int = 2) -> str:
    """$1,234.56 (negative as -$1,234.56); an em dash for None."""
    if value is None:
        return "—"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{places}f}"


def qty(value: Decimal) -> str:
    """Quantity with thousands separators and only the decimals it has."""
    normal = value.normalize()
    if normal == normal.to_integral_value():
        return f"{int(normal):,}"
    return f"{normal:,f}"


def pct(value: Decimal) -> str:
    """Weight as a percentage with 2 decimals."""
    return f"{value * 100:.2f}%"


def styled(text: str, style: str) -> Any:
    """A Text cell (consoles run with markup off so data can never be read as markup)."""
    from rich.text import Text

    return Text(text, style=style)


def make_table(title: str, columns: Iterable[tuple[str, str]]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for name, justify in columns:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    return table


def plan_table(plan: Plan) -> Any:
    """One row per order, in execution order (sells first)."""
    table = make_table("Orders", [("#", "right"), ("action", "left"), ("symbol", "left"), ("held → target", "right"),
                              ("Δ qty", "right"), ("mid", "right"), ("limit", "right"), ("notional", "right"),
                              ("weight now → target", "right"), ("why", "left")])
    for i, o in enumerate(plan.orders, start=1):
        sign = "+" if o.side == "buy" else "−"
        style = _SIDE_STYLE[o.side]
        held = f"{qty(o.current_quantity)} → {qty(o.target_quantity)}"
        table.add_row(str(i), styled(o.action, style), o.symbol, held, styled(f"{sign}{qty(o.quantity)}", style),
                      money(o.reference_price), money(o.limit_price), money(o.notional),
                      f"{pct(o.current_weight)} → {pct(o.target_weight)}", o.reason)
    return table


def risk_table(rows: Iterable[dict[str, Any]]) -> Any:
    """PASS/WARN/FAIL per check with its limit and value."""
    table = make_table("Risk checks", [("status", "left"), ("check", "left"), ("value", "right"), ("limit", "right")])
    for row in rows:
        status = str(row.get("status", ""))
        value = str(row.get("value") or "")
        # Failures and warnings need their explanation; a PASS row is clear from value and limit.
        if status != "PASS" or not value:
            value = str(row.get("detail", "")) or value
        table.add_row(styled(status, _STATUS_STYLE.get(status, "")), str(row.get("name", "")), value,
                      str(row.get("limit") or ""))
    return table


def plan_tally(plan: Plan) -> str:
    """Terraform-style one-line summary."""
    buys = sum(1 for o in plan.orders if o.side == "buy")
    sells = len(plan.orders) - buys
    turnover = plan.turnover()
    share = turnover / plan.equity * 100 if plan.equity > 0 else Decimal(0)
    net = sum((o.notional if o.side == "sell" else -o.notional for o in plan.orders), Decimal(0))
    return (f"Plan: {buys} buy, {sells} sell, {len(plan.skipped)} skipped · turnover {money(turnover)} "
            f"({share:.1f}% of equity {money(plan.equity)}) · cash {money(plan.cash)} → ≈{money(plan.cash + net)}")


def render_plan(console: Console, plan: Plan, *, saved_to: str | None = None) -> None:
    """Full plan: orders, skipped symbols, warnings, risk, tally and the next command."""
    unpriced = [k.symbol for k in plan.skipped if k.reason in ("stale_quote", "no_price")]
    if plan.orders:
        console.print(plan_table(plan))
    elif unpriced:
        console.print(styled(f"No orders could be planned for {len(unpriced)} symbol(s) without a usable quote "
                             f"({', '.join(unpriced)}): the account was NOT checked against them.", "bold red"))
    else:
        console.print("No trades: the account already matches the target (within lots, minimum notional "
                      "and tolerance).")
    banded = [s.symbol for s in plan.skipped if s.reason == "within_tolerance"]
    if banded:
        console.print(styled(f"within the tolerance band (no trade): {', '.join(banded)}", "dim"))
    for skip in plan.skipped:
        if skip.reason != "within_tolerance":
            console.print(styled(f"skipped {skip.symbol}: {skip.detail}", "yellow"))
    for warning in plan.warnings:
        console.print(styled(f"warning: {warning}", "yellow"))
    if plan.orders:
        console.print(risk_table(plan.risk))
    console.print(plan_tally(plan))
    if saved_to:
        console.print(f"Saved to {saved_to}. Execute exactly this plan with: nanobook run --plan {saved_to}")


def execution_table(result: ExecutionResult) -> Any:
    """Final state of every order of a run."""
    table = make_table("Execution", [("#", "right"), ("action", "left"), ("symbol", "left"), ("ordered", "right"),
                                 ("filled", "right"), ("avg price", "right"), ("state", "left"),
                                 ("client order id", "left")])
    for i, o in enumerate(result.outcomes, start=1):
        style = "green" if o.state == "filled" else "yellow" if o.state in ("partially_filled", "cancelled") \
            else "bold red"
        table.add_row(str(i), o.planned.action, o.planned.symbol, qty(o.planned.quantity), qty(o.filled_quantity),
                      money(o.avg_fill_price), styled(o.state + (f" ({o.error})" if o.error else ""), style),
                      o.planned.client_order_id)
    return table


def reconcile_table(report: ReconcileReport) -> Any:
    """Target vs actual per symbol with drift in bp."""
    table = make_table("Reconcile", [("symbol", "left"), ("target", "right"), ("actual", "right"), ("drift", "right"),
                                 ("target qty", "right"), ("actual qty", "right"), ("value", "right"),
                                 ("status", "left")])
    for r in report.rows:
        style = "green" if r.status == "OK" else "bold red"
        table.add_row(r.symbol, pct(r.target_weight), pct(r.actual_weight), f"{r.drift_bps:+.1f} bp",
                      qty(r.target_quantity), qty(r.actual_quantity), money(r.value), styled(r.status, style))
    return table


def positions_table(account: Account, positions: Iterable[Position], prices: dict[str, Decimal]) -> Any:
    """Holdings valued at mid with their weight of equity."""
    table = make_table(f"Account {account.account_id} ({account.kind}, {'paper' if account.paper else 'LIVE'}) · "
                   f"equity {money(account.equity)} · cash {money(account.cash)}",
                   [("symbol", "left"), ("quantity", "right"), ("avg cost", "right"), ("price", "right"),
                    ("value", "right"), ("weight", "right")])
    for p in sorted(positions, key=lambda p: p.symbol):
        price = prices.get(p.symbol)
        value = p.quantity * price if price is not None else None
        weight = pct(value / account.equity) if value is not None and account.equity > 0 else "—"
        table.add_row(p.symbol, qty(p.quantity), money(p.avg_cost), money(price), money(value), weight)
    return table
