"""`nanobook sim ...`: run through the real error funnel (`nanobook_cli.app.main`) with the sim sub-app mounted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer

import nanobook_cli.app as app_module
from engine.brokers.sim import SimBroker
from nanobook_cli.commands import sim
from tests.engine.brokers.sim.helpers import Clock, req

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("NANOBOOK_SIM_FAULTS", raising=False)


def _root() -> typer.Typer:
    root = typer.Typer(no_args_is_help=True, add_completion=False)

    @root.callback()
    def _cb() -> None:
        """nanobook (test root)."""

    root.add_typer(sim.app, name="sim")
    return root


def nb(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str, int]:
    """Run `nanobook sim ARGS` in-process: (stdout, stderr, exit code)."""
    monkeypatch.setattr(app_module, "app", _root())
    monkeypatch.setattr(sys, "argv", ["nanobook", "sim", *args])
    with pytest.raises(SystemExit) as info:
        app_module.main()
    captured = capsys.readouterr()
    code = info.value.code
    return captured.out, captured.err, int(code) if code is not None else 0


def nb_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    stdout, _, code = nb(monkeypatch, capsys, *args, "--json")
    doc: dict[str, Any] = json.loads(stdout)
    assert doc["exit_code"] == code
    return doc


# ------------------------------------------------------------------------------------------ happy paths


def test_help_lists_the_commands(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stdout, _, code = nb(monkeypatch, capsys, "--help")
    assert code == 0
    for command in ("init", "set-price", "step", "show", "orders", "reset"):
        assert command in stdout


def test_first_use_creates_the_venue_and_says_so_on_stderr(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    stdout, stderr, code = nb(monkeypatch, capsys, "show")
    assert code == 0
    assert "created a new simulated venue at .nanobook/sim.db" in stderr
    assert "cash 1,000,000.00 · equity 1,000,000.00" in stdout
    assert "Positions: none" in stdout
    assert (tmp_path / ".nanobook" / "sim.db").is_file()
    _, stderr, _ = nb(monkeypatch, capsys, "show")
    assert stderr == ""


def test_init_with_cash_and_prices(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                   tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("symbol,price\nAAPL,190\nNEWCO,5.5\n", encoding="utf-8")
    doc = nb_json(monkeypatch, capsys, "init", "--cash", "250,000", "--prices", "p.csv", "--seed", "3")
    assert (doc["command"], doc["status"], doc["exit_code"]) == ("sim init", "ok", 0)
    data = doc["data"]
    assert (data["cash"], data["seed"], data["step"], data["allow_short"]) == ("250000.00", 3, 0, False)
    assert data["symbols"] >= 101
    broker = SimBroker(tmp_path, Clock())
    assert broker.quotes(["AAPL", "NEWCO"])["NEWCO"].last == Decimal("5.50")
    assert broker.quotes(["AAPL"])["AAPL"].last == Decimal("190.00")


def test_init_only_the_given_prices(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                    tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("AAA,10\nBBB,20\n", encoding="utf-8")
    stdout, _, code = nb(monkeypatch, capsys, "init", "--prices", "p.csv", "--no-bundled", "--allow-short")
    assert code == 0
    assert "Created the simulated venue at .nanobook/sim.db: cash 1,000,000.00 · 2 symbols" in stdout
    assert "shorting allowed" in stdout


def test_init_refuses_to_replace_unless_forced(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert nb(monkeypatch, capsys, "init")[2] == 0
    stdout, stderr, code = nb(monkeypatch, capsys, "init", "--cash", "5")
    assert code == 4
    assert stdout == ""
    assert stderr.count("\n") == 1
    assert stderr.startswith("nanobook sim init: error: a simulated venue already exists")
    assert "--force" in stderr
    assert nb_json(monkeypatch, capsys, "init", "--cash", "5", "--force")["data"]["cash"] == "5.00"


def test_set_price_step_show_orders_reset(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    broker = SimBroker(tmp_path, Clock())
    broker.place_limit(req("cli-buy", qty=10, price="186.00"))      # fills now
    broker.place_limit(req("cli-rest", qty=5, price="180.00"))      # rests
    stdout, _, code = nb(monkeypatch, capsys, "set-price", "AAPL", "200")
    assert (code, stdout.splitlines()[0]) == (0, "AAPL 185.00 → 200.00")
    assert nb(monkeypatch, capsys, "set-price", "zzz", "12.5")[0].strip() == "Listed ZZZ at 12.50"

    doc = nb_json(monkeypatch, capsys, "set-price", "AAPL", "179.50")
    assert doc["data"]["old_price"] == "200.00"
    assert [(f["client_order_id"], f["price"]) for f in doc["data"]["fills"]] == [("cli-rest", "180.00")]

    step = nb_json(monkeypatch, capsys, "step", "3")
    assert (step["data"]["from_step"], step["data"]["to_step"]) == (0, 3)
    stdout, _, _ = nb(monkeypatch, capsys, "step")
    assert stdout.startswith("Stepped 3 → 4: 0 fills")

    orders = nb_json(monkeypatch, capsys, "orders")["data"]
    assert orders["count"] == 2
    first = orders["orders"][0]
    for key in ("client_order_id", "order_id", "symbol", "side", "quantity", "limit_price", "filled_quantity",
                "avg_fill_price", "status"):
        assert key in first
    assert [(o["client_order_id"], o["status"], o["filled_quantity"]) for o in orders["orders"]] == [
        ("cli-buy", "filled", "10"), ("cli-rest", "filled", "5")]
    assert nb_json(monkeypatch, capsys, "orders", "--open")["data"]["orders"] == []
    table, _, _ = nb(monkeypatch, capsys, "orders")
    assert "cli-buy" in table
    assert "cli-rest" in table

    show = nb_json(monkeypatch, capsys, "show", "--book", "aapl", "--depth", "3")["data"]
    assert show["positions"][0]["symbol"] == "AAPL"
    assert show["positions"][0]["quantity"] == "15"
    assert len(show["book"]["bids"]) == 3
    assert show["venue"]["step"] == 4
    human, _, _ = nb(monkeypatch, capsys, "show", "--book", "AAPL")
    assert "AAPL book (reference" in human
    assert "Positions" in human

    reset = nb_json(monkeypatch, capsys, "reset")["data"]
    assert (reset["step"], reset["orders"], reset["cash"]) == (0, 0, "1000000.00")
    assert nb(monkeypatch, capsys, "reset")[0].startswith("Reset the simulated venue at .nanobook/sim.db")


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(("price", "message"), [
    ("abc", "price 'abc' is not a number"), ("-5", "price must be positive, got -5"),
    ("0", "price must be positive"), ("nan", "finite"),
])
def test_bad_price_is_one_line_exit_4(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                      price: str, message: str) -> None:
    stdout, stderr, code = nb(monkeypatch, capsys, "set-price", "AAPL", price)
    assert code == 4
    assert stdout == ""
    assert stderr.count("\n") == 1
    assert stderr.startswith("nanobook sim set-price: error: ")
    assert message in stderr


def test_unknown_symbol_names_set_price(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _, stderr, code = nb(monkeypatch, capsys, "show", "--book", "NOPE")
    assert code == 4
    assert "unknown symbol 'NOPE'" in stderr
    assert "`nanobook sim set-price NOPE PRICE`" in stderr
    doc = nb_json(monkeypatch, capsys, "show", "--book", "NOPE")
    assert (doc["status"], doc["exit_code"]) == ("error", 4)
    assert doc["errors"][0]["type"] == "UnknownSymbol"


def test_bad_csv_names_the_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("symbol,price\nAAPL,185\nMSFT,abc\n", encoding="utf-8")
    stdout, stderr, code = nb(monkeypatch, capsys, "init", "--prices", "bad.csv")
    assert (stdout, code) == ("", 4)
    assert stderr == "nanobook sim init: error: bad.csv:3: price 'abc' is not a number (e.g. 185.25)\n"
    assert not (tmp_path / ".nanobook").exists()


@pytest.mark.parametrize("args", [["init", "--cash", "lots"], ["init", "--cash", "-1"], ["set-price", "A B", "1"]])
def test_other_bad_input_exits_4(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                 args: list[str]) -> None:
    _, stderr, code = nb(monkeypatch, capsys, *args)
    assert code == 4
    assert stderr.count("\n") == 1


def test_usage_errors_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert nb(monkeypatch, capsys, "step", "0")[2] == 2
    assert nb(monkeypatch, capsys, "set-price", "AAPL")[2] == 2


# ------------------------------------------------------------------------------------------ processes


def test_real_process_keeps_stdout_pure_json(tmp_path: Path) -> None:
    code = ("import sys\n"
            "from nanobook_cli import app as a\n"
            "from nanobook_cli.commands import sim\n"
            "if not any(g.name == 'sim' for g in a.app.registered_groups):\n"
            "    a.app.add_typer(sim.app, name='sim')\n"
            "sys.argv = ['nanobook', 'sim'] + sys.argv[1:]\n"
            "a.main()\n")
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO)}
    env.pop("NANOBOOK_SIM_FAULTS", None)
    proc = subprocess.run([sys.executable, "-c", code, "orders", "--json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"] == {"count": 0, "orders": []}
    assert "created a new simulated venue" in proc.stderr


def test_importing_the_command_module_does_not_import_the_engine() -> None:
    code = ("import sys, nanobook_cli.commands.sim\n"
            "print(','.join(m for m in ('engine.lob.exchange', 'engine.brokers.sim', 'sqlite3') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
