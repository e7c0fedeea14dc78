"""End-to-end: bad input gives one clear line on stderr, no traceback, the documented exit code, nothing placed and
no half-written files."""

from __future__ import annotations

import json

import pytest

from tests.nanobook_cli.helpers_e2e import REPO, TARGET_SYMBOLS, Workdir, assert_one_clean_error

GOOD_HEAD = '{"timestamp": "2026-11-02T21:00:00Z", "targets": ['


def _assert_nothing_happened(wd: Workdir, before: set[str]) -> None:
    """No plan file, no temp files, no audit trail, no venue orders."""
    after = wd.listing()
    created = after - before
    assert not {f for f in created if not f.startswith(".nanobook/")}, f"files left behind: {sorted(created)}"
    assert not [f for f in after if f.endswith(".tmp")], sorted(after)
    assert wd.venue_orders() == []


# (target file text, words the error line must contain)
BAD_TARGETS = {
    "malformed-json": (GOOD_HEAD + '{"symbol": "AAPL", "weight": 0.5}\n', ["bad.json:", "invalid JSON"]),
    "weights-over-1": (GOOD_HEAD + '{"symbol": "AAPL", "weight": 0.6}, {"symbol": "MSFT", "weight": 0.5}]}',
                       ["bad.json:1", "sum to 1.1000"]),
    "duplicate-symbols-by-case": (GOOD_HEAD + '{"symbol": "AAPL", "weight": 0.2}, {"symbol": "aapl", "weight": 0.1}]}',
                                  ["bad.json:1", "duplicate symbol 'aapl'"]),
    "nan-weight": (GOOD_HEAD + '{"symbol": "AAPL", "weight": NaN}]}', ["bad.json:1", "NaN"]),
    "infinite-weight": (GOOD_HEAD + '{"symbol": "AAPL", "weight": Infinity}]}', ["bad.json:1", "finite"]),
    "not-an-object": ("[1, 2, 3]\n", ["bad.json:1", "JSON object"]),
}


@pytest.mark.parametrize("case", sorted(BAD_TARGETS))
def test_bad_target_is_refused_by_plan_and_run(wd: Workdir, case: str) -> None:
    text, needles = BAD_TARGETS[case]
    wd.write("bad.json", text)
    before = wd.listing()
    for args in (("plan", "bad.json", "--out", "plan.json"), ("run", "bad.json", "--yes")):
        assert_one_clean_error(wd.nb(*args), 4, *needles)
    as_json = wd.nb_json("run", "bad.json", "--yes")
    assert as_json.returncode == 4 and as_json.doc["errors"][0]["type"] == "TargetError"
    _assert_nothing_happened(wd, before)


def test_missing_target_file(wd: Workdir) -> None:
    before = wd.listing()
    for args in (("plan", "nope.json", "--out", "plan.json"), ("run", "nope.json", "--yes"),
                 ("reconcile", "nope.json")):
        assert_one_clean_error(wd.nb(*args), 4, "nope.json", "not found")
    _assert_nothing_happened(wd, before)


