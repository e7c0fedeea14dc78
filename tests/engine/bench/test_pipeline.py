"""Pipeline benchmarks: deterministic generators (audit log, plan target), tiny runs. Never asserts speed."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from audit.events import parse_event
from audit.reader import read_audit
from audit.validator import is_valid, validate
from configs.loader import load_config, load_target
from engine.bench import BenchOptions, run_bench
from engine.bench.auditlog import HEADER_LINES, audit_log_lines, write_audit_log
from engine.bench.decide import decide
from engine.bench.pipeline import (
    PLAN_CONFIG,
    pipeline_size,
    prepare_plan_dir,
    target_document,
    target_weights,
    universe,
)
from engine.rebalance.recovery import decide_from_log, reconstruct


def lines_of(n: int, seed: int = 1) -> list[str]:
    return [line for chunk in audit_log_lines(n, seed) for line in chunk]


def writer_line(line: str) -> str:
    """What AuditWriter.append writes for the event this line holds (model_dump json, compact, no ASCII escaping)."""
    data = parse_event(json.loads(line)).model_dump(mode="json")
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------- audit log generator


def test_same_lines_and_seed_give_the_same_log() -> None:
    assert lines_of(2_000, 7) == lines_of(2_000, 7)
    assert lines_of(2_000, 7) != lines_of(2_000, 8)


@pytest.mark.parametrize("n", [*range(60), 97, 1_000, 1_234])
def test_exactly_n_lines_with_contiguous_seq(n: int) -> None:
    lines = lines_of(n, seed=n)
    assert len(lines) == n
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, n + 1))


def test_every_line_is_byte_identical_to_what_the_writer_writes() -> None:
    lines = lines_of(4_000, seed=3)
    mismatched = [line for line in lines if writer_line(line) != line]
    assert mismatched == []


def test_the_log_has_the_run_shape_and_a_crash_at_the_end(tmp_path: Path) -> None:
    info = write_audit_log(tmp_path / "audit.jsonl", 3_000, seed=5)
    data = (tmp_path / "audit.jsonl").read_bytes()
    assert (info.lines, info.bytes, info.sha256) == (3_000, len(data), hashlib.sha256(data).hexdigest())
    log = read_audit(info.path)
    assert len(log.records) == 3_000 and log.torn_tail is None and log.format == "v1"
    counts = Counter(record.name for record in log.records)
    for name in ("run_started", "account_summary_result", "positions_result", "quotes_result", "diff_computed",
                 "risk_check", "user_confirmed", "order_intent", "order_submitted", "order_filled",
                 "run_completed"):
        assert counts[name] > 0, name
    assert counts["run_started"] == counts["run_completed"] + 1  # every run completes but the cut-off last one
    assert counts["order_failed"] + counts["cancel_intent"] > 0
    issues = validate(log)
    assert is_valid(issues), [i for i in issues if i.severity == "error"][:3]
    decision = decide_from_log(reconstruct(log))
    assert decision.action in ("resume", "manual_review")
    assert decision.in_flight and decision.in_flight[-1].log_status in ("intent", "submitted")


@pytest.mark.parametrize("n", [1, HEADER_LINES, HEADER_LINES + 1, HEADER_LINES + 2, HEADER_LINES + 3, 40, 41])
def test_short_logs_start_a_run_and_end_in_flight(n: int) -> None:
    lines = lines_of(n)
    events = [json.loads(line)["event"] for line in lines]
    assert events[0] == "run_started" and "run_completed" not in events[-HEADER_LINES:]
    assert all(writer_line(line) == line for line in lines)
    if n > HEADER_LINES:  # long enough for the crash point: an order written ahead (or acknowledged) last
        assert events[-1] in ("order_intent", "order_submitted")
    if n <= HEADER_LINES + 1:
        assert len({json.loads(line)["run_id"] for line in lines}) == 1


# ---------------------------------------------------------------- plan_500 inputs


def test_universe_and_weights_are_deterministic_and_sum_to_095() -> None:
    prices = universe(500)
    assert list(prices)[:2] == ["S0001", "S0002"] and len(prices) == 500
    assert prices == universe(500) and prices != universe(500, seed=2)
    assert all(1_000 <= ticks <= 50_000 for ticks in prices.values())
    weights = target_weights(list(prices))
    assert weights == target_weights(list(prices))
    assert sum(weights.values()) == Decimal("0.95")
    assert all(w > 0 for w in weights.values()) and len(set(weights.values())) > 100
    for n in (1, 2, 7, 20):
        assert sum(target_weights([f"S{i:04d}" for i in range(n)]).values()) == Decimal("0.95")


def test_target_and_config_load_cleanly(tmp_path: Path) -> None:
    symbols = list(universe(50))
    (tmp_path / "target.json").write_text(target_document(symbols), encoding="utf-8")
    target = load_target(tmp_path / "target.json").target
    assert [t.symbol for t in target.targets] == symbols
    assert sum(t.weight for t in target.targets) == Decimal("0.95")
    (tmp_path / "config.toml").write_text(PLAN_CONFIG, encoding="utf-8")
    config = load_config(tmp_path / "config.toml").config
    assert config.execution.tolerance_bps == 0 and config.execution.max_orders_per_run >= 500


def test_prepared_directory_plans_one_order_per_symbol(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from configs.loader import load_config as load
    from engine.brokers.sim import SimBroker, SimVenue
    from engine.rebalance.pipeline import PlanInputs, build_plan

    assert prepare_plan_dir(tmp_path, 30) >= 0
    assert SimVenue(tmp_path).summary()["symbols"] == 30
    loaded, tgt = load(tmp_path / "config.toml"), load_target(tmp_path / "target.json")
    inputs = PlanInputs(tgt.target, tmp_path / "target.json", tgt.sha256, loaded.config, loaded.sha256, "sim")
    broker = SimBroker(tmp_path, clock=lambda: datetime(2026, 11, 3, tzinfo=UTC))
    try:
        plan, _ = build_plan(broker, inputs, lambda: datetime(2026, 11, 3, tzinfo=UTC))
    finally:
        broker.close()
    assert len(plan.orders) == 30 and plan.risk_passed


def test_decide_reports_the_phases(tmp_path: Path) -> None:
    info = write_audit_log(tmp_path / "audit.jsonl", 500)
    result = decide(info.path)
    assert result["records"] == 500 and result["action"] in ("resume", "manual_review")
    assert result["seconds"] >= result["read_s"] >= 0 and result["max_rss_mb"] > 0


def test_sizes() -> None:
    assert (pipeline_size("plan_500"), pipeline_size("audit_1m")) == (500, 1_000_000)
    assert pipeline_size("plan_500", quick=True) < 100 and pipeline_size("audit_1m", quick=True) < 20_000


# ---------------------------------------------------------------- the workloads, tiny


def test_run_bench_quick_pipeline_rows() -> None:
    seen: list[tuple[str, int, int]] = []
    report = run_bench(BenchOptions(workloads=["audit_1m", "plan_500"], quick=True),
                       progress=lambda *a: seen.append(a))
    rows = {(r.workload, r.variant): r for r in report.results}
    assert list(rows) == [("plan_500", "cold"), ("plan_500", "warm"), ("audit_1m", "library"), ("audit_1m", "cli")]
    for row in rows.values():
        assert row.implementation == "ours" and row.error is None and row.agree is True
        assert row.seconds is not None and row.seconds > 0 and row.p50_ns is not None and row.p99_ns is not None
        assert row.p50_ns <= row.p99_ns and row.details is not None and row.details["samples"]
    assert rows[("plan_500", "warm")].details["orders"] == pipeline_size("plan_500", quick=True)  # type: ignore[index]
    assert rows[("audit_1m", "library")].details["lines"] == pipeline_size("audit_1m", quick=True)  # type: ignore[index]
    targets = [t for t in report.targets if t.workload in ("plan_500", "audit_1m")]
    assert {(t.workload, t.variant) for t in targets} == {("plan_500", "cold"), ("plan_500", "warm"),
                                                           ("audit_1m", "library")}
    assert all(t.met is None for t in targets)  # --quick sizes are not the targets' sizes
    assert report.warnings == []
    assert seen[-1][0] == "done" and seen[-1][1] == seen[-1][2]
    data = json.loads(json.dumps(report.to_json()))
    assert data["config"]["pipeline_sizes"] == {"plan_500": 20, "audit_1m": 5_000}


def test_pipeline_workloads_are_not_in_the_default_run() -> None:
    assert "plan_500" not in BenchOptions().workloads and "audit_1m" not in BenchOptions().workloads
