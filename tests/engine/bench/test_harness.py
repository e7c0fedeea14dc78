"""Bench harness and runner: sane numbers on small N, worker isolation, timeouts, cross-checks. Never asserts speed."""

from __future__ import annotations

import importlib.util
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from engine.bench import BenchOptions, run_bench
from engine.bench import workloads as w
from engine.bench.adapters import SUPPORTS, make_adapter
from engine.bench.harness import RunResult, latency_sample, percentile, run_workload, time_batch, timer_overhead_ns
from engine.bench.runner import _run_isolated, validate_workloads

HAS_REFERENCE = importlib.util.find_spec("nanobook") is not None
HAS_PYORDERBOOK = importlib.util.find_spec("pyorderbook") is not None


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7], 0.99) == 7
    assert percentile([], 0.5) == 0


def test_timer_and_batch_and_latency_are_non_negative() -> None:
    assert timer_overhead_ns(1000) >= 0
    calls = [(len, ("abc",))] * 500
    assert time_batch(calls) > 0
    lat = latency_sample(calls, overhead_ns=10**9)  # a huge overhead clamps every sample at 0
    assert lat == [0] * 500


@pytest.mark.parametrize("name", w.WORKLOAD_NAMES)
def test_run_workload_quick_returns_sane_numbers_and_the_expected_book(name: str) -> None:
    wl = w.make(name, w.size(name, quick=True))
    result = run_workload("ours", wl)
    assert result.ops == len(wl.ops)
    assert result.elapsed_ns > 0
    assert 0 < result.ops_per_s < float("inf")
    assert 0 <= result.p50_ns <= result.p99_ns
    assert result.book == wl.expected.book
    assert result.trades_digest == wl.expected.trades_digest
    assert RunResult.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_loop_overhead_adapter_has_no_book() -> None:
    wl = w.make("mixed", 200)
    result = run_workload("loop-overhead", wl)
    assert result.book == ([], [])
    assert result.trades_digest is None


def test_validate_workloads_orders_and_rejects() -> None:
    assert validate_workloads(["mixed", "bbo", "mixed"]) == ["bbo", "mixed"]
    with pytest.raises(ValueError, match="unknown workload 'bogus'"):
        validate_workloads(["bogus"])


def test_run_bench_quick_in_process() -> None:
    seen: list[tuple[str, int, int]] = []
    report = run_bench(BenchOptions(workloads=["submit_no_match", "cancel_deep", "mixed"], quick=True,
                                    isolate=False), progress=lambda *a: seen.append(a))
    rows = {(r.workload, r.implementation): r for r in report.results}
    assert set(rows) == {(n, impl) for n in ("submit_no_match", "cancel_deep", "mixed")
                         for impl in ("loop-overhead", "ours")}
    for (name, impl), row in rows.items():
        assert row.error is None
        assert row.ops == w.size(name, quick=True)
        assert row.ops_per_s is not None and row.ops_per_s > 0
        assert row.p50_ns is not None and row.p99_ns is not None and row.p50_ns <= row.p99_ns
        if impl == "ours":
            assert row.agree is True and row.agree_with == ["model"]
            assert row.net_ns_per_op is not None
    assert seen[-1][0] == "done" and seen[-1][1] == seen[-1][2]
    assert {t.workload for t in report.targets} >= {"submit_no_match", "bbo", "cli_help"}
    assert all(t.met is None for t in report.targets if t.kind.startswith("ratio"))
    data = json.loads(json.dumps(report.to_json()))
    assert data["environment"]["python"] and data["environment"]["packages"]["nanobook-cli"]


def test_run_bench_isolated_with_repeat_and_cli_help() -> None:
    report = run_bench(BenchOptions(workloads=["bbo", "cli_help"], quick=True, repeat=2))
    ours = report.row("bbo", "ours")
    assert ours is not None and ours.runs == 2 and ours.spread_pct is not None and ours.agree is True
    helped = report.row("cli_help", "ours")
    assert helped is not None and helped.error is None
    assert helped.seconds is not None and helped.seconds > 0
    assert report.warnings == []


