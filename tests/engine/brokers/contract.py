"""A reusable Broker contract suite: subclass `BrokerContract`, provide the `broker` fixture, name it Test*.

It needs a listed `symbol` with two-sided quotes and enough cash to buy a few shares; prices are derived from the
broker's own quotes (a buy far below the bid rests, a buy a little above the ask fills). Override
`venue_order_count` when the venue can list every order it received (then "exactly one" is checked there too).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import ClassVar

import pytest

from engine.brokers.base import (
    Account,
    Broker,
    BrokerOrder,
    Fill,
    Instrument,
    OrderRequest,
    OrderState,
    Position,
    Quote,
)
from engine.errors import UnknownSymbol


class BrokerContract:
    """The behaviour every Broker adapter must show (DESIGN §3.2)."""

    symbol: ClassVar[str] = "AAPL"
    unlisted: ClassVar[str] = "ZZZNOTLISTED"
    quantity: ClassVar[Decimal] = Decimal(2)

    @pytest.fixture
    def broker(self) -> Iterator[Broker]:
        raise NotImplementedError("subclasses provide a fresh broker per test")

    def venue_order_count(self, broker: Broker, client_order_id: str) -> int | None:
        """How many orders the venue holds under this client id (None: the venue cannot tell)."""
        return None

    # ------------------------------------------------------------------ helpers

    def _instrument(self, broker: Broker) -> Instrument:
        return broker.instruments([self.symbol])[self.symbol]

    def resting_buy_price(self, broker: Broker) -> Decimal:
        tick = self._instrument(broker).tick_size
        bid = broker.quotes([self.symbol])[self.symbol].bid
        assert bid is not None
        return max(tick, (bid * Decimal("0.90") / tick).to_integral_value(ROUND_FLOOR) * tick)

    def marketable_buy_price(self, broker: Broker) -> Decimal:
        tick = self._instrument(broker).tick_size
        ask = broker.quotes([self.symbol])[self.symbol].ask
        assert ask is not None
        return (ask * Decimal("1.002") / tick).to_integral_value(ROUND_CEILING) * tick

    def request(self, cid: str, price: Decimal, side: str = "buy", qty: Decimal | None = None) -> OrderRequest:
        return OrderRequest(client_order_id=cid, symbol=self.symbol, side=side,  # type: ignore[arg-type]
                            quantity=qty if qty is not None else self.quantity, limit_price=price, time_in_force="gtc")

    def rest(self, broker: Broker, cid: str) -> BrokerOrder:
        return broker.place_limit(self.request(cid, self.resting_buy_price(broker)))

    def fill(self, broker: Broker, cid: str) -> BrokerOrder:
        return broker.place_limit(self.request(cid, self.marketable_buy_price(broker)))

    # ------------------------------------------------------------------ shape

    def test_is_a_broker(self, broker: Broker) -> None:
        assert isinstance(broker, Broker)
        assert isinstance(broker.name, str)
        assert broker.name

    def test_account_shape(self, broker: Broker) -> None:
        account = broker.account()
        assert isinstance(account, Account)
        for amount in (account.cash, account.equity, account.buying_power):
            assert isinstance(amount, Decimal)
            assert amount.is_finite()
        assert account.equity >= 0
        assert account.currency
        assert account.kind in ("cash", "margin")

    def test_positions_shape(self, broker: Broker) -> None:
        positions = broker.positions()
        assert isinstance(positions, list)
        for p in positions:
            assert isinstance(p, Position)
            assert p.quantity != 0

    def test_quotes_shape(self, broker: Broker) -> None:
        quotes = broker.quotes([self.symbol])
        assert set(quotes) == {self.symbol}
        q = quotes[self.symbol]
        assert isinstance(q, Quote)
        assert q.symbol == self.symbol
        assert q.bid is not None
        assert q.ask is not None
        assert 0 < q.bid < q.ask
        assert q.mid is not None
        assert q.bid < q.mid < q.ask
        assert q.ts.tzinfo is not None
        assert q.ts.utcoffset() == timedelta(0)
        assert isinstance(q.live, bool)

    def test_quotes_of_an_unlisted_symbol_raise_unknown_symbol(self, broker: Broker) -> None:
        with pytest.raises(UnknownSymbol) as info:
            broker.quotes([self.unlisted])
        assert info.value.symbol == self.unlisted

    def test_instruments_shape(self, broker: Broker) -> None:
        inst = self._instrument(broker)
        assert isinstance(inst, Instrument)
        assert inst.symbol == self.symbol
        assert inst.tick_size > 0
        assert inst.lot_size > 0
        assert inst.min_quantity > 0
        with pytest.raises(UnknownSymbol):
            broker.instruments([self.unlisted])

    # ------------------------------------------------------------------ orders

    def test_place_then_look_up_by_id_and_by_client_id(self, broker: Broker) -> None:
        placed = self.rest(broker, "contract-rest-1")
        assert isinstance(placed, BrokerOrder)
        assert placed.client_order_id == "contract-rest-1"
        assert placed.symbol == self.symbol
        assert placed.side == "buy"
        assert placed.quantity == self.quantity
        assert placed.state in (OrderState.SUBMITTED, OrderState.PENDING)
        assert placed.filled_quantity == 0
        assert placed.avg_fill_price is None
        by_id = broker.order(order_id=placed.order_id)
        by_cid = broker.order(client_order_id="contract-rest-1")
        assert by_id is not None
        assert by_cid is not None
        assert by_id.order_id == by_cid.order_id == placed.order_id
        assert by_id == by_cid

    def test_unknown_order_lookups_return_none(self, broker: Broker) -> None:
        assert broker.order(client_order_id="never-sent") is None
        assert broker.order(order_id="NO-SUCH-ORDER") is None

    def test_resubmitting_a_client_id_returns_the_same_order_and_books_one(self, broker: Broker) -> None:
        first = self.rest(broker, "contract-idem")
        again = broker.place_limit(self.request("contract-idem", first.limit_price))
        assert again.order_id == first.order_id
        assert [o.client_order_id for o in broker.open_orders()].count("contract-idem") == 1
        count = self.venue_order_count(broker, "contract-idem")
        assert count in (None, 1)

    def test_open_orders_lists_working_orders_oldest_first(self, broker: Broker) -> None:
        a = self.rest(broker, "contract-open-a")
        b = self.rest(broker, "contract-open-b")
        working = [o.order_id for o in broker.open_orders()]
        assert working.index(a.order_id) < working.index(b.order_id)
        for o in broker.open_orders():
            assert not o.state.is_terminal
            assert o.remaining > 0

    def test_cancel_is_terminal_and_sticky(self, broker: Broker) -> None:
        placed = self.rest(broker, "contract-cancel")
        cancelled = broker.cancel(placed.order_id)
        assert cancelled.state is OrderState.CANCELLED
        assert cancelled.remaining == 0
        assert placed.order_id not in [o.order_id for o in broker.open_orders()]
        assert broker.cancel(placed.order_id).state is OrderState.CANCELLED
        looked_up = broker.order(client_order_id="contract-cancel")
        assert looked_up is not None
        assert looked_up.state is OrderState.CANCELLED
        # Resubmitting a cancelled client id never revives it or books a new order.
        again = broker.place_limit(self.request("contract-cancel", placed.limit_price))
        assert again.order_id == placed.order_id
        assert again.state is OrderState.CANCELLED

    def test_marketable_order_fills_and_reports_fills_keyed_by_id(self, broker: Broker) -> None:
        before = {f.fill_id for f in broker.fills()}
        order = self.fill(broker, "contract-fill")
        assert order.state is OrderState.FILLED
        assert order.filled_quantity == self.quantity
        assert order.avg_fill_price is not None
        assert order.avg_fill_price <= order.limit_price
        new = [f for f in broker.fills() if f.fill_id not in before]
        assert new
        assert all(isinstance(f, Fill) for f in new)
        assert len({f.fill_id for f in new}) == len(new)
        assert {f.order_id for f in new} == {order.order_id}
        assert {f.client_order_id for f in new} == {"contract-fill"}
        assert sum(f.quantity for f in new) == self.quantity
        assert all(f.ts.tzinfo is not None for f in new)
        assert all(f.commission >= 0 for f in new)
        held = {p.symbol: p.quantity for p in broker.positions()}
        assert held.get(self.symbol, Decimal(0)) >= self.quantity

    def test_filled_order_is_sticky(self, broker: Broker) -> None:
        order = self.fill(broker, "contract-sticky")
        assert broker.cancel(order.order_id).state is OrderState.FILLED
        again = broker.place_limit(self.request("contract-sticky", order.limit_price))
        assert again.order_id == order.order_id
        assert again.state is OrderState.FILLED
        assert again.filled_quantity == order.filled_quantity

    def test_sell_what_was_bought(self, broker: Broker) -> None:
        self.fill(broker, "contract-buy-then-sell")
        bid = broker.quotes([self.symbol])[self.symbol].bid
        assert bid is not None
        tick = self._instrument(broker).tick_size
        price = (bid * Decimal("0.998") / tick).to_integral_value(ROUND_FLOOR) * tick
        sold = broker.place_limit(self.request("contract-sell", price, side="sell"))
        assert sold.state is OrderState.FILLED
        assert sold.avg_fill_price is not None
        assert sold.avg_fill_price >= price

    def test_fills_since_filters_by_timestamp(self, broker: Broker) -> None:
        self.fill(broker, "contract-since")
        every = broker.fills()
        assert every
        assert broker.fills(since=None) == every
        assert broker.fills(since=every[0].ts) == every
        assert broker.fills(since=datetime(9999, 1, 1, tzinfo=UTC)) == []
        stamps = [f.ts for f in every]
        assert stamps == sorted(stamps)