# (config.toml text, words the error line must contain)
BAD_CONFIGS = {
    "unknown-key": ("[execution]\norder_interval_ms = 100\nbogus_key = 1\n",
                    ["config.toml:3", "bogus_key", "unknown key"]),
    "unknown-table": ("[broker]\nkind = \"sim\"\n\n[nonsense]\nx = 1\n", ["config.toml:4", "nonsense"]),
    "nan-in-toml": ("[risk]\nmax_position_pct = nan\n", ["config.toml:2", "max_position_pct", "finite"]),
    "inf-in-toml": ("[execution]\norder_timeout_s = inf\n", ["config.toml:2", "order_timeout_s"]),
    "toml-syntax": ("[execution\norder_timeout_s = 1\n", ["config.toml:1", "invalid TOML"]),
    "out-of-range": ("[risk]\nmax_position_pct = 1.5\n", ["config.toml:2", "max_position_pct"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_names_the_file_and_line(wd: Workdir, case: str) -> None:
    text, needles = BAD_CONFIGS[case]
    wd.config(text)
    before = wd.listing()
    commands: tuple[tuple[str, ...], ...] = (("plan", "target.json", "--out", "plan.json"),
                                             ("run", "target.json", "--yes"))
    if case == "unknown-key":  # every command reads the config the same way; check them all once
        commands += (("reconcile", "target.json"), ("positions",), ("status",), ("recover",), ("kill",))
    for args in commands:
        assert_one_clean_error(wd.nb(*args), 4, *needles)
    _assert_nothing_happened(wd, before)


def test_unknown_symbol_names_sim_set_price(wd: Workdir) -> None:
    target = wd.target_doc()
    target["targets"][0]["symbol"] = "ZZZQ"
    wd.write_target(target)
    for args in (("plan", "target.json", "--out", "plan.json"), ("run", "target.json", "--yes")):
        assert_one_clean_error(wd.nb(*args), 4, "ZZZQ", "nanobook sim set-price ZZZQ")
    assert not (wd.path / "plan.json").exists()
    assert wd.venue_orders() == []
    assert not [f for f in wd.listing() if f.endswith(".tmp")]
    # Whatever the failed run audited is whole (every line parses) and does not block the next run.
    wd.audit()
    assert wd.nb("status").returncode == 0

    # The fix the message names works.
    assert wd.nb("sim", "set-price", "ZZZQ", "50.00").returncode == 0
    assert wd.nb("plan", "target.json").returncode == 0


def test_failed_run_is_recorded_as_finished_not_incomplete(wd: Workdir) -> None:
    """Regression test (fixed bug).

    Was: a run that stops on a handled error (here an unknown symbol, exit 4) writes run_started and the reads
    it made, but never run_completed, so `nanobook status` then reports that run as "incomplete".

    Repro: set the first target's symbol to ZZZQ; `nanobook run target.json --yes` (exit 4);
    `nanobook status --json` → data.last_run.status == "incomplete". Same after `run` with NANOBOOK_SIM_FAULTS=
    unavailable=1 (exit 6). Expected: run_completed with an error status closes every run the process started.
    """
    target = wd.target_doc()
    target["targets"][0]["symbol"] = "ZZZQ"
    wd.write_target(target)
    assert wd.nb("run", "target.json", "--yes").returncode == 4
    names = [e["event"] for e in wd.audit()]
    assert "run_started" not in names or names[-1] == "run_completed", names
    assert wd.nb_json("status").doc["data"]["last_run"]["status"] != "incomplete"


def test_replay_of_a_garbage_file_exits_4(wd: Workdir) -> None:
    wd.write("garbage.jsonl", "this is not json\n\x00\x01 neither is this\n")
    result = wd.nb("replay", "garbage.jsonl")
    assert_one_clean_error(result, 4, "garbage.jsonl")
    as_json = wd.nb_json("replay", "garbage.jsonl")
    assert as_json.returncode == 4 and as_json.doc["status"] == "error"


def test_replay_of_a_missing_file_is_a_clean_error(wd: Workdir) -> None:
    result = wd.nb("replay", "missing.jsonl")
    assert result.returncode in (2, 4), str(result)
    assert "Traceback" not in result.stderr
    assert "missing.jsonl" in result.stderr


def test_run_without_target_or_plan_is_a_usage_error(wd: Workdir) -> None:
    before = wd.listing()
    result = wd.nb("run", "--yes")
    assert result.returncode == 2, str(result)
    assert "Traceback" not in result.stderr
    assert "give a TARGET or --plan PLAN" in result.stderr
    assert wd.listing() == before
    assert not (wd.path / "logs").exists()


@pytest.mark.parametrize("args", [("plan",), ("run", "--bogus-flag"), ("reconcile", "--tolerance-bps", "-3"),
                                  ("recover", "extra-arg")], ids="-".join)
def test_usage_errors_exit_2(wd: Workdir, args: tuple[str, ...]) -> None:
    result = wd.nb(*args)
    assert result.returncode == 2, str(result)
    assert "Traceback" not in result.stderr


def test_a_valid_target_still_works_after_the_bad_ones(wd: Workdir) -> None:
    """Sanity check of the fixture: the example target plans fine in the same kind of directory."""
    result = wd.nb_json("plan", "target.json")
    assert result.returncode == 0
    assert sorted(o["symbol"] for o in result.doc["data"]["orders"]) == sorted(TARGET_SYMBOLS)


@pytest.mark.parametrize("out", ["adir", "no-such-dir/plan.json"])
def test_plan_out_that_cannot_be_written_is_a_clean_error_leaving_nothing(wd: Workdir, out: str) -> None:
    (wd.path / "adir").mkdir()
    before = wd.listing()
    result = wd.nb("plan", "target.json", "--out", out)
    assert_one_clean_error(result, 4, out)
    left = {f for f in wd.listing() - before if not f.startswith(".nanobook/")}  # the venue may be created
    assert left == set() and not [f for f in wd.listing() if f.endswith(".tmp")]


@pytest.mark.parametrize("out", ["adir", "no-such-dir/trades.jsonl"])
def test_replay_trades_out_that_cannot_be_written_is_a_clean_error(wd: Workdir, out: str) -> None:
    (wd.path / "adir").mkdir()
    wd.write("ev.jsonl", '{"SubmitLimit":{"side":"Buy","price":100,"quantity":1,"time_in_force":"GTC"}}\n')
    before = wd.listing()
    result = wd.nb("replay", "ev.jsonl", "--trades-out", out)
    assert_one_clean_error(result, 4, out)
    assert wd.listing() == before


DEEP_JSON = '{"a":' * 5000 + "1" + "}" * 5000 + "\n"


@pytest.mark.parametrize("args", [("replay", "deep.json"), ("replay", "deep.json", "--dialect", "oracle"),
                                  ("backtest", "deep.json", "prices.csv")], ids="-".join)
def test_deeply_nested_json_is_one_clean_error(wd: Workdir, args: tuple[str, ...]) -> None:
    wd.write("deep.json", DEEP_JSON)
    wd.write("prices.csv", "date,AAA\n2024-01-02,10.00\n2024-01-03,10.50\n")
    assert_one_clean_error(wd.nb(*args), 4, "deep.json", "nested too deeply")


@pytest.mark.parametrize(("args", "command"), [
    (("run", "--yes", "--json"), "run"), (("plan", "--json", "--bogus"), "plan"),
    (("backtest", "w.csv", "p.csv", "--mode", "foo", "--json"), "backtest"),
    (("sim", "set-price", "--json"), "sim set-price")], ids=lambda v: "-".join(v) if isinstance(v, tuple) else v)
def test_usage_errors_with_json_still_give_one_envelope(wd: Workdir, args: tuple[str, ...], command: str) -> None:
    result = wd.nb(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr, str(result)
    doc = json.loads(result.stdout)
    assert (doc["command"], doc["status"], doc["exit_code"]) == (command, "error", 2)
    assert doc["errors"][0]["type"] == "UsageError" and doc["errors"][0]["message"]


def test_replay_of_an_audit_log_failing_validation_exits_10_naming_the_line(wd: Workdir) -> None:
    lines = (REPO.parent / "shared" / "data" / "audit-fixtures" / "multiple_orders.jsonl").read_text().splitlines()
    wd.write("ok.jsonl", "\n".join(lines) + "\n")
    assert wd.nb("replay", "ok.jsonl").returncode == 0
    wd.write("dup.jsonl", "\n".join([*lines[:5], lines[4], *lines[5:]]) + "\n")  # line 5 written twice
    line = assert_one_clean_error(wd.nb("replay", "dup.jsonl"), 10, "dup.jsonl:6", "seq_order")
    assert "fails validation" in line
    doc = json.loads(wd.nb("replay", "dup.jsonl", "--json").stdout)
    assert (doc["status"], doc["exit_code"]) == ("error", 10) and doc["data"]["validation"]["ok"] is False
    assert doc["errors"] and doc["errors"][0]["type"] == "AuditCorrupt"


def test_replay_refuses_two_documents_on_stdout(wd: Workdir) -> None:
    wd.write("ev.jsonl", '{"SubmitLimit":{"side":"Buy","price":100,"quantity":1,"time_in_force":"GTC"}}\n')
    result = wd.nb("replay", "ev.jsonl", "--trades-out", "-", "--json")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert json.loads(result.stdout)["errors"][0]["message"].endswith("give --trades-out a file")


def test_json_errors_list_every_config_problem_while_people_get_one_line(wd: Workdir) -> None:
    wd.write("bad.toml", "[risk]\nmax_position_pct = 5\nbogus = 1\n[execution]\nlimit_offset_bps = -4\n")
    line = assert_one_clean_error(wd.nb("plan", "target.json", "--config", "bad.toml"), 4, "bad.toml:2")
    assert line.endswith("(and 2 more)")
    doc = json.loads(wd.nb("plan", "target.json", "--config", "bad.toml", "--json").stdout)
    assert [e["message"].split(" ")[0] for e in doc["errors"]] == ["bad.toml:2", "bad.toml:3", "bad.toml:5"]
