"""Framing and handshake parsing of the TWS API (pure functions, no sockets)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.brokers.gateways.tws.codec import (
    MAX_FRAME,
    FrameError,
    FrameReader,
    decode_body,
    encode_fields,
    negotiate,
    parse_version_range,
)

ascii_field = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=127), max_size=30)


@given(st.lists(ascii_field, max_size=20))
def test_encode_then_read_round_trips(fields: list[str]) -> None:
    reader = FrameReader()
    reader.feed(encode_fields(fields))
    assert reader.frames() == [tuple(fields)]
    assert reader.pending() == 0


@given(st.lists(st.lists(ascii_field, min_size=1, max_size=5), min_size=1, max_size=5), st.integers(1, 7))
def test_frames_survive_any_split_of_the_stream(messages: list[list[str]], chunk: int) -> None:
    stream = b"".join(encode_fields(m) for m in messages)
    reader = FrameReader()
    out = []
    for i in range(0, len(stream), chunk):
        reader.feed(stream[i:i + chunk])
        out += reader.frames()
    assert out == [tuple(m) for m in messages]


def test_wire_format_is_length_prefixed_nul_terminated_ascii() -> None:
    assert encode_fields(["49", "1"]) == struct.pack(">I", 5) + b"49\x001\x00"
    assert encode_fields([None, True, False, 7]) == struct.pack(">I", 7) + b"\x001\x000\x007\x00"
    assert decode_body(b"a\x00\x00b\x00") == ("a", "", "b")


def test_an_impossible_length_is_a_frame_error() -> None:
    reader = FrameReader()
    reader.feed(struct.pack(">I", MAX_FRAME + 1) + b"x")
    with pytest.raises(FrameError):
        reader.frames()


def test_raw_prefix_is_taken_before_framing() -> None:
    reader = FrameReader()
    reader.feed(b"AP")
    assert reader.take_raw(4) is None
    reader.feed(b"I\x00" + encode_fields(["v157..178"]))
    assert reader.take_raw(4) == b"API\x00"
    assert reader.frames() == [("v157..178",)]


@pytest.mark.parametrize(("text", "expected"), [("v157..178", (157, 178)), ("v176", (176, 176)),
                                                ("v100..176 +PACEAPI", (100, 176))])
def test_version_ranges_parse(text: str, expected: tuple[int, int]) -> None:
    assert parse_version_range((text,)) == expected


@pytest.mark.parametrize("text", ["", "157..178", "vX..Y", "v178..157"])
def test_bad_version_ranges_are_frame_errors(text: str) -> None:
    with pytest.raises(FrameError):
        parse_version_range((text,))


def test_negotiation_picks_min_of_client_max_and_176() -> None:
    assert negotiate(157, 178) == 176
    assert negotiate(157, 170) == 170
    with pytest.raises(FrameError):
        negotiate(100, 150)
    with pytest.raises(FrameError):
        negotiate(177, 178)
