"""Streaming ITCH 5.0 frame reader (2-byte big-endian length prefix) over bytes, memory-mapped files or gzip.

Frames are indexed block by block (by the optional C module `_itchaccel` when built, else in Python); every block
is validated (length 0, length ≠ the type's spec length, unknown type, truncation) and a failure raises `ItchError`
naming the byte offset of the offending frame.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import mmap
import os
import zlib
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.lob.itch.spec import LAYOUTS, MESSAGE_LENGTHS, ItchError, Layout

__all__ = ["Block", "Message", "Source", "decode_at", "iter_blocks", "iter_messages"]

Source = str | os.PathLike[str] | bytes | bytearray | memoryview
Progress = Callable[[int, int], None]

# Expected frame length (the value of the 2-byte prefix) per type byte; 0 = unknown type.
EXPECTED = np.zeros(256, dtype=np.int64)
for _k, _n in MESSAGE_LENGTHS.items():
    EXPECTED[ord(_k)] = _n

_EXPECTED_U8 = EXPECTED.astype(np.uint8).tobytes()  # the same table for the C indexer (every length < 256)

BLOCK_BYTES = 1 << 22


def _load_accel() -> Any:
    """The optional C module (frame indexer, replay apply loop), or None: not built, or NANOBOOK_PURE_PYTHON=1."""
    if os.environ.get("NANOBOOK_PURE_PYTHON") == "1":
        return None
    try:
        return importlib.import_module("engine.lob.itch._itchaccel")
    except ImportError:
        return None


ACCEL: Any = _load_accel()  # tests set this to None to run the pure-Python reference in the same process


@dataclass(frozen=True, slots=True)
class Block:
    """Complete, validated frames: `offsets[i]` is a frame start in `buf`, `base + offsets[i]` in the stream."""

    base: int
    buf: Any  # bytes, memoryview or mmap: anything with the buffer protocol and int indexing
    offsets: npt.NDArray[np.int64]
    types: npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded message: `kind` is the type letter, `offset` the stream offset of its length prefix."""

    kind: str
    offset: int
    fields: dict[str, int | str]

    def __getitem__(self, name: str) -> int | str:
        """Field by spec name (`msg["price"]`)."""
        return self.fields[name]

    @property
    def timestamp(self) -> int:
        """Nanoseconds since midnight (48-bit)."""
        return int(self.fields["timestamp"])

    @property
    def name(self) -> str:
        """The spec's message name."""
        return LAYOUTS[self.kind].name


def _scan(buf: Any, pos: int, limit: int, offs: array[int]) -> int:
    """Append frame starts from `pos` while `pos < limit`; return the next frame start (may exceed limit).

    Only the low length byte is read (every ITCH 5.0 message is shorter than 256 bytes); `_validate` checks the
    high byte afterwards, so a frame that is not what the scan assumed is still reported at its offset. The loop
    is unrolled 8× while the reads stay far enough inside the buffer.
    """
    ext = offs.extend
    q = pos + 1  # position of the low length byte
    fast_end = min(limit, len(buf) - 8 * 257 - 2)
    while q <= fast_end:
        q1 = q + buf[q] + 2
        q2 = q1 + buf[q1] + 2
        q3 = q2 + buf[q2] + 2
        q4 = q3 + buf[q3] + 2
        q5 = q4 + buf[q4] + 2
        q6 = q5 + buf[q5] + 2
        q7 = q6 + buf[q6] + 2
        ext((q, q1, q2, q3, q4, q5, q6, q7))
        q = q7 + buf[q7] + 2
    ap = offs.append
    while q <= limit:
        ap(q)
        q += buf[q] + 2
    return q - 1


def _index(buf: Any, arr: npt.NDArray[np.uint8], pos: int, limit: int
           ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8] | None, int]:
    """Frame starts from `pos` while `pos <= limit`, their type bytes when all are valid (else None), next start."""
    if ACCEL is not None:
        raw_offs, raw_types, nxt, ok = ACCEL.index(buf, pos, limit, _EXPECTED_U8)
        return np.frombuffer(raw_offs, dtype=np.int64), np.frombuffer(raw_types, dtype=np.uint8) if ok else None, nxt
    offs = array("q")
    nxt = _scan(buf, pos, limit, offs)
    return (np.frombuffer(offs, dtype=np.int64) - 1 if offs else np.empty(0, dtype=np.int64)), None, nxt


def _checked(buf: Any, arr: npt.NDArray[np.uint8], offs: npt.NDArray[np.int64], types: npt.NDArray[np.uint8] | None,
             base: int) -> npt.NDArray[np.uint8]:
    """The type bytes of `offs`: the indexer's when it found every frame valid, else `_validate`'s (which raises)."""
    return types[:len(offs)] if types is not None else _validate(buf, arr, offs, base)


