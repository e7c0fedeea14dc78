"""Deterministic limit order book: `Exchange`, `MultiExchange`, `Symbol`, results, events and replay.

Drop-in for the reference package's order-book classes (`from engine.lob import Exchange`).
"""

from engine.lob.analytics import tdiv, vwap
from engine.lob.events import Event, load_events, save_events
from engine.lob.exchange import Exchange
from engine.lob.multi import MultiExchange
from engine.lob.results import (
    CancelResult,
    LevelSnapshot,
    ModifyResult,
    Order,
    StopSubmitResult,
    SubmitResult,
    Trade,
)
from engine.lob.snapshot import BookSnapshot
from engine.lob.symbol import Symbol

__all__ = [
    "BookSnapshot",
    "CancelResult",
    "Event",
    "Exchange",
    "LevelSnapshot",
    "ModifyResult",
    "MultiExchange",
    "Order",
    "StopSubmitResult",
    "SubmitResult",
    "Symbol",
    "Trade",
    "load_events",
    "save_events",
    "tdiv",
    "vwap",
]
