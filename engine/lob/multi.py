"""`MultiExchange`: one independent `Exchange` per `Symbol` (own counters per symbol), created on demand."""

from __future__ import annotations

from engine.lob.exchange import Exchange
from engine.lob.results import CancelResult, ModifyResult, SubmitResult
from engine.lob.symbol import Symbol


class MultiExchange:
    """Symbol → Exchange map with forwarding helpers, signature-compatible with `nanobook.MultiExchange`.

    Unlike the reference, `get_or_create` returns the live exchange (not a copy), so mutations stick.
    """

    __slots__ = ("_books",)

    def __init__(self) -> None:
        self._books: dict[str, Exchange] = {}

    def get_or_create(self, symbol: str) -> Exchange:
        """The symbol's exchange, created empty on first use (ValueError beyond 8 bytes)."""
        book = self._books.get(symbol)
        if book is None:
            book = self._books[Symbol(symbol)] = Exchange()
        return book

    def get(self, symbol: str) -> Exchange | None:
        """The symbol's exchange, or None (never creates)."""
        return self._books.get(symbol)

    def symbols(self) -> list[Symbol]:
        """Symbols in creation order."""
        return [Symbol(s) for s in self._books]

    def len(self) -> int:
        """Number of symbols (reference method name)."""
        return len(self._books)

    def __len__(self) -> int:
        return len(self._books)

    def is_empty(self) -> bool:
        """True when no symbol has been created."""
        return not self._books

    def best_prices(self) -> list[tuple[Symbol, int | None, int | None]]:
        """(symbol, best bid, best ask) for every symbol, in creation order."""
        return [(Symbol(sym), *book.best_bid_ask()) for sym, book in self._books.items()]

    def submit_limit(self, symbol: str, side: str, price: int, quantity: int, tif: str = "gtc", *,
                     owner: int | None = None, stp_policy: str = "off") -> SubmitResult:
        """Forward a limit order to the symbol's book (creating it)."""
        return self.get_or_create(symbol).submit_limit(side, price, quantity, tif, owner=owner,
                                                       stp_policy=stp_policy)

    def submit_market(self, symbol: str, side: str, quantity: int, *, owner: int | None = None,
                      stp_policy: str = "off") -> SubmitResult:
        """Forward a market order to the symbol's book (creating it)."""
        return self.get_or_create(symbol).submit_market(side, quantity, owner=owner, stp_policy=stp_policy)

    def cancel(self, symbol: str, order_id: int) -> CancelResult:
        """Forward a cancel to the symbol's book (creating it)."""
        return self.get_or_create(symbol).cancel(order_id)

    def modify(self, symbol: str, order_id: int, new_price: int, new_quantity: int) -> ModifyResult:
        """Forward a modify to the symbol's book (creating it)."""
        return self.get_or_create(symbol).modify(order_id, new_price, new_quantity)
