"""Vectorized bulk decoder: whole blocks of ITCH frames → numpy structured arrays, one per message type.

Built for the high-volume types (A, F, E, C, X, D, U, P) but works for every type. Output fields are native
integers (prices stay exact integers in 1/10^4 units), `S1`/`S<n>` byte strings for chars and alphas (space-padded
as on the wire), plus `offset` (stream offset of the frame) and `index` (message ordinal in the stream).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.lob.itch.reader import Block, Source, iter_blocks
from engine.lob.itch.spec import LAYOUTS, Layout

__all__ = ["HIGH_VOLUME", "BulkResult", "bulk_decode", "decode_block", "output_dtype"]

HIGH_VOLUME = "AFECXDUP"


def _wire_dtype(layout: Layout) -> np.dtype[Any]:
    names: list[str] = []
    formats: list[str] = []
    offsets: list[int] = []
    pos = 1
    for name, kind, size in layout.fields:
        if kind == "t":
            names += ["timestamp_hi", "timestamp_lo"]
            formats += [">u2", ">u4"]
            offsets += [pos, pos + 2]
        else:
            names.append(name)
            formats.append(f"S{size}" if kind in ("c", "a") else f">u{size}")
            offsets.append(pos)
        pos += size
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": layout.length})


def output_dtype(kind: str) -> np.dtype[Any]:
    """The structured dtype `bulk_decode` returns for message type `kind`."""
    fields: list[tuple[str, str]] = [("index", "<i8"), ("offset", "<i8")]
    for name, k, size in LAYOUTS[kind].fields:
        fields.append((name, "<u8" if k == "t" else f"S{size}" if k in ("c", "a") else f"<u{size}"))
    return np.dtype(fields)


_WIRE = {k: _wire_dtype(v) for k, v in LAYOUTS.items()}
_OUT = {k: output_dtype(k) for k in LAYOUTS}


def decode_block(block: Block, kinds: str = HIGH_VOLUME, first_index: int = 0) -> dict[str, npt.NDArray[Any]]:
    """Decode the frames of `block` whose type is in `kinds`; arrays keep stream order."""
    arr = np.frombuffer(block.buf, dtype=np.uint8)
    out: dict[str, npt.NDArray[Any]] = {}
    for kind in kinds:
        sel = np.flatnonzero(block.types == ord(kind))
        starts = block.offsets[sel] + 2  # skip the length prefix
        length = LAYOUTS[kind].length
        if len(arr) >= length:
            # A record view starting at every byte: fancy indexing copies one whole message per start.
            every = np.ndarray((len(arr) - length + 1,), dtype=np.dtype((np.void, length)), buffer=arr, strides=(1,))
            wire = every[starts].view(_WIRE[kind])
        else:
            wire = np.empty(0, dtype=_WIRE[kind])
        res = np.empty(len(sel), dtype=_OUT[kind])
        res["index"] = sel + first_index
        res["offset"] = starts - 2 + block.base
        for name in _OUT[kind].names or ():
            if name == "timestamp":
                res[name] = (wire["timestamp_hi"].astype(np.uint64) << np.uint64(32)) | wire["timestamp_lo"]
            elif name not in ("index", "offset"):
                res[name] = wire[name]
        out[kind] = res
    return out


@dataclass
class BulkResult:
    """Per-type decoded arrays, message counts by type letter, and the total."""

    arrays: dict[str, npt.NDArray[Any]]
    counts: dict[str, int] = field(default_factory=dict)
    messages: int = 0


def bulk_decode(source: Source, kinds: str = HIGH_VOLUME, *, block_bytes: int = 1 << 24) -> BulkResult:
    """Decode a whole stream; every message is counted, the types in `kinds` are decoded into arrays."""
    parts: dict[str, list[npt.NDArray[Any]]] = {k: [] for k in kinds}
    counts = np.zeros(256, dtype=np.int64)
    total = 0
    for block in iter_blocks(source, block_bytes=block_bytes):
        for k, a in decode_block(block, kinds, total).items():
            parts[k].append(a)
        counts += np.bincount(block.types, minlength=256)
        total += len(block.offsets)
    arrays = {k: (np.concatenate(v) if v else np.empty(0, dtype=_OUT[k])) for k, v in parts.items()}
    by_type = {chr(i): int(n) for i, n in enumerate(counts.tolist()) if n}
    return BulkResult(arrays, dict(sorted(by_type.items())), total)
