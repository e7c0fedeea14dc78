"""`nanobook repl`: piped sessions (CliRunner and a real subprocess), the parser, and one terminal session on a pty."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import pytest
from rich.console import Console
from typer.testing import CliRunner

from nanobook_cli.app import app
from nanobook_cli.repl.parse import Limit, ReplInputError, Trail, parse_line, parse_money, parse_order_id, parse_qty
from nanobook_cli.repl.session import Session
from nanobook_cli.repl.shell import Completer

NANOBOOK = Path(sys.executable).parent / "nanobook"
ENV = {"NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb"}


def repl(script: str, **env: str) -> tuple[str, str, int]:
    """Run a piped session in-process; (stdout, stderr, exit code)."""
    result = CliRunner().invoke(app, ["repl"], input=script, env={**ENV, **env})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.stdout, result.stderr, result.exit_code


def lines(script: str) -> list[str]:
    out, err, code = repl(script)
    assert (err, code) == ("", 0)
    return [line.rstrip() for line in out.splitlines()]  # rich pads table lines to the table's width


def run_process(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NANOBOOK), "repl"], input=script, capture_output=True, text=True,
                          env={**os.environ, **ENV, **env}, timeout=60, check=False)


# ------------------------------------------------------------------------------------------ orders

def test_issue_example_script_prints_only_results() -> None:
    proc = run_process("sell 101.00 50\nbuy 101.00 20\ntrades\n")
    assert proc.returncode == 0
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [
        "O1 resting 50 @ $101.00",
        "filled 20 @ $101.00 (1 trade) · O2 complete",
        "T1 20 @ $101.00 buy O2←O1",
    ]


def test_limit_remainder_rests_after_sweeping_levels() -> None:
    assert lines("sell 101 50\nsell 102.00 30\nbuy $102 100\n")[-1] == (
        "filled 80 @ $101.00–$102.00 (2 trades) · O3 resting 20 @ $102.00")


def test_ioc_remainder_is_cancelled() -> None:
    assert lines("sell 101 30\nsell 101.50 20\nbuy 101.50 70 IOC\n")[-1] == (
        "filled 50 @ $101.00–$101.50 (2 trades) · O3 cancelled 20")


def test_fok_that_cannot_fill_trades_nothing() -> None:
    assert lines("sell 101 30\nbuy 101 40 fok\nbook\n")[1:2] == ["no fill (fok) · O2 cancelled 40"]


def test_market_order_sweeps_and_never_rests() -> None:
    out = lines("sell 101 50\nsell 102 30\nmarket buy 100\nmarket sell 5\n")
    assert out[2:] == ["filled 80 @ $101.00–$102.00 (2 trades) · O3 cancelled 20",
                       "no fill (market) · O4 cancelled 5"]


def test_stop_market_fires_on_a_trade_through_its_price() -> None:
    out = lines("buy 99 100\nstop sell 99.00 30\nsell 99 10\ntrades\n")
    assert out[1] == "O2 stop sell 30 @ $99.00 pending"
    assert out[2] == "filled 10 @ $99.00 (1 trade) · O3 complete · 1 stop fired (1 trade)"
    assert out[3:] == ["T1 10 @ $99.00 sell O3←O1", "T2 30 @ $99.00 sell O4←O1"]


def test_stop_limit_and_trailing_stops_are_pending() -> None:
    out = lines("stop buy 102 10 limit 102.50\ntrail sell 98 10 fixed 1.00\ntrail sell 97 10 pct 0.05\n"
                "trail buy 105 5 sma 2 14 limit 106\nbook\n")
    assert out[:4] == [
        "O1 stop buy 10 @ $102.00 limit $102.50 pending",
        "O2 trailing stop sell 10 @ $98.00 (trail $1.00) pending",
        "O3 trailing stop sell 10 @ $97.00 (trail 5%) pending",
        "O4 trailing stop buy 5 @ $105.00 limit $106.00 (trail 2× mean |Δp| over 14) pending",
    ]
    assert out[-1].endswith("4 pending stops")


def test_cancel_order_and_stop() -> None:
    assert lines("buy 100 10\nstop sell 90 5\ncancel O1\ncancel 2\nbook\n")[2:] == [
        "O1 cancelled 10", "O2 cancelled 5", "book is empty",
        "bid — · ask — · last — · 0 resting orders · 0 pending stops"]


def test_modify_replaces_and_may_trade() -> None:
    out = lines("buy 100 10\nsell 101 4\nmodify O1 101.00 10\n")
    assert out[2] == "O1 replaced by O3 · filled 4 @ $101.00 (1 trade) · O3 resting 6 @ $101.00"


# ------------------------------------------------------------------------------------------ views

def test_book_table_shows_both_sides() -> None:
    out = lines("buy 100.50 10\nbuy 100.50 5\nbuy 100 7\nsell 101 3\nbook\n")
    table = "\n".join(out[4:])
    for text in ("orders", "bid qty", "bid", "ask", "ask qty", "$100.50", "$100.00", "$101.00"):
        assert text in table
    row = next(line for line in out if "$100.50" in line and "$101.00" in line)
    assert row.split() == ["2", "│", "15", "│", "$100.50", "│", "$101.00", "│", "3", "│", "1"]
    assert out[-1] == "bid $100.50 · ask $101.00 · spread $0.50 · last — · 4 resting orders · 0 pending stops"


def test_depth_limits_the_levels() -> None:
    out = lines("buy 100 1\nbuy 99 1\nbuy 98 1\ndepth 2\n")
    assert out[3] == "best 2 levels per side"
    table = "\n".join(out[4:])
    assert "$99.00" in table and "$98.00" not in table


def test_trades_last_n_and_none() -> None:
    assert lines("trades\n") == ["no trades yet"]
    out = lines("sell 1 3\nbuy 1 1\nbuy 1 1\nbuy 1 1\ntrades 2\n")
    assert out[4:] == ["T2 1 @ $1.00 buy O3←O1", "T3 1 @ $1.00 buy O4←O1"]


def test_help_lists_every_command() -> None:
    out = "\n".join(lines("help\n"))
    for word in ("buy", "sell", "market", "stop", "trail", "cancel", "modify", "book", "depth", "trades",
                 "save", "load", "help", "quit"):
        assert f"\n  {word}" in out
    assert lines("help trail\n")[0].startswith("trail <buy|sell> <stop> <qty> fixed <amount>")


def test_command_help_lists_commands_and_exit_codes() -> None:
    result = CliRunner().invoke(app, ["repl", "--help"], env={**ENV, "COLUMNS": "120"})
    assert result.exit_code == 0
    for text in ("buy|sell <price> <qty> [ioc|fok]", "trail <buy|sell>", "save <path>", "Exit codes", "4 piped"):
        assert text in result.stdout


# ------------------------------------------------------------------------------------------ errors

@pytest.mark.parametrize(("line", "message"), [
    ("buyy 1 2", "error: unknown command 'buyy' (try 'help')"),
    ("x" * 5000, f"error: unknown command '{'x' * 40}…' (try 'help')"),
    ("buy 1.234 5", "error: price must be a positive amount with at most 2 decimals: '1.234'"),
    ("buy 100.505 5", "error: price must be a positive amount with at most 2 decimals: '100.505'"),
    ("sell -1 5", "error: price must be a positive amount with at most 2 decimals: '-1'"),
    ("sell NaN 5", "error: price must be a positive amount with at most 2 decimals: 'NaN'"),
    ("sell 0.00 5", "error: price must be a positive amount with at most 2 decimals: '0.00'"),
    ("buy 100 0", "error: quantity must be a positive whole number: '0'"),
    ("buy 100 1.5", "error: quantity must be a positive whole number: '1.5'"),
    ("buy 100 99999999999999999999999", "error: quantity is too large: '99999999999999999999999'"),
    ("buy 100 5 gtd", "error: time in force must be ioc or fok (default: rests until cancelled): 'gtd'"),
    ("market up 5", "error: side must be buy or sell: 'up'"),
    ("market buy", "error: usage: market <buy|sell> <qty>"),
    ("trail sell 98 10 pct 1.5", "error: trail fraction must be below 1 (0.05 = 5%): '1.5'"),
    ("trail sell 98 10 atr 2", "error: usage: trail <buy|sell> <stop> <qty> fixed <amount>|pct <fraction>|"
                               "sma <multiplier> <period> [limit <price>]"),
    ("trail sell 98 10 sma 0 5", "error: trail multiplier must be a positive number: '0'"),
    (f"trail sell 98 10 sma {'9' * 400} 5", f"error: trail multiplier is too large: '{'9' * 400}'"),
    ("cancel 42", "error: cannot cancel O42: no such order or pending stop"),
    ("cancel x1", "error: order id must look like 3 or O3: 'x1'"),
    ("modify 42 1 1", "error: cannot modify O42: no such resting order"),
    ("depth 0", "error: levels must be a positive whole number: '0'"),
    ("help nope", "error: no help for 'nope': not a command (try 'help')"),
    ('save "unclosed', "error: cannot split the line: No closing quotation"),
])
def test_bad_line_prints_one_error_and_the_session_goes_on(line: str, message: str) -> None:
    out, err, code = repl(f"{line}\nbuy 1 1\n")
    assert err.splitlines() == [message]
    assert out.splitlines()[-1].endswith("resting 1 @ $1.00")
    assert code == 4


def test_cancel_of_a_filled_order_is_an_error() -> None:
    _, err, code = repl("sell 1 1\nbuy 1 1\ncancel 1\n")
    assert err == "error: cannot cancel O1: already filled or cancelled\n"
    assert code == 4


def test_blank_lines_and_comments_are_ignored() -> None:
    assert lines("\n   \n# a comment\nbuy 1 1  # trailing comment\n") == ["O1 resting 1 @ $1.00"]


def test_quit_and_exit_end_the_session() -> None:
    assert lines("buy 1 1\nquit\nbuyy\n") == ["O1 resting 1 @ $1.00"]
    assert lines("EXIT\nbuyy\n") == []


def test_exit_code_is_4_after_a_failure_even_if_later_lines_succeed() -> None:
    proc = run_process("buyy\nbuy 1 1\nquit\n")
    assert proc.returncode == 4
    assert proc.stderr == "error: unknown command 'buyy' (try 'help')\n"
    assert "Traceback" not in proc.stdout + proc.stderr


def test_empty_input_exits_zero() -> None:
    assert repl("") == ("", "", 0)


def _session() -> tuple[Session, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Session(Console(file=out, no_color=True), Console(file=err, no_color=True)), out, err


@pytest.mark.parametrize("exc", [ValueError("bad value"), OverflowError("too big"), TypeError("bad type")])
def test_engine_exceptions_become_one_error_line(exc: Exception) -> None:
    from engine.lob import Exchange

    class Refusing(Exchange):
        def try_submit_limit(self, *_: object, **__: object) -> NoReturn:
            raise exc

    session, _, err = _session()
    session.exchange = Refusing()
    assert session.execute("buy 1 1") is True
    assert err.getvalue() == f"error: {exc}\n"
    assert (session.failures, session.internal_errors) == (1, 0)


def test_unexpected_exception_is_reported_as_internal_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    from nanobook_cli.repl import session as session_module

    def boom(*_: object) -> str:
        raise KeyError("oops")

    monkeypatch.setattr(session_module.render, "trade", boom)
    out, err, code = repl("sell 1 1\nbuy 1 1\ntrades\nbuy 2 2\n")
    assert err.startswith("error: internal error: KeyError: 'oops'")
    assert out.splitlines()[-1] == "O3 resting 2 @ $2.00"
    assert code == 1


def test_undecodable_input_is_an_error_line_not_a_crash() -> None:
    proc = subprocess.run([str(NANOBOOK), "repl"], input=b"\xff\xfe\nbuy 1 1\n", capture_output=True,
                          env={**os.environ, **ENV}, timeout=60, check=False)
    assert proc.returncode == 4
    assert proc.stderr.decode().startswith("error: unknown command")
    assert proc.stdout.decode() == "O1 resting 1 @ $1.00\n"


# ------------------------------------------------------------------------------------------ save / load

BUILD = ("buy 99 100\nbuy 98.50 40\nsell 101 50\nsell 101 25\nstop sell 99 30\ntrail sell 97 10 pct 0.05\n"
         "modify 3 100 60\nsell 99 60\ncancel 2\n")


def test_save_then_load_reproduces_the_book(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    out = lines(f"{BUILD}save {path}\nbook\ntrades\n")
    assert out[len(BUILD.splitlines())] == f"saved 9 events to {path}"
    original = out[len(BUILD.splitlines()) + 1:]
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(events) == 9 and next(iter(events[0])) == "SubmitLimit"

    reloaded = lines(f"buy 1 1\nload {path}\nbook\ntrades\n")
    assert reloaded[1] == f"loaded 9 events (events dialect) from {path} · 2 trades · 3 resting orders · 1 pending stop"
    assert reloaded[2:] == original


def test_save_to_a_bad_path_is_an_error_and_leaves_no_temp_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "x.jsonl"
    _, err, code = repl(f"buy 1 1\nsave {missing}\nsave {tmp_path}\nbook\n")
    assert err.splitlines()[0] == f"error: cannot save to '{missing}': No such file or directory"
    assert err.splitlines()[1].startswith(f"error: cannot save to '{tmp_path}':")
    assert code == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".nanobook-save-")]


def test_save_overwrites_as_an_ordinary_file(tmp_path: Path) -> None:
    path = tmp_path / "book.jsonl"
    path.write_text("old\n")
    assert lines(f"buy 1 1\nsave {path}\n")[1] == f"saved 1 event to {path}"
    assert path.read_text().count("\n") == 1 and "SubmitLimit" in path.read_text()
    assert path.stat().st_mode & 0o077 == 0o666 & ~_umask() & 0o077  # not mkstemp's private 0600


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_load_missing_file_keeps_the_book(tmp_path: Path) -> None:
    out, err, code = repl(f"buy 1 1\nload {tmp_path / 'nope.jsonl'}\nbook\n")
    assert err == f"error: {tmp_path / 'nope.jsonl'}: cannot read: No such file or directory\n"
    assert out.splitlines()[-1].endswith("1 resting order · 0 pending stops")
    assert code == 4


def test_load_malformed_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"SubmitLimit":{"side":"Buy","price":100,"quantity":1,"time_in_force":"GTC"}}\n{oops\n')
    out, err, code = repl(f"load {path}\nbuy 1 1\n")
    assert err.startswith(f"error: {path}:2: invalid JSON")
    assert len(err.splitlines()) == 1
    assert out == "O1 resting 1 @ $1.00\n"  # the failed load did not replace the fresh book
    assert code == 4


def test_load_deeply_nested_json_is_one_error_and_the_session_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"a":' * 5000 + "1" + "}" * 5000 + "\n")
    out, err, code = repl(f"load {path}\nbuy 1 1\n")
    assert err == f"error: {path}:1: invalid JSON: nested too deeply\n"
    assert out == "O1 resting 1 @ $1.00\n"
    assert code == 4


def test_load_oracle_corpus_file(corpus_dir: Path) -> None:
    case = corpus_dir / "03-market-order-sweep"
    proc = run_process(f"load {case / 'input.jsonl'}\ntrades\n")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0].startswith(f"loaded 4 events (oracle dialect) from {case / 'input.jsonl'} · 3 trades")
    expected = [json.loads(line) for line in (case / "output.jsonl").read_text().splitlines()]
    assert out[1:] == [f"T{t['id']} {t['quantity']} @ ${t['price'] // 100}.{t['price'] % 100:02d} "
                       f"{t['aggressor_side'].lower()} O{t['aggressor_order_id']}←O{t['passive_order_id']}"
                       for t in expected]


# ------------------------------------------------------------------------------------------ colour

def test_no_color_is_respected() -> None:
    script = "buy 1 1\nsell 2 1\nbook\nbuyy\n"
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    coloured = subprocess.run([str(NANOBOOK), "repl"], input=script, capture_output=True, text=True,
                              env={**env, "FORCE_COLOR": "1", "COLUMNS": "100"}, timeout=60, check=False)
    plain = run_process(script, FORCE_COLOR="1", TERM="xterm")
    assert "\x1b[32m" in coloured.stdout and "\x1b[1;31m" in coloured.stderr  # so the check below can fail
    for stream in (plain.stdout, plain.stderr):
        assert "\x1b[3" not in stream and ";3" not in stream
    assert "error: unknown command 'buyy'" in plain.stderr


# ------------------------------------------------------------------------------------------ parser

@pytest.mark.parametrize(("text", "ticks"), [("100.50", 10050), ("$7", 700), (".25", 25), ("0.01", 1),
                                             ("100.5", 10050), ("92233720368547758.07", 2**63 - 1)])
def test_parse_money_accepts_exact_cents(text: str, ticks: int) -> None:
    assert parse_money(text) == ticks


@pytest.mark.parametrize("text", ["100.505", "100.500", "-1", "0", "NaN", "inf", "1e3", "1_000", "١٠٠", "",
                                  "1,000", "92233720368547758.08", "$", "100."])
def test_parse_money_rejects(text: str) -> None:
    with pytest.raises(ReplInputError):
        parse_money(text)


def test_parse_qty_and_ids() -> None:
    assert parse_qty("18446744073709551615") == 2**64 - 1
    for bad in ("0", "-1", "1.0", "18446744073709551616", "+1"):
        with pytest.raises(ReplInputError):
            parse_qty(bad)
    assert parse_order_id("O3") == parse_order_id("o3") == parse_order_id("3") == 3
    with pytest.raises(ReplInputError):
        parse_order_id("O0")


def test_parse_line_builds_typed_commands() -> None:
    assert parse_line("BUY 100.50 10 ioc") == Limit("buy", 10050, 10, "ioc")
    assert parse_line("trail s 98 10 fixed 1.25 limit 97") == Trail("sell", 9800, 10, "fixed", 125, None, 9700)
    assert parse_line("trail b 98 10 sma 1.5 20") == Trail("buy", 9800, 10, "sma_abs_change", 1.5, 20)
    assert parse_line("  # only a comment") is None


def test_completer_offers_commands_keywords_and_paths(tmp_path: Path) -> None:
    (tmp_path / "book.jsonl").write_text("")
    complete = Completer(lambda: ("", 0))
    assert complete.candidates([], "bu") == ["buy "]
    assert complete.candidates([], "")[:3] == ["? ", "book ", "buy "]
    assert complete.candidates(["buy", "100", "5"], "i") == ["ioc "]
    assert complete.candidates(["trail", "sell", "98", "5"], "p") == ["pct "]
    assert complete.candidates(["load"], str(tmp_path / "bo")) == [str(tmp_path / "book.jsonl")]


# ------------------------------------------------------------------------------------------ terminal

def _read_until(fd: int, needle: str, seen: list[str], timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while needle not in "".join(seen):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {needle!r}; got {''.join(seen)!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                seen.append(os.read(fd, 4096).decode(errors="replace"))
            except OSError:  # EIO: the child closed the terminal
                break
    text = "".join(seen)
    seen.clear()
    return text


def _terminal_session(home: Path) -> tuple[int, int]:
    """Start `nanobook repl` on a pseudo-terminal that is its controlling terminal (so ^C sends SIGINT)."""
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1", "TERM": "xterm", "COLUMNS": "100"}
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover (child)
        os.execve(str(NANOBOOK), [str(NANOBOOK), "repl"], env)
    return pid, fd


def _wait(pid: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("nanobook repl did not exit")


def _drain(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk.decode(errors="replace"))
    return "".join(chunks)


def test_terminal_session_prompts_completes_and_keeps_history(tmp_path: Path) -> None:
    pid, fd = _terminal_session(tmp_path)
    seen: list[str] = []
    try:
        assert "'help' lists commands" in _read_until(fd, "nanobook> ", seen)
        os.write(fd, b"buy 100.50 10\r")
        assert "O1 resting 10 @ $100.50" in _read_until(fd, "nanobook> ", seen)
        os.write(fd, b"boo\t\r")  # tab completes "book"
        assert "bid qty" in _read_until(fd, "nanobook> ", seen)
        os.write(fd, b"buyy\r")
        assert "error: unknown command 'buyy'" in _read_until(fd, "nanobook> ", seen)
        os.write(fd, b"half a line")
        _read_until(fd, "line", seen)
        # Ctrl-C drops the line being typed. CPython's readline may only notice the SIGINT on the next key,
        # which is why an Enter follows; either way the dropped line must never run.
        os.write(fd, b"\x03")
        time.sleep(0.2)
        os.write(fd, b"\r")
        after = _read_until(fd, "nanobook> ", seen)
        # A known command answered proves the line editor is settled on a fresh, empty line (under load the
        # Ctrl-C and Enter may still be in flight when the first prompt shows), so Ctrl-D below means EOF.
        os.write(fd, b"book\r")
        after += _read_until(fd, "bid qty", seen)
        time.sleep(0.2)
        after += _drain(fd)
        assert "unknown command 'half'" not in after
        os.write(fd, b"\x04")  # Ctrl-D ends the session
        assert _wait(pid) == 0  # errors typed at a terminal do not change the exit code
        assert "Traceback" not in _drain(fd)
    finally:
        os.close(fd)
    history = (tmp_path / ".nanobook_history").read_text()
    assert "buy 100.50 10" in history and "book" in history


def test_terminal_session_survives_an_unwritable_history(tmp_path: Path) -> None:
    pid, fd = _terminal_session(tmp_path / "no" / "such" / "home")
    seen: list[str] = []
    try:
        _read_until(fd, "nanobook> ", seen)
        os.write(fd, b"quit\r")
        assert _wait(pid) == 0
        assert "Traceback" not in _drain(fd)
    finally:
        os.close(fd)