def _validate(buf: Any, arr: npt.NDArray[np.uint8], offs: npt.NDArray[np.int64], base: int) -> npt.NDArray[np.uint8]:
    """Check every frame's length against its type; return the type bytes."""
    if not len(offs):
        return np.empty(0, dtype=np.uint8)
    lens = (arr[offs].astype(np.int64) << 8) | arr[offs + 1]
    types = arr[np.minimum(offs + 2, len(arr) - 1)]
    expected = EXPECTED[types]
    bad = np.flatnonzero((lens != expected) | (expected == 0))
    if len(bad):
        i = int(bad[0])
        off, n, t = int(offs[i]), int(lens[i]), int(types[i])
        if n == 0:
            raise ItchError(base + off, "ITCH message length is 0")
        kind = chr(t)
        if kind not in MESSAGE_LENGTHS:
            raise ItchError(base + off, f"unknown message type 0x{t:02x} (frame length {n})")
        need = MESSAGE_LENGTHS[kind]
        word = "too short" if n < need else "too long"
        raise ItchError(base + off, f"message {kind!r} {word}: frame length {n}, spec length {need}")
    return types


def _blocks_from_buffer(buf: Any, block_bytes: int, progress: Progress | None) -> Iterator[Block]:
    size = len(buf)
    arr = np.frombuffer(buf, dtype=np.uint8)
    pos = 0
    while pos < size - 1:
        o, types, nxt = _index(buf, arr, pos, min(pos + block_bytes, size - 1))
        if nxt > size:  # the last frame runs past the end of the input
            last = int(o[-1])
            o = o[:-1]
            yield Block(0, buf, o, _checked(buf, arr, o, types, 0))
            need = (buf[last] << 8 | buf[last + 1]) + 2
            raise ItchError(last, f"truncated frame: needs {need} bytes, {size - last} available")
        yield Block(0, buf, o, _checked(buf, arr, o, types, 0))
        pos = nxt
        if progress is not None:
            progress(min(pos, size), size)
    if pos == size - 1:
        raise ItchError(pos, "truncated frame: 1 trailing byte, a length prefix needs 2")


def _blocks_from_stream(fh: Any, total: int, block_bytes: int, progress: Progress | None) -> Iterator[Block]:
    base = 0
    rest = b""
    while True:
        chunk = fh.read(block_bytes)
        if not chunk:
            break
        buf = rest + chunk
        arr = np.frombuffer(buf, dtype=np.uint8)
        o, types, nxt = _index(buf, arr, 0, len(buf) - 1)
        keep = len(o)
        if nxt > len(buf):
            keep -= 1
        cut = int(o[keep]) if keep < len(o) else min(nxt, len(buf))
        o = o[:keep]
        yield Block(base, buf, o, _checked(buf, arr, o, types, base))
        rest = buf[cut:]
        base += cut
        if progress is not None:
            progress(_tell(fh), total)
    if rest:
        if len(rest) == 1:
            raise ItchError(base, "truncated frame: 1 trailing byte, a length prefix needs 2")
        need = (rest[0] << 8 | rest[1]) + 2
        raise ItchError(base, f"truncated frame: needs {need} bytes, {len(rest)} available")


def _tell(fh: Any) -> int:
    raw = getattr(fh, "fileobj", None)
    try:
        return int(raw.tell()) if raw is not None else int(fh.tell())
    except (OSError, ValueError):
        return 0


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def iter_blocks(source: Source, *, block_bytes: int = BLOCK_BYTES, progress: Progress | None = None) -> Iterator[Block]:
    """Yield validated frame blocks from bytes, a plain file (memory-mapped) or a gzip file (streamed).

    `progress(done, total)` is called after each block (bytes of the input file read so far).
    """
    if isinstance(source, bytes | bytearray | memoryview):
        yield from _blocks_from_buffer(bytes(source) if isinstance(source, bytearray) else source,
                                       block_bytes, progress)
        return
    path = os.fspath(source)
    size = os.path.getsize(path)
    if _is_gzip(path):
        with gzip.open(path, "rb") as fh:
            try:
                yield from _blocks_from_stream(fh, size, block_bytes, progress)
            except (EOFError, OSError, zlib.error) as exc:
                raise ItchError(_tell(fh), f"corrupt gzip stream: {exc}") from exc
        return
    if size == 0:
        return
    with open(path, "rb") as fh:
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            yield from _blocks_from_buffer(mm, block_bytes, progress)
        finally:
            with contextlib.suppress(BufferError):  # a caller still holds a view; released when collected
                mm.close()


def _converters(layout: Layout) -> list[tuple[str, str]]:
    return [(name, kind) for name, kind, _ in layout.fields]


_CONV = {k: _converters(v) for k, v in LAYOUTS.items()}


def decode_at(buf: Any, pos: int, base: int = 0) -> Message:
    """Decode the (validated) frame starting at `pos` of `buf`."""
    kind = chr(buf[pos + 2])
    layout = LAYOUTS[kind]
    vals = layout.struct.unpack_from(buf, pos + 3)
    fields: dict[str, int | str] = {}
    i = 0
    for name, k in _CONV[kind]:
        if k == "t":
            fields[name] = vals[i] << 32 | vals[i + 1]
            i += 2
            continue
        v = vals[i]
        i += 1
        if k == "c":
            fields[name] = v.decode("latin-1")
        elif k == "a":
            fields[name] = v.decode("latin-1").rstrip(" \x00")
        else:
            fields[name] = v
    return Message(kind, base + pos, fields)


def iter_messages(source: Source, *, block_bytes: int = BLOCK_BYTES) -> Iterator[Message]:
    """Yield every message of the stream, decoded field by field (the general, not the fast, path)."""
    for block in iter_blocks(source, block_bytes=block_bytes):
        buf, base = block.buf, block.base
        for pos in block.offsets.tolist():
            yield decode_at(buf, pos, base)
