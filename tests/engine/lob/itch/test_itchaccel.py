"""The optional C module `_itchaccel` against the pure-Python reference: same frames, arrays, books and errors."""

from __future__ import annotations

import gzip
import os
import random
import subprocess
import sys
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.lob.itch import ItchError, bulk_decode, encode, iter_blocks, replay_itch, synthesize
from engine.lob.itch import book as book_mod
from engine.lob.itch import reader as reader_mod

pytestmark = pytest.mark.skipif(reader_mod.ACCEL is None or book_mod.APPLY is None,
                                reason="engine.lob.itch._itchaccel is not built (or NANOBOOK_PURE_PYTHON=1)")

REPO = Path(__file__).resolve().parents[4]


@contextmanager
def pure() -> Iterator[None]:
    """Run the pure-Python reference paths inside the block."""
    saved = reader_mod.ACCEL, book_mod.APPLY
    reader_mod.ACCEL, book_mod.APPLY = None, None
    try:
        yield
    finally:
        reader_mod.ACCEL, book_mod.APPLY = saved


def _outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", value) or ("error", (offset, message)) — errors compare by offset and full text."""
    try:
        return "ok", fn()
    except ItchError as exc:
        return "error", (exc.offset, str(exc))


def _both(fn: Callable[[], Any]) -> tuple[tuple[str, Any], tuple[str, Any]]:
    fast = _outcome(fn)
    with pure():
        ref = _outcome(fn)
    return fast, ref


# ---------------------------------------------------------------------------- inputs


def _chaos(seed: int, n: int = 1500) -> bytes:
    """Book messages that break every invariant: unknown / duplicate refs, crossing, overdrawn orders, time going
    back, locates without a directory entry, plus a symbol the filter skips."""
    rng = random.Random(seed)
    out = [encode("R", stock_locate=loc, stock=sym) for loc, sym in ((1, "AAA"), (2, "BBB"), (3, "SKIP"))]
    ts = 1_000_000
    for _ in range(n):
        ts += rng.randint(-300, 1000)  # sometimes backwards
        loc = rng.choice((1, 2, 3, 4))  # 4 has no directory entry
        ref = rng.randint(1, 60)
        kind = rng.choice("AAAFUEEXXCDP")
        base = {"stock_locate": loc, "timestamp": max(ts, 0), "tracking_number": rng.randint(0, 65535)}
        sym = {1: "AAA", 2: "BBB", 3: "SKIP", 4: "NEW"}[loc]
        price = rng.randint(95, 105) * 100
        if kind in "AF":
            out.append(encode(kind, order_ref=ref, side=rng.choice("BS"), shares=rng.randint(1, 500), stock=sym,
                              price=price, **base))
        elif kind == "U":
            out.append(encode("U", order_ref=ref, new_order_ref=rng.randint(1, 60), shares=rng.randint(1, 500),
                              price=price, **base))
        elif kind in "EX":
            out.append(encode(kind, order_ref=ref, shares=rng.randint(1, 400), **base))
        elif kind == "C":
            out.append(encode("C", order_ref=ref, shares=rng.randint(1, 400), price=price, printable="Y", **base))
        elif kind == "D":
            out.append(encode("D", order_ref=ref, **base))
        else:
            out.append(encode("P", order_ref=0, side="B", shares=rng.randint(1, 900), stock=sym, price=price, **base))
    return b"".join(out)


def _sessions() -> list[bytes]:
    return [synthesize(3000, seed=s) for s in (1, 2, 3)] + [_chaos(s) for s in (4, 5, 6)]


def _corrupt(data: bytes, seed: int) -> list[bytes]:
    """Truncated tails (the last few bytes, random cuts) and flipped bytes, seeded."""
    rng = random.Random(seed)
    cuts = [len(data) - k for k in (1, 2, 3, 7, 20)] + [rng.randrange(len(data)) for _ in range(4)]
    out = [data[:c] for c in cuts]
    for _ in range(6):
        b = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        out.append(bytes(b))
    return out


