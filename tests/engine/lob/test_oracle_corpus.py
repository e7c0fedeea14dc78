"""The OCaml oracle corpus (../shared/data/lob-oracle-corpus) replayed in-process and through `nanobook replay`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.lob import Exchange, load_events
from engine.lob.events import oracle_trade_line
from tests.engine.lob.rows import book

REPO = Path(__file__).resolve().parents[3]
NANOBOOK = Path(sys.executable).parent / "nanobook"
EXACT_CASES = [f"{n:02d}" for n in range(1, 17)]
INT63_CASES = ["17", "18"]


def case_dir(corpus_dir: Path, number: str) -> Path:
    (found,) = corpus_dir.glob(f"{number}-*")
    return found


def replay_case(path: Path, int63: bool = False) -> tuple[Exchange, bytes]:
    ex = Exchange.replay(load_events(str(path / "input.jsonl"), "oracle"))
    text = "".join(oracle_trade_line(t, int63) + "\n" for t in ex.trades())
    return ex, text.encode("utf-8")


def run_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    return subprocess.run([str(NANOBOOK), *args], cwd=REPO, capture_output=True, timeout=60, check=False, env=env)


def test_corpus_has_18_cases(corpus_dir: Path) -> None:
    names = sorted(p.name for p in corpus_dir.iterdir() if p.is_dir())
    assert len(names) == 18
    assert [n[:2] for n in names] == EXACT_CASES + INT63_CASES
    for n in names:
        assert (corpus_dir / n / "input.jsonl").is_file()
        assert (corpus_dir / n / "output.jsonl").is_file()


@pytest.mark.parametrize("number", EXACT_CASES)
def test_case_output_is_byte_identical(corpus_dir: Path, number: str) -> None:
    path = case_dir(corpus_dir, number)
    _, produced = replay_case(path)
    assert produced == (path / "output.jsonl").read_bytes()


# Final book of every exact case, from engine-spec §10 (bids, asks as (price, quantity, order_count)).
EXPECTED_BOOKS = {
    "01": ([], [(10100, 50, 1)]),
    "02": ([(10000, 50, 1)], [(10100, 100, 1)]),
    "03": ([], []),
    "04": ([], [(10200, 100, 1)]),
    "05": ([], [(10000, 50, 1)]),
    "06": ([], []),
    "07": ([], [(10000, 20, 1)]),
    "08": ([], []),
    "09": ([], []),
    "10": ([], [(10000, 50, 1)]),
    "11": ([], [(10100, 50, 1)]),
    "12": ([], [(10000, 50, 1)]),
    "13": ([], [(10000, 100, 1)]),
    "14": ([(10000, 50, 1)], []),
    "15": ([], [(10000, 100, 1)]),
    "16": ([(10000, 50, 1)], []),
}


@pytest.mark.parametrize("number", EXACT_CASES)
def test_case_final_book(corpus_dir: Path, number: str) -> None:
    ex, _ = replay_case(case_dir(corpus_dir, number))
    assert book(ex) == EXPECTED_BOOKS[number]


def test_case_05_fok_ghost_and_case_13_stp_cancel(corpus_dir: Path) -> None:
    ex, _ = replay_case(case_dir(corpus_dir, "05"))
    assert ex.get_order(2) is None  # the FOK reject's ghost id
    assert ex.submit_limit("buy", 1, 1).order_id == 3
    ex, _ = replay_case(case_dir(corpus_dir, "13"))
    o = ex.get_order(2)
    assert (o.status, o.remaining_quantity, o.owner) == ("cancelled", 0, 1)


@pytest.mark.parametrize("number", INT63_CASES)
def test_cases_17_18_match_only_with_63_bit_wrap(corpus_dir: Path, number: str) -> None:
    """Documented divergence: the OCaml writer truncates int64 to 63-bit native ints (±(2**63-1) → ∓1)."""
    path = case_dir(corpus_dir, number)
    expected = (path / "output.jsonl").read_bytes()
    ex, plain = replay_case(path)
    assert plain != expected
    price = -(2**63 - 1) if number == "17" else 2**63 - 1
    assert [(t.price, t.quantity, t.aggressor_order_id, t.passive_order_id, t.timestamp) for t in ex.trades()] == [
        (price, 50, 2, 1, 3)]  # the correct 64-bit result
    assert json.loads(expected)["price"] == (1 if number == "17" else -1)
    _, wrapped = replay_case(path, int63=True)
    assert wrapped == expected


# ---------------------------------------------------------------------------- through the CLI


@pytest.mark.parametrize("number", EXACT_CASES)
def test_cli_trades_out_stdout_is_byte_identical(corpus_dir: Path, number: str) -> None:
    path = case_dir(corpus_dir, number)
    proc = run_cli("replay", str(path / "input.jsonl"), "--dialect", "oracle", "--trades-out", "-")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (path / "output.jsonl").read_bytes()


@pytest.mark.parametrize("number", INT63_CASES)
def test_cli_oracle_int63_flag(corpus_dir: Path, number: str) -> None:
    path = case_dir(corpus_dir, number)
    expected = (path / "output.jsonl").read_bytes()
    plain = run_cli("replay", str(path / "input.jsonl"), "--dialect", "oracle", "--trades-out", "-")
    assert plain.returncode == 0
    assert plain.stdout != expected
    wrapped = run_cli("replay", str(path / "input.jsonl"), "--dialect", "oracle", "--trades-out", "-",
                      "--oracle-int63")
    assert wrapped.stdout == expected


def test_cli_trades_out_file(corpus_dir: Path, tmp_path: Path) -> None:
    path = case_dir(corpus_dir, "07")
    target = tmp_path / "trades.jsonl"
    proc = run_cli("replay", str(path / "input.jsonl"), "--trades-out", str(target))
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes() == (path / "output.jsonl").read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["trades.jsonl"]  # no temp file left behind


def test_cli_malformed_file_exits_4_and_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type":"SubmitLimit","side":"BUY","price":1,"quantity":1,"time_in_force":"GTC"}\n'
                   '\n'
                   '{"type":"SubmitLimit","side":"BUY","price":1,"quantity":-5,"time_in_force":"GTC"}\n')
    proc = run_cli("replay", str(bad), "--dialect", "oracle", "--trades-out", "-")
    assert proc.returncode == 4
    assert proc.stdout == b""
    assert f"{bad}:3:".encode() in proc.stderr
    assert b"quantity" in proc.stderr


def test_cli_non_string_event_type_exits_4_not_internal_error(tmp_path: Path) -> None:
    """ENGINE BUG: {"type": [...]} raises TypeError inside the oracle reader; the CLI reports an internal
    error (exit 1) instead of a malformed recording (exit 4 with the line number)."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type":["SubmitLimit"]}\n')
    proc = run_cli("replay", str(bad), "--dialect", "oracle", "--trades-out", "-")
    assert b"internal error" not in proc.stderr
    assert proc.returncode == 4
    assert f"{bad}:1:".encode() in proc.stderr


def test_cli_json_envelope(corpus_dir: Path, tmp_path: Path) -> None:
    path = case_dir(corpus_dir, "01") / "input.jsonl"
    proc = run_cli("replay", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert list(doc) == ["schema_version", "command", "status", "exit_code", "data", "warnings", "errors"]
    assert (doc["schema_version"], doc["command"], doc["status"], doc["exit_code"]) == ("1", "replay", "ok", 0)
    assert (doc["warnings"], doc["errors"]) == ([], [])
    data = doc["data"]
    assert (data["dialect"], data["events"], data["trades"], data["volume"], data["vwap"]) == (
        "oracle", 2, 1, 50, 10100)
    assert data["book"] == {"bids": [], "asks": [{"price": 10100, "quantity": 50, "order_count": 1}]}

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type":"Bogus"}\n')
    proc = run_cli("replay", str(bad), "--json")
    assert proc.returncode == 4
    doc = json.loads(proc.stdout)
    assert (doc["status"], doc["exit_code"], doc["data"]) == ("error", 4, {})
    assert doc["errors"][0]["type"] == "EventLogError"
    assert f"{bad}:1:" in doc["errors"][0]["message"]
