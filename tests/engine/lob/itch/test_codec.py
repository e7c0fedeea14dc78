"""ITCH 5.0 codec: spec lengths and offsets, writer → parser round trips, bulk decoder, file sources."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from engine.lob.itch import (
    HIGH_VOLUME,
    LAYOUTS,
    MESSAGE_LENGTHS,
    bulk_decode,
    decode_at,
    encode,
    iter_messages,
    synthesize,
)

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "itch" / "sample.itch"

# Total message lengths (type byte included) from the NASDAQ TotalView-ITCH 5.0 specification, typed in
# independently of engine/lob/itch/spec.py.
SPEC_LENGTHS = {"S": 12, "R": 39, "H": 25, "Y": 20, "L": 26, "V": 35, "W": 12, "K": 28, "J": 35, "h": 21,
                "A": 36, "F": 40, "E": 31, "C": 36, "X": 23, "D": 19, "U": 35, "P": 44, "Q": 40, "B": 19,
                "I": 50, "N": 20, "O": 48}


def _sample_fields(kind: str) -> dict[str, object]:
    """Distinct non-trivial values for every field of a type."""
    out: dict[str, object] = {}
    for i, (name, k, size) in enumerate(LAYOUTS[kind].fields):
        if name == "timestamp":
            out[name] = (1 << 47) + 123_456_789 + i  # uses all 48 bits
        elif k == "c":
            out[name] = chr(ord("A") + i % 26)
        elif k == "a":
            out[name] = ("ZYXWVUTS" + "Q" * size)[: max(1, size - 1)]
        else:
            out[name] = (1 << (8 * size - 1)) + 7 * i + 1  # high bit set: catches signedness/width slips
    return out


def test_every_spec_length() -> None:
    assert MESSAGE_LENGTHS == SPEC_LENGTHS


@pytest.mark.parametrize("kind", sorted(SPEC_LENGTHS))
def test_round_trip_every_type(kind: str) -> None:
    fields = _sample_fields(kind)
    frame = encode(kind, **fields)
    assert len(frame) == 2 + SPEC_LENGTHS[kind]
    assert int.from_bytes(frame[:2], "big") == SPEC_LENGTHS[kind]
    msg = decode_at(frame, 0)
    assert msg.kind == kind and msg.offset == 0
    assert msg.fields == fields
    assert [m.fields for m in iter_messages(frame * 3)] == [fields] * 3


@pytest.mark.parametrize("kind", list(HIGH_VOLUME))
def test_bulk_round_trip(kind: str) -> None:
    fields = _sample_fields(kind)
    stream = encode("S", event_code="O") + encode(kind, **fields) * 2
    res = bulk_decode(stream, kind)
    arr = res.arrays[kind]
    assert res.messages == 3 and res.counts == {"S": 1, kind: 2}
    assert arr["index"].tolist() == [1, 2]
    assert arr["offset"].tolist() == [14, 14 + 2 + SPEC_LENGTHS[kind]]
    for name, value in fields.items():
        got = arr[name][1]
        if isinstance(value, str):
            assert got.decode("latin-1").rstrip() == value
        else:
            assert int(got) == value


def test_stock_directory_symbol_at_spec_offset() -> None:
    # Hand-built R: type, locate, tracking, 6-byte timestamp, then the symbol at message offset 11 (bug B7/B8 seed
    # read it at 3).
    body = b"R" + struct.pack(">HH", 42, 9) + (34_200_000_000_123).to_bytes(6, "big") + b"MSFT    "
    body += b"QN" + struct.pack(">I", 100) + b"NCZ PN 1N" + struct.pack(">I", 0) + b"N"
    assert len(body) == 39
    msg = decode_at(len(body).to_bytes(2, "big") + body, 0)
    assert msg["stock"] == "MSFT" and msg["stock_locate"] == 42 and msg["tracking_number"] == 9
    assert msg["timestamp"] == 34_200_000_000_123 and msg["round_lot_size"] == 100
    assert LAYOUTS["R"].offsets()["stock"] == 11


def test_add_order_hand_built_and_sub_penny_price_exact() -> None:
    body = (b"A" + struct.pack(">HH", 7, 1) + (1).to_bytes(6, "big") + struct.pack(">Q", 99) + b"S"
            + struct.pack(">I", 250) + b"AAPL    " + struct.pack(">I", 1_234_567))  # $123.4567
    frame = len(body).to_bytes(2, "big") + body
    assert frame == encode("A", stock_locate=7, tracking_number=1, timestamp=1, order_ref=99, side="S", shares=250,
                           stock="AAPL", price=1_234_567)
    msg = decode_at(frame, 0)
    assert msg["price"] == 1_234_567 and msg["side"] == "S" and msg["stock"] == "AAPL"
    assert int(bulk_decode(frame).arrays["A"]["price"][0]) == 1_234_567


def test_encode_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown ITCH message type"):
        encode("Z")
    with pytest.raises(ValueError, match="unknown field"):
        encode("D", bogus=1)
    with pytest.raises(ValueError, match="does not fit"):
        encode("D", timestamp=1 << 48)
    with pytest.raises(ValueError, match="longer than"):
        encode("A", stock="TOOLONGSYM")


def test_bulk_matches_streaming_decoder_on_sample() -> None:
    data = SAMPLE.read_bytes()
    msgs = list(iter_messages(data))
    res = bulk_decode(data)
    assert res.messages == len(msgs)
    for kind in HIGH_VOLUME:
        ours = [m for m in msgs if m.kind == kind]
        arr = res.arrays[kind]
        assert len(arr) == len(ours)
        if kind in "AF":
            assert arr["price"].tolist() == [m["price"] for m in ours]
            assert arr["order_ref"].tolist() == [m["order_ref"] for m in ours]
        assert arr["timestamp"].tolist() == [m.timestamp for m in ours]
        assert arr["offset"].tolist() == [m.offset for m in ours]


def test_file_sources_mmap_gzip_and_small_blocks(tmp_path: Path) -> None:
    data = synthesize(400, seed=3)
    plain = tmp_path / "s.itch"
    plain.write_bytes(data)
    gz = tmp_path / "s.itch.gz"
    gz.write_bytes(gzip.compress(data))
    want = [(m.kind, m.offset, m.fields) for m in iter_messages(data)]
    assert [(m.kind, m.offset, m.fields) for m in iter_messages(plain)] == want
    assert [(m.kind, m.offset, m.fields) for m in iter_messages(gz, block_bytes=97)] == want
    assert [(m.kind, m.offset, m.fields) for m in iter_messages(plain, block_bytes=64)] == want
    a = bulk_decode(gz, block_bytes=1000)
    b = bulk_decode(data)
    for kind in HIGH_VOLUME:
        assert np.array_equal(a.arrays[kind], b.arrays[kind])
    empty = tmp_path / "empty.itch"
    empty.write_bytes(b"")
    assert list(iter_messages(empty)) == []
    assert bulk_decode(b"").messages == 0