def test_a_failing_worker_is_reported_not_raised(tmp_path: Path) -> None:
    spec = tmp_path / "spec.pickle"
    spec.write_bytes(pickle.dumps({"implementation": "no-such-engine", "workloads": [w.make("bbo", 10)]}))
    error = _run_isolated("no-such-engine", spec, tmp_path / "out.jsonl", timeout_s=60)
    assert error is not None and error.startswith("worker exited 1:") and "unknown implementation" in error


@pytest.mark.skipif(not HAS_REFERENCE, reason="reference package nanobook not installed")
def test_a_hanging_reference_is_killed_after_the_timeout(tmp_path: Path) -> None:
    # Reference bug B1 (research/perf.md §9): this five-call sequence never returns on nanobook 0.19.2.
    hang = w.Workload("mixed", 0, [], [(w.LIMIT, w.SELL, 10001, 73), (w.LIMIT, w.SELL, 10001, 93),
                                       (w.LIMIT, w.BUY, 10001, 35), (w.LIMIT, w.BUY, 10001, 50),
                                       (w.CANCEL, 2), (w.LIMIT, w.BUY, 10001, 10)],
                      w.Expected(([], []), []))
    fine = w.make("bbo", 100)
    spec = tmp_path / "spec.pickle"
    spec.write_bytes(pickle.dumps({"implementation": "reference", "workloads": [fine, hang]}))
    out = tmp_path / "out.jsonl"
    error = _run_isolated("reference", spec, out, timeout_s=5)
    assert error is not None and "timed out after 5 s" in error
    done = [json.loads(line)["workload"] for line in out.read_text().splitlines()]
    assert done == ["bbo"]  # results finished before the hang are kept


def test_reference_never_runs_plain_mixed() -> None:
    assert "mixed" not in SUPPORTS["reference"]
    assert "mixed_safe" in SUPPORTS["reference"]


@pytest.mark.skipif(not (HAS_REFERENCE and HAS_PYORDERBOOK), reason="reference or pyorderbook not installed")
def test_run_bench_against_reference_and_pyorderbook_agrees() -> None:
    report = run_bench(BenchOptions(workloads=["cancel_deep", "mixed", "mixed_safe"], quick=True,
                                    vs_reference=True, vs_peers=True))
    assert report.warnings == []
    safe = report.row("mixed_safe", "ours")
    assert safe is not None and safe.agree is True and safe.agree_with == ["model", "reference"]
    assert safe.ratio_vs_reference is not None and safe.ratio_vs_pyorderbook is not None
    assert report.row("mixed", "reference") is None
    peer = report.row("mixed", "pyorderbook")
    assert peer is not None and peer.ops == w.size("mixed", quick=True, peer=True) and peer.agree is True
    ref = report.row("cancel_deep", "reference")
    assert ref is not None and ref.agree is True
    by_target = {(t.workload, t.kind): t for t in report.targets}
    assert by_target[("mixed_safe", "ratio_vs_reference")].measured == safe.ratio_vs_reference
    assert by_target[("mixed", "ratio_vs_pyorderbook")].met is not None


@pytest.mark.skipif(not HAS_PYORDERBOOK, reason="pyorderbook not installed")
def test_pyorderbook_adapter_silences_its_logging_basic_config() -> None:
    code = ("import logging\nfrom engine.bench.adapters import make_adapter\nmake_adapter('pyorderbook')\n"
            "print([type(h).__name__ for h in logging.getLogger().handlers], logging.getLogger().level)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert proc.stdout.split() == ["['NullHandler']", str(30)]  # no stream handler, root still at WARNING


@pytest.mark.skipif(not HAS_PYORDERBOOK, reason="pyorderbook not installed")
def test_pyorderbook_adapter_reports_the_expected_book() -> None:
    wl = w.make("mixed", 1500)
    adapter = make_adapter("pyorderbook")
    adapter.run(wl.setup)
    adapter.run(wl.ops)
    assert adapter.book() == wl.expected.book
    assert adapter.trades() is None
