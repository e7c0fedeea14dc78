"""Rich rendering of an order-book snapshot: bids and asks side by side (price, quantity, order count).

Takes the engine's level snapshots and returns a renderable; it never prints and never touches a book.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import RenderableType

    from engine.lob.results import LevelSnapshot


def book_table(bids: Sequence[LevelSnapshot], asks: Sequence[LevelSnapshot], title: str | None = None
               ) -> RenderableType:
    """Best levels on the inside row; bids on the left (green), asks on the right (red)."""
    from rich.table import Table
    from rich.text import Text

    from engine.lob.types import format_price

    if not bids and not asks:
        return Text("book is empty")
    table = Table(title=title, show_edge=False, title_justify="left")
    for name, style in (("orders", "green"), ("bid qty", "green"), ("bid", "bold green"),
                        ("ask", "bold red"), ("ask qty", "red"), ("orders", "red")):
        table.add_column(name, justify="right", style=style)
    for i in range(max(len(bids), len(asks))):
        b = bids[i] if i < len(bids) else None
        a = asks[i] if i < len(asks) else None
        table.add_row(
            f"{b.order_count:,}" if b else "", f"{b.quantity:,}" if b else "", format_price(b.price) if b else "",
            format_price(a.price) if a else "", f"{a.quantity:,}" if a else "", f"{a.order_count:,}" if a else "")
    return table