# ---------------------------------------------------------------------------- frame index


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_index_matches_the_python_scan(seed: int) -> None:
    rng = random.Random(seed)
    data = synthesize(800, seed=seed)
    for buf in [data, *_corrupt(data, seed)]:
        for _ in range(8):
            pos = rng.randrange(max(1, len(buf) - 1))
            limit = min(len(buf) - 1, pos + rng.randint(0, 4000))
            offs: array[int] = array("q")
            nxt = reader_mod._scan(buf, pos, limit, offs)
            raw_offs, raw_types, c_nxt, ok = reader_mod.ACCEL.index(buf, pos, limit, reader_mod._EXPECTED_U8)
            got = np.frombuffer(raw_offs, dtype=np.int64)
            assert c_nxt == nxt
            assert got.tolist() == [q - 1 for q in offs]
            arr = np.frombuffer(buf, dtype=np.uint8)
            try:
                types = reader_mod._validate(buf, arr, got, 0)
            except ItchError:
                assert not ok
            else:
                assert ok
                assert np.frombuffer(raw_types, dtype=np.uint8).tolist() == types.tolist()


def test_index_handles_empty_ranges_and_every_buffer_kind() -> None:
    data = synthesize(50, seed=9)
    expected = reader_mod._EXPECTED_U8
    for buf in (data, memoryview(data), bytearray(data)):
        offs, types, nxt, ok = reader_mod.ACCEL.index(buf, 0, len(data) - 1, expected)
        assert ok and len(offs) == 8 * len(types) and nxt == len(data)
    assert reader_mod.ACCEL.index(b"", 0, -1, expected) == (bytearray(), bytearray(), 0, True)
    with pytest.raises(ValueError, match="256 bytes"):
        reader_mod.ACCEL.index(data, 0, 10, b"x")


def _blocks(data: Any, block_bytes: int) -> list[tuple[int, list[int], list[int]]]:
    return [(b.base, b.offsets.tolist(), b.types.tolist()) for b in iter_blocks(data, block_bytes=block_bytes)]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_blocks_and_errors_are_identical_on_clean_truncated_and_corrupt_input(seed: int) -> None:
    data = synthesize(600, seed=seed)
    for buf in [data, *_corrupt(data, seed)]:
        for block_bytes in (64, 1000, 1 << 22):
            fast, ref = _both(lambda b=buf, n=block_bytes: _blocks(b, n))  # type: ignore[misc]
            assert fast == ref


def test_files_and_gzip_streams_are_identical(tmp_path: Path) -> None:
    data = synthesize(1500, seed=11)
    for i, buf in enumerate([data, data[:-9], *_corrupt(data, 12)[5:8]]):
        plain, gz = tmp_path / f"{i}.itch", tmp_path / f"{i}.itch.gz"
        plain.write_bytes(buf)
        gz.write_bytes(gzip.compress(buf))
        for path in (plain, gz):
            fast, ref = _both(lambda p=path: _blocks(p, 4096))  # type: ignore[misc]
            assert fast == ref


# ---------------------------------------------------------------------------- bulk decode


def test_bulk_decode_arrays_are_identical() -> None:
    for data in [*_sessions(), *_corrupt(synthesize(500, seed=13), 13)]:
        fast, ref = _both(lambda d=data: bulk_decode(d, "AFECXDUPRSQ", block_bytes=2048))  # type: ignore[misc]
        assert fast[0] == ref[0]
        if fast[0] == "error":
            assert fast == ref
            continue
        assert fast[1].counts == ref[1].counts and fast[1].messages == ref[1].messages
        assert fast[1].arrays.keys() == ref[1].arrays.keys()
        for k, arr in fast[1].arrays.items():
            assert arr.dtype == ref[1].arrays[k].dtype
            assert arr.tobytes() == ref[1].arrays[k].tobytes(), k


# ---------------------------------------------------------------------------- replay


def _state(**kw: Any) -> Callable[[bytes], dict[str, Any]]:
    def run(data: bytes) -> dict[str, Any]:
        res = replay_itch(data, books="itch", **kw)
        rec = res.recon
        summary = res.summary()
        del summary["elapsed_s"]
        return {
            "summary": summary,
            "counters": vars(rec.counters),
            "orders": {r: (b.symbol, buy, px) for r, (b, buy, px) in rec._orders.items()},
            "order_sequence": list(rec._orders),
            "levels": {s: (b.bids, b.asks) for s, b in rec.books.items()},
            "heaps": {s: (b._bid_heap, b._ask_heap) for s, b in rec.books.items()},
            "locate_ts": rec._locate_ts,
            "by_locate": {k: None if v is None else v.symbol for k, v in rec._by_locate.items()},
            "ts": (rec.first_ts, rec.last_ts),
        }
    return run


