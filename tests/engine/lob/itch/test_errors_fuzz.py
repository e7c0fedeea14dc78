"""Corrupt and truncated ITCH input: clean `ItchError`s naming the byte offset, never a crash (hypothesis)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.lob.itch import ItchError, bulk_decode, encode, iter_messages, replay_itch

SAMPLE = (Path(__file__).resolve().parents[3] / "data" / "itch" / "sample.itch").read_bytes()
GOOD = encode("S", event_code="O") + encode("D", order_ref=5)  # 14 + 21 bytes


def _consume(data: bytes) -> None:
    for _ in iter_messages(data):
        pass


@pytest.mark.parametrize(("data", "offset", "text"), [
    (GOOD + b"\x00", 35, "1 trailing byte"),
    (GOOD + b"\x00\x24A" + bytes(10), 35, "truncated frame: needs 38 bytes, 13 available"),
    (GOOD + b"\x00\x00" + GOOD, 35, "length is 0"),
    (GOOD + b"\x00\x05Zabcd", 35, "unknown message type 0x5a"),
    (GOOD + b"\x00\x05Aabcd", 35, "'A' too short: frame length 5, spec length 36"),
    (GOOD + b"\x00\x14" + b"D" + bytes(19), 35, "'D' too long"),
    (b"\x00\x0cS" + bytes(5), 0, "truncated"),
])
def test_clean_errors_name_the_offset(data: bytes, offset: int, text: str) -> None:
    for run in (_consume, bulk_decode, replay_itch):
        with pytest.raises(ItchError) as info:
            run(data)
        assert info.value.offset == offset
        assert text in str(info.value)
        assert f"byte offset {offset}" in str(info.value)


def test_truncation_in_a_gzip_stream_and_corrupt_gzip(tmp_path: Path) -> None:
    p = tmp_path / "t.itch.gz"
    p.write_bytes(gzip.compress(SAMPLE[:-5]))
    with pytest.raises(ItchError, match="truncated frame"):
        _consume(p)  # type: ignore[arg-type]
    bad = bytearray(gzip.compress(SAMPLE))
    bad[len(bad) // 2] ^= 0xFF
    p.write_bytes(bytes(bad))
    with pytest.raises(ItchError):
        replay_itch(p)
    p.write_bytes(gzip.compress(SAMPLE)[:-20])  # cut mid-stream
    with pytest.raises(ItchError):
        replay_itch(p)


def test_truncated_sample_file_on_disk(tmp_path: Path) -> None:
    p = tmp_path / "t.itch"
    p.write_bytes(SAMPLE[:-7])
    with pytest.raises(ItchError, match=r"byte offset \d+: truncated frame"):
        replay_itch(p)


def _all_paths(data: bytes) -> None:
    for run in (_consume, bulk_decode, lambda d: replay_itch(d, timed=True), replay_itch):
        try:
            run(data)
        except ItchError as exc:
            assert 0 <= exc.offset <= len(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_only_clean_errors(data: bytes) -> None:
    _all_paths(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(0, 255)), min_size=1, max_size=6),
       st.integers(0, len(SAMPLE)))
def test_mutated_sample_only_clean_errors(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(SAMPLE)
    for pos, value in flips:
        data[pos] = value
    _all_paths(bytes(data[:cut]))
    _all_paths(bytes(data))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(sorted("SRHYLVWKJhAFECXDUPQBINO")), max_size=30), st.binary(max_size=60))
def test_valid_frames_then_garbage(kinds: list[str], tail: bytes) -> None:
    data = b"".join(encode(k) for k in kinds)
    assert len(list(iter_messages(data))) == len(kinds)
    _all_paths(data + tail)
