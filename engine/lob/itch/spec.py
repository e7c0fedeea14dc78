"""NASDAQ TotalView-ITCH 5.0 message layouts (spec-exact offsets), shared by the reader, writer and bulk decoder.

Every message starts with type (1 byte), stock locate (2), tracking number (2) and a 48-bit timestamp (6).
"""

from __future__ import annotations

import struct
from typing import Final

from configs.errors import InputError

__all__ = [
    "HEADER_FIELDS",
    "LAYOUTS",
    "MESSAGE_LENGTHS",
    "MESSAGE_NAMES",
    "Field",
    "ItchError",
    "Layout",
]


class ItchError(InputError, ValueError):
    """Truncated or corrupt ITCH input; `offset` is the byte offset of the offending frame in the stream."""

    def __init__(self, offset: int, reason: str) -> None:
        self.offset = offset
        self.reason = reason
        super().__init__(f"ITCH byte offset {offset}: {reason}")


# A field: (name, kind, size). Kinds: "c" one ASCII char → str, "a" alpha padded → str (right spaces trimmed),
# "u" big-endian unsigned integer (sizes 1, 2, 4, 8), "t" 48-bit timestamp (ns since midnight), "p4"/"p8" price
# with 4 / 8 implied decimals kept as an exact integer in 1/10^4 or 1/10^8 units.
Field = tuple[str, str, int]

HEADER_FIELDS: Final[tuple[Field, ...]] = (("stock_locate", "u", 2), ("tracking_number", "u", 2),
                                           ("timestamp", "t", 6))


class Layout:
    """One message type: name, fields after the type byte, total length, and a compiled struct."""

    __slots__ = ("fields", "kind", "length", "name", "struct")

    def __init__(self, kind: str, name: str, body: tuple[Field, ...]) -> None:
        self.kind = kind
        self.name = name
        self.fields: tuple[Field, ...] = HEADER_FIELDS + body
        fmt = ">"
        for _, k, size in self.fields:
            if k in ("c", "a"):
                fmt += f"{size}s"
            elif k == "t":
                fmt += "HI"
            else:
                fmt += {1: "B", 2: "H", 4: "I", 8: "Q"}[size]
        self.struct = struct.Struct(fmt)
        self.length = 1 + self.struct.size  # including the type byte

    def offsets(self) -> dict[str, int]:
        """Field name → byte offset within the message (type byte at 0)."""
        out, pos = {}, 1
        for name, _, size in self.fields:
            out[name] = pos
            pos += size
        return out


def _L(kind: str, name: str, *body: Field) -> Layout:  # noqa: N802 (table constructor)
    return Layout(kind, name, body)


_STOCK: Final[Field] = ("stock", "a", 8)

LAYOUTS: Final[dict[str, Layout]] = {lay.kind: lay for lay in (
    _L("S", "SystemEvent", ("event_code", "c", 1)),
    _L("R", "StockDirectory", _STOCK, ("market_category", "c", 1), ("financial_status", "c", 1),
       ("round_lot_size", "u", 4), ("round_lots_only", "c", 1), ("issue_classification", "c", 1),
       ("issue_subtype", "a", 2), ("authenticity", "c", 1), ("short_sale_threshold", "c", 1),
       ("ipo_flag", "c", 1), ("luld_reference_price_tier", "c", 1), ("etp_flag", "c", 1),
       ("etp_leverage_factor", "u", 4), ("inverse_indicator", "c", 1)),
    _L("H", "StockTradingAction", _STOCK, ("trading_state", "c", 1), ("reserved", "c", 1), ("reason", "a", 4)),
    _L("Y", "RegSHORestriction", _STOCK, ("reg_sho_action", "c", 1)),
    _L("L", "MarketParticipantPosition", ("mpid", "a", 4), _STOCK, ("primary_market_maker", "c", 1),
       ("market_maker_mode", "c", 1), ("market_participant_state", "c", 1)),
    _L("V", "MWCBDeclineLevel", ("level1", "p8", 8), ("level2", "p8", 8), ("level3", "p8", 8)),
    _L("W", "MWCBStatus", ("breached_level", "c", 1)),
    _L("K", "IPOQuotingPeriodUpdate", _STOCK, ("ipo_quotation_release_time", "u", 4),
       ("ipo_quotation_release_qualifier", "c", 1), ("ipo_price", "p4", 4)),
    _L("J", "LULDAuctionCollar", _STOCK, ("auction_collar_reference_price", "p4", 4),
       ("upper_auction_collar_price", "p4", 4), ("lower_auction_collar_price", "p4", 4),
       ("auction_collar_extension", "u", 4)),
    _L("h", "OperationalHalt", _STOCK, ("market_code", "c", 1), ("operational_halt_action", "c", 1)),
    _L("A", "AddOrder", ("order_ref", "u", 8), ("side", "c", 1), ("shares", "u", 4), _STOCK, ("price", "p4", 4)),
    _L("F", "AddOrderMPID", ("order_ref", "u", 8), ("side", "c", 1), ("shares", "u", 4), _STOCK,
       ("price", "p4", 4), ("attribution", "a", 4)),
    _L("E", "OrderExecuted", ("order_ref", "u", 8), ("shares", "u", 4), ("match_number", "u", 8)),
    _L("C", "OrderExecutedWithPrice", ("order_ref", "u", 8), ("shares", "u", 4), ("match_number", "u", 8),
       ("printable", "c", 1), ("price", "p4", 4)),
    _L("X", "OrderCancel", ("order_ref", "u", 8), ("shares", "u", 4)),
    _L("D", "OrderDelete", ("order_ref", "u", 8)),
    _L("U", "OrderReplace", ("order_ref", "u", 8), ("new_order_ref", "u", 8), ("shares", "u", 4),
       ("price", "p4", 4)),
    _L("P", "Trade", ("order_ref", "u", 8), ("side", "c", 1), ("shares", "u", 4), _STOCK, ("price", "p4", 4),
       ("match_number", "u", 8)),
    _L("Q", "CrossTrade", ("shares", "u", 8), _STOCK, ("cross_price", "p4", 4), ("match_number", "u", 8),
       ("cross_type", "c", 1)),
    _L("B", "BrokenTrade", ("match_number", "u", 8)),
    _L("I", "NOII", ("paired_shares", "u", 8), ("imbalance_shares", "u", 8), ("imbalance_direction", "c", 1),
       _STOCK, ("far_price", "p4", 4), ("near_price", "p4", 4), ("current_reference_price", "p4", 4),
       ("cross_type", "c", 1), ("price_variation_indicator", "c", 1)),
    _L("N", "RetailPriceImprovementIndicator", _STOCK, ("interest_flag", "c", 1)),
    _L("O", "DirectListingCapitalRaise", _STOCK, ("open_eligibility_status", "c", 1),
       ("minimum_allowable_price", "p4", 4), ("maximum_allowable_price", "p4", 4),
       ("near_execution_price", "p4", 4), ("near_execution_time", "u", 8),
       ("lower_price_range_collar", "p4", 4), ("upper_price_range_collar", "p4", 4)),
)}

MESSAGE_LENGTHS: Final[dict[str, int]] = {k: v.length for k, v in LAYOUTS.items()}
MESSAGE_NAMES: Final[dict[str, str]] = {k: v.name for k, v in LAYOUTS.items()}
