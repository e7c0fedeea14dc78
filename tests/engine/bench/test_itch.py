"""The ITCH benchmark on a small session: rows shaped as documented, replay variants agreeing, checks that can fail."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.bench.itch import ITCH_DECODE, ITCH_REPLAY, _agreement, itch_orders, run_itch_bench, run_itch_samples
from engine.lob.itch import bulk_decode, synthesize

REPO = Path(__file__).resolve().parents[3]


def test_quick_rows_agree_and_carry_the_documented_details() -> None:
    messages: list[str] = []
    rows = run_itch_samples(repeat=2, quick=True, seed=3, progress=messages.append)
    assert [(r.workload, r.variant) for r in rows] == [(ITCH_DECODE, "bulk"), (ITCH_REPLAY, "exchange"),
                                                       (ITCH_REPLAY, "itch")]
    expected = bulk_decode(synthesize(itch_orders(True), symbols=("AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META",
                                                                  "TSLA", "INTC"), seed=3)).messages
    for row in rows:
        assert row.error is None, row.error
        assert row.agree is True and row.agree_with
        assert row.size == row.details["messages"] == expected
        assert len(row.seconds) == 2 and all(s > 0 for s in row.seconds)
        assert row.details["bytes"] > row.size and row.details["order_events"] == itch_orders(True)
        assert row.details["best_msgs_per_s"] >= row.details["median_msgs_per_s"] > 0
        assert row.details["invariants"] and not any(row.details["invariants"].values())
    assert rows[0].details["target_msgs_per_s"] == 5_000_000 and rows[1].details["target_msgs_per_s"] == 500_000
    assert "target_msgs_per_s" not in rows[2].details
    assert messages and "synthesizing" in messages[0]


def test_decode_alone_is_still_checked_against_a_replay() -> None:
    rows = run_itch_samples(repeat=1, quick=True, workloads=[ITCH_DECODE])
    assert [(r.workload, r.variant) for r in rows] == [(ITCH_DECODE, "bulk")]
    assert rows[0].agree is True and len(rows[0].seconds) == 1


def _facts() -> dict[str, dict[str, object]]:
    replay = {"messages": 3, "counts": {"A": 2, "D": 1}, "books": {"AAPL": {"bids": [[1, 2]]}},
              "invariants": {"crossed_book": 0, "unknown_refs": 0}}
    return {"bulk": {"messages": 3, "counts": {"A": 2, "D": 1}}, "exchange": replay, "itch": copy.deepcopy(replay)}


def test_agreement_fails_on_different_books_invariants_or_counts() -> None:
    facts = _facts()
    assert _agreement("exchange", facts)[0] is True and _agreement("bulk", facts)[0] is True
    facts["itch"]["books"] = {"AAPL": {"bids": [[1, 3]]}}
    assert _agreement("exchange", facts)[0] is False and _agreement("itch", facts)[0] is False
    facts = _facts()
    facts["exchange"]["invariants"] = {"crossed_book": 1, "unknown_refs": 0}
    facts["itch"]["invariants"] = {"crossed_book": 1, "unknown_refs": 0}
    assert _agreement("itch", facts)[0] is False
    facts = _facts()
    facts["bulk"]["counts"] = {"A": 3}
    assert _agreement("bulk", facts)[0] is False
    assert _agreement("bulk", {"bulk": facts["bulk"]}) == (None, [])


def test_module_json_reports_all_three_stages() -> None:
    out = run_itch_bench(3_000, repeat=1, seed=5)
    assert out["messages"] > 3_000 and out["repeat"] == 1 and out["errors"] == {}
    for key in ("bulk_decode", "replay", "replay_exchange", "replay_itch"):
        assert out[f"{key}_msgs_per_s"] >= out[f"{key}_median_msgs_per_s"] > 0
    assert out["replay_msgs_per_s"] == out["replay_exchange_msgs_per_s"]
    assert out["replay_variants_agree"] is True and out["bulk_counts_agree"] is True


def test_module_runs_as_a_script() -> None:
    proc = subprocess.run([sys.executable, "-m", "engine.bench.itch", "2000"], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["replay_itch_msgs_per_s"] > 0 and doc["targets"] == {"bulk_decode": 5_000_000, "replay": 500_000}


def test_repeat_must_be_positive() -> None:
    with pytest.raises(ValueError, match="repeat"):
        run_itch_samples(repeat=0)
