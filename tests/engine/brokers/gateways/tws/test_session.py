"""One connection at the raw wire: handshake, greeting, and how malformed input is answered without harming others."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable

import pytest

from engine.brokers.gateways.tws import DEFAULT_ACCOUNT, TwsGateway
from engine.brokers.gateways.tws.codec import FrameReader, encode_fields

from .conftest import connect

Fields = tuple[str, ...]


class RawClient:
    """A bare socket speaking the framing, for what a well-behaved library never sends."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        self.reader = FrameReader()
        self.seen: list[Fields] = []
        self.pending: list[Fields] = []

    def send(self, *fields: object) -> None:
        self.sock.sendall(encode_fields(fields))

    def read_until(self, predicate: Callable[[Fields], bool], timeout: float = 2.0) -> Fields | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pending += self.reader.frames()
            while self.pending:
                frame = self.pending.pop(0)
                self.seen.append(frame)
                if predicate(frame):
                    return frame
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return None
            self.reader.feed(data)
        return None

    def is_closed(self, timeout: float = 2.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False

    def start(self, client_id: int = 50) -> Fields:
        self.sock.sendall(b"API\0" + encode_fields(["v157..178"]))
        hello = self.read_until(lambda f: len(f) == 2)
        assert hello is not None
        self.send(71, 2, client_id, "")
        assert self.read_until(lambda f: f[0] == "9") is not None
        return hello

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(gw: TwsGateway) -> RawClient:
    client = RawClient(gw.port)
    yield client  # type: ignore[misc]
    client.close()


def test_handshake_and_greeting(raw: RawClient) -> None:
    version, when = raw.start()
    assert version == "176" and when.endswith("UTC")
    raw.read_until(lambda f: f[0] == "4" and f[3] == "2158")
    kinds = [f[0] for f in raw.seen]
    assert ("15", "1", DEFAULT_ACCOUNT) in raw.seen
    assert {"9", "15"} <= set(kinds)
    assert {f[3] for f in raw.seen if f[0] == "4"} == {"2104", "2106", "2158"}


def test_garbled_requests_get_errors_and_the_connection_keeps_serving(raw: RawClient) -> None:
    raw.start()
    raw.send("abc")
    assert raw.read_until(lambda f: f[0] == "4" and f[3] == "320") is not None
    raw.send(3, "not-an-id")
    assert raw.read_until(lambda f: f[0] == "4" and f[3] == "320") is not None
    raw.send(9, 8)                                             # contract details without a contract
    assert raw.read_until(lambda f: f[0] == "4" and f[3] == "320") is not None
    raw.send(999, 1)
    assert raw.read_until(lambda f: f[0] == "4" and f[3] == "321") is not None
    raw.send(49, 1)
    assert raw.read_until(lambda f: f[0] == "49") is not None


def test_non_api_bytes_close_only_that_connection(gw: TwsGateway) -> None:
    ib = connect(gw)
    try:
        http = socket.create_connection(("127.0.0.1", gw.port), timeout=2)
        http.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        stray = RawClient.__new__(RawClient)
        stray.sock = http
        assert stray.is_closed()
        http.close()
        huge = RawClient(gw.port)
        huge.sock.sendall(b"API\0" + struct.pack(">I", 1 << 30) + b"xx")
        assert huge.is_closed()
        huge.close()
        assert ib.isConnected() and ib.reqCurrentTime() is not None
    finally:
        ib.disconnect()


def test_a_too_old_client_is_closed(gw: TwsGateway) -> None:
    old = RawClient(gw.port)
    old.sock.sendall(b"API\0" + encode_fields(["v100..150"]))
    assert old.is_closed()
    old.close()


def test_transcript_records_both_directions(gw: TwsGateway, raw: RawClient) -> None:
    raw.start(client_id=61)
    assert ("in", ("71", "2", "61", "")) in gw.transcript
    assert any(d == "out" and f[0] == "9" for d, f in gw.transcript)


@pytest.mark.parametrize("first", [("49", "1"), ("71", "2", "not-a-number", ""), ("xyz",)])
def test_anything_but_a_valid_start_api_after_the_handshake_closes(gw: TwsGateway, first: tuple[str, ...]) -> None:
    client = RawClient(gw.port)
    client.sock.sendall(b"API\0" + encode_fields(["v157..178"]))
    assert client.read_until(lambda f: len(f) == 2) is not None
    client.send(*first)
    assert client.is_closed()
    client.close()
