"""NASDAQ TotalView-ITCH 5.0: streaming frame reader, per-type decoders, numpy bulk decoder, book reconstruction.

Also a spec-exact writer and synthetic session generator for tests and demos.
"""

from engine.lob.itch.book import Counters, ItchBook, Reconstructor, level_rows
from engine.lob.itch.bulk import HIGH_VOLUME, BulkResult, bulk_decode, decode_block, output_dtype
from engine.lob.itch.exchange_books import ExchangeBook, ExchangeReconstructor
from engine.lob.itch.reader import Block, Message, decode_at, iter_blocks, iter_messages
from engine.lob.itch.replay import ItchReplayResult, latency_summary, replay_itch
from engine.lob.itch.spec import LAYOUTS, MESSAGE_LENGTHS, MESSAGE_NAMES, ItchError
from engine.lob.itch.writer import ItchWriter, encode, synthesize

__all__ = [
    "HIGH_VOLUME",
    "LAYOUTS",
    "MESSAGE_LENGTHS",
    "MESSAGE_NAMES",
    "Block",
    "BulkResult",
    "Counters",
    "ExchangeBook",
    "ExchangeReconstructor",
    "ItchBook",
    "ItchError",
    "ItchReplayResult",
    "ItchWriter",
    "Message",
    "Reconstructor",
    "bulk_decode",
    "decode_at",
    "decode_block",
    "encode",
    "iter_blocks",
    "iter_messages",
    "latency_summary",
    "level_rows",
    "output_dtype",
    "replay_itch",
    "synthesize",
]
