"""Live view of orders in flight, on stderr: one line per state change (a TTY also gets a progress bar)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.rebalance.executor import OrderOutcome


class StderrReporter:
    """Implements the executor's Reporter protocol."""

    def __init__(self, total: int) -> None:
        from nanobook_cli.output.console import err, stderr_is_tty

        self.console = err()
        self.bar: Any = None
        if stderr_is_tty() and total > 1:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self.bar = Progress("orders", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                console=self.console, transient=True)
            self.task = self.bar.add_task("orders", total=total)
            self.bar.start()

    def on_order(self, index: int, total: int, outcome: OrderOutcome, note: str) -> None:
        """Print the change; advance the bar when the order reached its final state."""
        from nanobook_cli.output.render import money, qty

        p = outcome.planned
        text = f"[{index}/{total}] {p.action} {qty(p.quantity)} {p.symbol} @ {money(p.limit_price)} → {note}"
        if note != "submitted" and outcome.filled_quantity:
            text += f" {qty(outcome.filled_quantity)} @ {money(outcome.avg_fill_price)}"
        if outcome.error:
            text += f" ({outcome.error})"
        (self.bar.console if self.bar else self.console).print(text, markup=False, highlight=False)
        if self.bar is not None and note != "submitted":
            self.bar.advance(self.task)

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.stop()
