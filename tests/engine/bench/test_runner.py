"""The runner's ITCH rows: selected like the backtests, in the same results and JSON, targets judged off --quick."""

from __future__ import annotations

import json

import pytest

from engine.bench.runner import (
    ALL_WORKLOADS,
    ITCH_WORKLOADS,
    BenchOptions,
    ResultRow,
    _targets,
    run_bench,
    validate_workloads,
)


def test_itch_workloads_are_selectable_but_not_default() -> None:
    assert set(ITCH_WORKLOADS) <= set(ALL_WORKLOADS)
    assert not set(ITCH_WORKLOADS) & set(BenchOptions().workloads)
    assert validate_workloads(["itch_replay", "bbo", "itch_decode"]) == ["bbo", "itch_decode", "itch_replay"]


def test_quick_run_has_the_rows_and_leaves_the_targets_unjudged() -> None:
    steps: list[str] = []
    report = run_bench(BenchOptions(workloads=ITCH_WORKLOADS, quick=True, repeat=1),
                       lambda label, done, total: steps.append(label))
    assert [(r.workload, r.implementation, r.variant) for r in report.results] == [
        ("itch_decode", "ours", "bulk"), ("itch_replay", "ours", "exchange"), ("itch_replay", "ours", "itch")]
    for row in report.results:
        assert row.error is None and row.agree is True
        assert row.details is not None and row.seconds is not None
        assert row.ops == row.details["messages"] > 20_000 and row.runs == 1
        assert row.ops_per_s == pytest.approx(row.ops / row.seconds)
    targets = {(t.workload, t.variant): t for t in report.targets if t.workload in ITCH_WORKLOADS}
    assert set(targets) == {("itch_decode", "bulk"), ("itch_replay", "exchange")}
    assert all(t.met is None and t.measured is None for t in targets.values())
    assert report.warnings == [] and report.config["itch_order_events"] == 20_000
    assert steps[-1] == "done" and "itch" in steps
    doc = json.loads(json.dumps(report.to_json()))
    assert {(r["workload"], r["variant"]) for r in doc["results"]} == {
        ("itch_decode", "bulk"), ("itch_replay", "exchange"), ("itch_replay", "itch")}


def _row(workload: str, variant: str, rate: float) -> ResultRow:
    return ResultRow(workload, "ours", 1_000_000, 3, rate, 1e9 / rate, None, 1, 1, None, variant=variant,
                     seconds=1_000_000 / rate)


def test_full_size_targets_are_judged_on_the_median_rate() -> None:
    rows = [_row("itch_decode", "bulk", 6e6), _row("itch_replay", "exchange", 0.4e6), _row("itch_replay", "itch", 2e6)]
    got = {(t.workload, t.variant): t for t in _targets(rows) if t.workload in ITCH_WORKLOADS}
    assert got[("itch_decode", "bulk")].measured == 6e6 and got[("itch_decode", "bulk")].met is True
    assert got[("itch_replay", "exchange")].met is False  # the ItchBook row's 2 M msg/s is not what is judged
    assert got[("itch_replay", "exchange")].label == "≥ 0.5 M msg/s"
