"""TWS API framing: 4-byte big-endian length + NUL-terminated ASCII fields, and the `API<NUL>` version handshake.

Pure functions and an incremental frame reader; no sockets, no message semantics (those live in `messages`).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable

API_PREFIX = b"API\0"
MAX_FRAME = 1 << 20          # a TWS request is a few hundred bytes; anything this large is garbage
MIN_SERVER_VERSION = 164     # oldest layout the encoders produce (contractDetails lost its version field at 164)
MAX_SERVER_VERSION = 176     # the newest layout both ib_insync and ib_async decode (brokers.md §2.1)
_VERSION_RE = re.compile(r"^v(\d+)(?:\.\.(\d+))?(?: .*)?$", re.DOTALL)

Fields = tuple[str, ...]


class FrameError(ValueError):
    """The byte stream cannot be framed (bad prefix, oversized frame, bad version range): close the connection."""


def encode_fields(fields: Iterable[object]) -> bytes:
    """One frame: every field as text followed by NUL, prefixed with its length."""
    body = "".join(f"{_text(f)}\0" for f in fields).encode("ascii", errors="replace")
    if len(body) > MAX_FRAME:
        raise FrameError(f"frame of {len(body)} bytes exceeds {MAX_FRAME}")
    return struct.pack(">I", len(body)) + body


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def decode_body(body: bytes) -> Fields:
    """Split a frame body into fields (the trailing NUL yields one empty element, which is dropped)."""
    parts = body.decode("ascii", errors="backslashreplace").split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    return tuple(parts)


class FrameReader:
    """Incremental de-framer: `feed(bytes)` then `frames()` yields complete field tuples."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buf += data

    def pending(self) -> int:
        """Bytes buffered but not yet returned."""
        return len(self._buf)

    def take_raw(self, n: int) -> bytes | None:
        """Remove and return exactly `n` unframed bytes (the `API<NUL>` prefix), or None if not all there yet."""
        if len(self._buf) < n:
            return None
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def frames(self) -> list[Fields]:
        """Every complete frame buffered so far; FrameError for an impossible length."""
        out: list[Fields] = []
        while len(self._buf) >= 4:
            (size,) = struct.unpack(">I", self._buf[:4])
            if size > MAX_FRAME:
                raise FrameError(f"frame length {size} exceeds {MAX_FRAME}")
            if len(self._buf) < 4 + size:
                break
            body = bytes(self._buf[4:4 + size])
            del self._buf[:4 + size]
            out.append(decode_body(body))
        return out


def parse_version_range(fields: Fields) -> tuple[int, int]:
    """`v157..178` (optionally followed by ` connectOptions`) -> (min, max); FrameError otherwise."""
    text = "\0".join(fields)
    match = _VERSION_RE.match(text)
    if match is None:
        raise FrameError(f"expected a client version range like 'v157..178', got {text[:40]!r}")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if low > high:
        raise FrameError(f"empty client version range v{low}..{high}")
    return low, high


def negotiate(low: int, high: int) -> int:
    """The server version to use: min(client max, 176); FrameError when the ranges do not overlap."""
    version = min(high, MAX_SERVER_VERSION)
    if version < max(low, MIN_SERVER_VERSION):
        raise FrameError(f"client versions v{low}..{high} do not overlap the gateway's "
                         f"v{MIN_SERVER_VERSION}..{MAX_SERVER_VERSION}")
    return version
