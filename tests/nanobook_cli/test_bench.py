"""`nanobook bench` through the real console script: --json envelope, usage errors, table. Never asserts speed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NANOBOOK = Path(sys.executable).parent / "nanobook"
ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "160"}
FIELDS = {"workload", "implementation", "ops", "ops_per_s", "p50_ns", "p99_ns"}


def run(*args: str, columns: str = "160") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NANOBOOK), "bench", *args], capture_output=True, text=True,
                          env={**ENV, "COLUMNS": columns}, timeout=300, check=False)


def test_quick_json_emits_the_envelope_with_results() -> None:
    proc = run("--quick", "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # not a TTY: no progress
    doc = json.loads(proc.stdout)
    assert doc["schema_version"] == "1" and doc["command"] == "bench"
    assert doc["status"] == "ok" and doc["exit_code"] == 0 and doc["errors"] == []
    results = doc["data"]["results"]
    names = {r["workload"] for r in results}
    assert names == {"submit_no_match", "submit_match_1", "cancel_deep", "bbo", "l2_top10", "mixed", "mixed_safe",
                     "cli_help"}
    for row in results:
        assert set(row) >= FIELDS
        assert row["error"] is None
        assert row["ops_per_s"] > 0 and 0 <= row["p50_ns"] <= row["p99_ns"]
        if row["implementation"] == "ours" and row["workload"] != "cli_help":
            assert row["agree"] is True
    assert {r["implementation"] for r in results} == {"loop-overhead", "ours"}
    env = doc["data"]["environment"]
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["cpu"] and env["date_utc"].endswith("Z")
    assert set(env["packages"]) >= {"nanobook-cli", "nanobook", "pyorderbook"}
    assert doc["data"]["config"]["quick"] is True and doc["data"]["config"]["repeat"] == 1
    assert any(t["workload"] == "cli_help" and t["met"] is not None for t in doc["data"]["targets"])


def test_unknown_workload_exits_2_with_one_line() -> None:
    proc = run("--workload", "bogus")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("nanobook bench: error: unknown workload 'bogus' (choose from: submit_no_match")


def test_unknown_workload_with_json_is_an_error_envelope() -> None:
    proc = run("--workload", "bbo", "--workload", "bogus", "--json")
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc["status"] == "error" and doc["exit_code"] == 2
    assert "unknown workload 'bogus'" in doc["errors"][0]["message"]


def test_table_output_and_repeat() -> None:
    proc = run("--quick", "--workload", "bbo", "-w", "l2_top10", "--repeat", "2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    for text in ("workload", "ops/s", "p50", "p99", "loop-overhead", "ours (engine.lob)", "bbo", "l2_top10",
                 "≥ 10 M/s", "2 run(s) per implementation"):
        assert text in out
    assert "mixed" not in out


def test_narrow_terminal_table_fits() -> None:
    proc = run("--quick", "--workload", "submit_no_match", "-w", "cli_help", columns="80")
    assert proc.returncode == 0, proc.stderr
    assert all(len(line) <= 80 for line in proc.stdout.splitlines())
    assert "submit_no_match" in proc.stdout and "--help" in proc.stdout


@pytest.mark.skipif(importlib.util.find_spec("nanobook") is None or importlib.util.find_spec("pyorderbook") is None,
                    reason="reference package or pyorderbook not installed")
def test_vs_reference_and_peers_json() -> None:
    proc = run("--quick", "--json", "--vs-reference", "--vs-peers", "-w", "submit_match_1", "-w", "mixed",
               "-w", "mixed_safe")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    rows = {(r["workload"], r["implementation"]): r for r in doc["data"]["results"]}
    assert ("mixed", "reference") not in rows  # bug B1: the reference runs mixed_safe only
    assert rows[("mixed_safe", "ours")]["agree_with"] == ["model", "reference"]
    assert rows[("mixed_safe", "ours")]["agree"] is True
    assert rows[("submit_match_1", "ours")]["ratio_vs_reference"] > 0
    assert rows[("mixed", "ours")]["ratio_vs_pyorderbook"] > 0
    assert rows[("mixed", "pyorderbook")]["ops"] < rows[("mixed", "ours")]["ops"]
    assert doc["warnings"] == []


def test_help_lists_the_options() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    for option in ("--vs-reference", "--vs-peers", "--quick", "--workload", "--repeat", "--json"):
        assert option in proc.stdout


def test_pipeline_quick_json_rows_and_targets() -> None:
    proc = run("--quick", "--pipeline", "-w", "cli_help", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] == "ok" and doc["warnings"] == []
    results = doc["data"]["results"]
    rows = {(r["workload"], r["variant"]): r for r in results}
    assert set(rows) == {("cli_help", None), ("plan_500", "cold"), ("plan_500", "warm"), ("audit_1m", "library"),
                         ("audit_1m", "cli")}
    for (name, variant), row in rows.items():
        assert row["implementation"] == "ours" and row["error"] is None
        assert row["seconds"] > 0 and 0 < row["p50_ns"] <= row["p99_ns"]
        if variant is not None:
            assert row["agree"] is True and row["details"]["samples"] and row["details"]["ms"] > 0
            assert row["ops"] == doc["data"]["config"]["pipeline_sizes"][name]
    assert rows[("plan_500", "warm")]["details"]["orders"] == rows[("plan_500", "warm")]["ops"]
    assert rows[("audit_1m", "library")]["details"]["action"] in ("resume", "manual_review")
    targets = {(t["workload"], t["variant"]): t for t in doc["data"]["targets"]}
    for key in (("plan_500", "cold"), ("plan_500", "warm"), ("audit_1m", "library")):
        assert targets[key]["kind"] == "max_seconds" and targets[key]["met"] is None  # not judged with --quick


def test_pipeline_table_names_the_commands() -> None:
    proc = run("--quick", "-w", "plan_500")
    assert proc.returncode == 0, proc.stderr
    for text in ("plan_500", "nanobook plan (cold)", "nanobook plan (warm)", "20 symbols", "≤ 1.5 s ·", "ms"):
        assert text in proc.stdout
    assert "loop-overhead" not in proc.stdout and "audit_1m" not in proc.stdout


def test_help_lists_the_pipeline_option() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    assert "--pipeline" in proc.stdout and "plan_500" in proc.stdout


def test_itch_quick_json_rows_and_unjudged_targets() -> None:
    proc = run("--itch", "--quick", "--json", "-w", "itch_decode")  # --itch adds itch_replay to the chosen one
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] == "ok" and doc["warnings"] == []
    rows = {(r["workload"], r["variant"]): r for r in doc["data"]["results"]}
    assert set(rows) == {("itch_decode", "bulk"), ("itch_replay", "exchange"), ("itch_replay", "itch")}
    for row in rows.values():
        assert row["implementation"] == "ours" and row["error"] is None and row["agree"] is True
        details = row["details"]
        assert row["ops"] == details["messages"] and details["bytes"] > row["ops"]
        assert row["ops_per_s"] > 0 and details["best_msgs_per_s"] >= details["median_msgs_per_s"] > 0
        assert not any(details["invariants"].values())
    assert doc["data"]["config"]["workloads"] == ["itch_decode", "itch_replay"]
    assert doc["data"]["config"]["itch_order_events"] == 20_000
    targets = {(t["workload"], t["variant"]): t for t in doc["data"]["targets"] if t["workload"].startswith("itch")}
    assert set(targets) == {("itch_decode", "bulk"), ("itch_replay", "exchange")}
    assert all(t["kind"] == "min_ops_per_s" and t["met"] is None for t in targets.values())


def test_itch_table_names_the_variants() -> None:
    proc = run("--quick", "-w", "itch_replay")
    assert proc.returncode == 0, proc.stderr
    for text in ("itch_replay", "replay, Exchange books (default)", "replay, ItchBook (--books itch)", "msgs",
                 "≥ 0.5 M/s ·"):
        assert text in proc.stdout
    assert "itch_decode" not in proc.stdout and "loop-overhead" not in proc.stdout


def test_help_lists_the_itch_option() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    assert "--itch" in proc.stdout and "itch_replay" in proc.stdout