@pytest.mark.parametrize("kw", [{}, {"block_bytes": 700}, {"symbols": ["AAA", "BBB", "AAPL", "NVDA"]},
                                {"limit": 1234, "block_bytes": 900}])
def test_replay_books_counters_and_state_are_identical(kw: dict[str, Any]) -> None:
    run = _state(**kw)
    for data in _sessions():
        fast, ref = _both(lambda d=data: run(d))  # type: ignore[misc]
        assert fast == ref
        assert fast[0] == "ok"


def test_chaos_sessions_exercise_every_invariant_counter() -> None:
    """The differential inputs are only worth something if they reach every branch of the loop."""
    c = replay_itch(b"".join(_chaos(s) for s in (4, 5, 6)), symbols=["AAA", "BBB"], books="itch").counters
    for name in ("adds", "executions", "cancels", "deletes", "replaces", "trades", "unknown_refs", "duplicate_refs",
                 "crossed_book", "negative_quantity", "timestamp_regressions", "skipped_symbol"):
        assert getattr(c, name) > 0, name


def test_replay_errors_are_identical_on_truncated_and_corrupt_input() -> None:
    run = _state(block_bytes=1500)
    for data in (synthesize(400, seed=21), _chaos(22, 300)):
        for buf in _corrupt(data, 23):
            fast, ref = _both(lambda d=buf: run(d))  # type: ignore[misc]
            assert fast == ref


def test_replay_of_a_file_matches_and_the_timed_path_agrees(tmp_path: Path) -> None:
    data = _chaos(31)
    path = tmp_path / "s.itch"
    path.write_bytes(data)
    fast, ref = _both(lambda: _state()(path))  # type: ignore[arg-type]
    assert fast == ref
    timed = replay_itch(data, timed=True, books="itch").summary()
    for key in ("books", "operations", "invariants", "first_timestamp", "last_timestamp"):
        assert timed[key] == fast[1]["summary"][key]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(0, 400), st.binary(max_size=40), st.integers(0, 3))
def test_random_chaos_prefixes_with_garbage_tails_agree(seed: int, cut: int, tail: bytes, flips: int) -> None:
    data = bytearray(_chaos(seed, 60))
    rng = random.Random(seed)
    for _ in range(flips):
        data[rng.randrange(len(data))] = rng.randrange(256)
    buf = bytes(data[:len(data) - cut]) + tail
    run = _state(block_bytes=300)
    fast, ref = _both(lambda: run(buf))
    assert fast == ref


def test_apply_rejects_foreign_books_cleanly() -> None:
    rec = book_mod.Reconstructor()
    data = encode("A", stock_locate=1, order_ref=1, side="B", shares=5, stock="X", price=100)
    blocks = list(iter_blocks(data))
    rec._by_locate[1] = object()  # type: ignore[assignment]
    with pytest.raises(TypeError, match="ItchBook"):
        rec.run_frames(data, blocks[0].offsets, blocks[0].types)


def test_pure_python_env_switch_disables_the_module() -> None:
    code = "from engine.lob.itch import book, reader; print(reader.ACCEL is None, book.APPLY is None)"
    env = {**os.environ, "NANOBOOK_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                         env=env, cwd=REPO)
    assert out.stdout.split() == ["True", "True"]


def test_the_fast_path_really_is_the_c_loop() -> None:
    data = synthesize(20, seed=2)
    block = next(iter(iter_blocks(data)))
    assert book_mod.Reconstructor().run_frames(data, block.offsets, block.types) is True
    with pure():
        rec = book_mod.Reconstructor()
        assert rec.run_frames(data, block.offsets, block.types) is False
        assert rec.counters.adds == 0


def test_hook_builds_the_itch_module(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO))
    try:
        import hatch_build
    finally:
        sys.path.remove(str(REPO))
    src = tmp_path / "engine" / "lob" / "itch"
    src.mkdir(parents=True)
    (src / "_itchaccel.c").write_bytes((REPO / "engine" / "lob" / "itch" / "_itchaccel.c").read_bytes())
    built = hatch_build.build_accel(tmp_path, hatch_build.ITCH_SOURCE)
    if built is None:
        pytest.skip("no C compiler")
    assert built.parent == src and built.name.startswith("_itchaccel.")
    assert [p.name for p in src.iterdir() if p.name.startswith("._itchaccel")] == []
