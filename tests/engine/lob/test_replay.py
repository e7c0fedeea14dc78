"""Unit tests of engine.lob.replay: replay_file over both dialects, its summary, progress and error reporting."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import EventLogError
from engine.lob import Exchange
from engine.lob.replay import replay_file


def test_replay_oracle_case_summary(corpus_dir: Path) -> None:
    path = corpus_dir / "03-market-order-sweep" / "input.jsonl"
    res = replay_file(str(path))
    assert (res.dialect, res.events, dict(res.kinds)) == ("oracle", 4, {"submit_limit": 3, "submit_market": 1})
    assert res.summary() == {
        "path": str(path), "dialect": "oracle", "events": 4,
        "event_counts": {"submit_limit": 3, "submit_market": 1},
        "trades": 3, "volume": 100, "vwap": 10170,  # (10100·50 + 10200·30 + 10300·20) / 100
        "last_trade_price": 10300, "best_bid": None, "best_ask": None, "spread": None,
        "resting_orders": 0, "pending_stops": 0, "book": {"bids": [], "asks": []},
    }


def test_replay_events_dialect_with_depth_limit(tmp_path: Path) -> None:
    ex = Exchange()
    for i in range(4):
        ex.submit_limit("buy", 100 - i, 10 + i)
        ex.submit_limit("sell", 110 + i, 1)
    ex.submit_stop_market("sell", 50, 1)
    ex.cancel(8)
    path = tmp_path / "log.jsonl"
    ex.save(str(path))
    res = replay_file(str(path))
    summary = res.summary(depth=2)
    assert res.dialect == "events"
    assert summary["event_counts"] == {"cancel": 1, "submit_limit": 8, "submit_stop_market": 1}
    assert summary["book"] == {
        "bids": [{"price": 100, "quantity": 10, "order_count": 1}, {"price": 99, "quantity": 11, "order_count": 1}],
        "asks": [{"price": 110, "quantity": 1, "order_count": 1}, {"price": 111, "quantity": 1, "order_count": 1}],
    }
    assert (summary["resting_orders"], summary["pending_stops"], summary["spread"]) == (7, 1, 10)
    assert (summary["trades"], summary["vwap"], summary["last_trade_price"]) == (0, None, None)


def test_replay_progress_callback(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text('{"Cancel":{"order_id":1}}\n' * 10)
    calls: list[tuple[int, int]] = []
    res = replay_file(str(path), progress=lambda done, total: calls.append((done, total)), every=4)
    size = path.stat().st_size
    assert res.events == 10
    assert len(calls) == 3  # lines 4 and 8, then the final call
    assert calls[-1] == (size, size)
    assert all(total == size for _, total in calls)


def test_replay_errors(tmp_path: Path) -> None:
    with pytest.raises(EventLogError) as info:
        replay_file(str(tmp_path / "missing.jsonl"))
    assert info.value.line == 0
    assert "cannot read" in info.value.reason
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"Cancel":{"order_id":1}}\n{"Cancel":{"order_id":-1}}\n')
    with pytest.raises(EventLogError) as info:
        replay_file(str(bad))
    assert info.value.line == 2
    with pytest.raises(EventLogError, match="unknown dialect 'xml'"):
        replay_file(str(bad), "xml")
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b'{"Cancel":{"order_id":1}}\n\xff\xfe\n')
    with pytest.raises(EventLogError, match="not UTF-8"):
        replay_file(str(binary))
