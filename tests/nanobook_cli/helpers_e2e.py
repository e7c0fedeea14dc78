"""Helpers for the end-to-end tests of the rebalancer CLI (`tests/nanobook_cli/test_e2e_*.py`).

Every test drives the real console script (`.venv/bin/nanobook`) in a subprocess whose working directory is a fresh
temporary folder holding a copy of the example target. The simulated venue (.nanobook/sim.db) and the audit log
(logs/audit.jsonl) live in that folder, so tests never share state. Process output (stdout/stderr of background
runs) is written beside the working directory, never inside it, so "no half-written files" checks stay exact.

Robust on a slow, shared machine: generous subprocess timeouts and polling (`wait_for`) instead of fixed sleeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
NANOBOOK = VENV_BIN / "nanobook"
PYTHON = VENV_BIN / "python"
EXAMPLE_TARGET = REPO / "configs" / "examples" / "target.json"
TARGET_SYMBOLS = ("AAPL", "AMZN", "GOOGL", "JNJ", "JPM", "MSFT", "PG", "XOM")

CLI_TIMEOUT_S = 180.0          # one CLI call (a cold start on a busy 2-core box can take seconds)
AUDIT_PATH = Path("logs") / "audit.jsonl"

# Orders rest at the venue (a buy at mid never reaches the ask) until the timeout: a run that stays busy.
RESTING_CONFIG = """\
[execution]
limit_offset_bps = 0
order_timeout_s = 120.0
order_interval_ms = 50
"""


@dataclass(frozen=True)
class Result:
    """A finished CLI call."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (f"nanobook {' '.join(self.args)} → exit {self.returncode}\n--- stdout ---\n{self.stdout[-4000:]}"
                f"\n--- stderr ---\n{self.stderr[-4000:]}")

    @property
    def doc(self) -> dict[str, Any]:
        """The `--json` envelope on stdout (checked: one document, exit_code equals the process exit code)."""
        try:
            doc: dict[str, Any] = json.loads(self.stdout)
        except json.JSONDecodeError as exc:  # pragma: no cover - diagnostic path
            raise AssertionError(f"stdout is not one JSON document ({exc}):\n{self}") from None
        assert set(doc) == {"schema_version", "command", "status", "exit_code", "data", "warnings", "errors"}, doc
        assert doc["schema_version"] == "1", doc
        assert doc["exit_code"] == self.returncode, f"envelope exit_code {doc['exit_code']} ≠ process exit:\n{self}"
        return doc

    @property
    def error_lines(self) -> list[str]:
        """The `nanobook <command>: error: …` lines on stderr."""
        return [line for line in self.stderr.splitlines() if line.startswith("nanobook ") and ": error: " in line]


def assert_one_clean_error(result: Result, code: int, *needles: str) -> str:
    """Exit `code`, no traceback, exactly one `nanobook X: error:` line containing every needle; return it."""
    assert result.returncode == code, str(result)
    assert "Traceback" not in result.stderr, str(result)
    assert "Traceback" not in result.stdout, str(result)
    lines = result.error_lines
    assert len(lines) == 1, f"expected one error line, got {lines}:\n{result}"
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def base_env(faults: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every CLI call: no colour, wide tables, no inherited fault injection."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NANOBOOK_")}
    env.update({"NO_COLOR": "1", "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
    env.pop("FORCE_COLOR", None)
    if faults:
        env["NANOBOOK_SIM_FAULTS"] = faults
    if extra:
        env.update(extra)
    return env


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.02,
             message: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy (returned) or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {message}")
        time.sleep(interval)


class Background:
    """A `nanobook` process started in the background (stdout/stderr captured to files outside the workdir).

    Like an interactive shell, a reaper thread collects the exit status as soon as the process ends (`reap=False`
    leaves it a zombie until `wait`, as a parent busy elsewhere would).
    """

    def __init__(self, proc: subprocess.Popen[bytes], args: tuple[str, ...], out: Path, err: Path,
                 handles: Sequence[IO[bytes]], *, reap: bool = True) -> None:
        self.proc = proc
        self.args = args
        self.out_path = out
        self.err_path = err
        self._handles = handles
        if reap:
            threading.Thread(target=self._reap, name=f"reap-{proc.pid}", daemon=True).start()

    def _reap(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.wait()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            self.proc.send_signal(signum)

    def kill9(self) -> int:
        """SIGKILL and reap; returns the exit status."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        return self.wait()

    def wait(self, timeout: float = CLI_TIMEOUT_S) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            raise AssertionError(f"nanobook {' '.join(self.args)} did not finish in {timeout:.0f}s:\n"
                                 f"{self.stderr()[-3000:]}") from None
        for handle in self._handles:
            handle.close()
        return code

    def result(self, timeout: float = CLI_TIMEOUT_S) -> Result:
        code = self.wait(timeout)
        return Result(self.args, code, self.stdout(), self.stderr())

    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def cleanup(self) -> None:
        """Kill and reap (used by fixtures so no test leaves a process behind)."""
        if self.alive():
            self.proc.kill()
        try:
            self.proc.wait(timeout=30)
        finally:
            for handle in self._handles:
                if not handle.closed:
                    handle.close()


class Workdir:
    """One isolated working directory for the CLI: `root/wd` (cwd of every call) and `root/io` (process output)."""

    def __init__(self, root: Path, *, target: bool = True) -> None:
        self.path = root / "wd"
        self.io = root / "io"
        self.path.mkdir()
        self.io.mkdir()
        self._background: list[Background] = []
        self._counter = 0
        if target:
            (self.path / "target.json").write_bytes(EXAMPLE_TARGET.read_bytes())

    # ------------------------------------------------------------------ running the CLI

    def nb(self, *args: str, faults: str | None = None, timeout: float = CLI_TIMEOUT_S,
           stdin: str | None = None, env: Mapping[str, str] | None = None) -> Result:
        """Run `nanobook ARGS` to completion (stdin is /dev/null unless text is given)."""
        proc = subprocess.run(
            [str(NANOBOOK), *args], cwd=self.path, env=base_env(faults, env), capture_output=True,
            input=stdin.encode() if stdin is not None else None,
            stdin=subprocess.DEVNULL if stdin is None else None, timeout=timeout, check=False,
        )
        return Result(tuple(args), proc.returncode, proc.stdout.decode("utf-8", "replace"),
                      proc.stderr.decode("utf-8", "replace"))

    def nb_json(self, *args: str, faults: str | None = None, timeout: float = CLI_TIMEOUT_S) -> Result:
        """`nb(*args, "--json")`, with the envelope checked (use `.doc`)."""
        result = self.nb(*args, "--json", faults=faults, timeout=timeout)
        _ = result.doc
        return result

    def start(self, *args: str, faults: str | None = None, stdin: int | IO[Any] | None = None,
              env: Mapping[str, str] | None = None, reap: bool = True) -> Background:
        """Start `nanobook ARGS` in the background (its own process group is not used: signals go to it alone)."""
        self._counter += 1
        out = self.io / f"bg{self._counter}.out"
        err = self.io / f"bg{self._counter}.err"
        out_handle = out.open("wb")
        err_handle = err.open("wb")
        proc = subprocess.Popen(
            [str(NANOBOOK), *args], cwd=self.path, env=base_env(faults, env),
            stdin=subprocess.DEVNULL if stdin is None else stdin, stdout=out_handle, stderr=err_handle,
        )
        bg = Background(proc, tuple(args), out, err, (out_handle, err_handle), reap=reap)
        self._background.append(bg)
        return bg

    def python(self, code: str, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """Run a snippet with the project's interpreter in the working directory (e.g. direct venue access)."""
        proc = subprocess.run([str(PYTHON), "-c", code], cwd=self.path, env=base_env(), capture_output=True,
                              text=True, timeout=timeout, check=False)
        assert proc.returncode == 0, f"python snippet failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        return proc

    def cleanup(self) -> None:
        for bg in self._background:
            bg.cleanup()

    # ------------------------------------------------------------------ files

    def write(self, name: str, text: str) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def config(self, text: str) -> Path:
        """Write config.toml in the working directory."""
        return self.write("config.toml", text)

    def target_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.path / "target.json").read_text(encoding="utf-8"))
        return doc

    def write_target(self, doc: Mapping[str, Any], name: str = "target.json") -> Path:
        return self.write(name, json.dumps(doc, indent=2) + "\n")

    def listing(self) -> set[str]:
        """Every file under the working directory (relative paths), for before/after comparisons."""
        return {p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()}

    # ------------------------------------------------------------------ audit log

    @property
    def audit_path(self) -> Path:
        return self.path / AUDIT_PATH

    def audit_text(self) -> str:
        return self.audit_path.read_text(encoding="utf-8") if self.audit_path.exists() else ""

    def audit_line_count(self) -> int:
        try:
            return self.audit_path.read_bytes().count(b"\n")
        except FileNotFoundError:
            return 0

    def audit(self) -> list[dict[str, Any]]:
        """Parsed audit lines. A torn (unparseable) line is skipped when it is the last one or when a later
        `torn_tail_repaired` event acknowledges it; any other bad line fails the test."""
        lines = self.audit_text().splitlines()
        events: list[dict[str, Any]] = []
        torn: list[tuple[int, str]] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                torn.append((number, line))
        repaired = {e.get("line") for e in events if e.get("event") == "torn_tail_repaired"}
        for number, line in torn:
            assert number == len(lines) or number in repaired, (
                f"audit line {number} of {len(lines)} is not JSON and was never acknowledged: {line!r}")
        return events

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.audit() if e.get("event") == name]

    def last_run_events(self) -> list[dict[str, Any]]:
        """Events from the last run_started on."""
        events = self.audit()
        starts = [i for i, e in enumerate(events) if e.get("event") == "run_started"]
        return events[starts[-1]:] if starts else events

    def our_client_ids(self) -> set[str]:
        """Client order ids we wrote ahead (order_intent) anywhere in the log."""
        return {e["client_order_id"] for e in self.events("order_intent")}

    # ------------------------------------------------------------------ venue

    def venue_orders(self) -> list[dict[str, Any]]:
        """Every order the venue ever received (`nanobook sim orders --json`)."""
        result = self.nb("sim", "orders", "--json")
        assert result.returncode == 0, str(result)
        orders: list[dict[str, Any]] = result.doc["data"]["orders"]
        for order in orders:
            assert "client_order_id" in order, order
        return orders

    def working_orders(self, orders: Iterable[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        rows = self.venue_orders() if orders is None else orders
        return [dict(o) for o in rows if o["status"] in ("submitted", "partially_filled", "pending")]

    def assert_no_duplicate_client_ids(self, orders: Iterable[Mapping[str, Any]] | None = None) -> None:
        rows = list(self.venue_orders() if orders is None else orders)
        counts = Counter(o["client_order_id"] for o in rows)
        duplicates = {k: v for k, v in counts.items() if v > 1}
        assert not duplicates, f"the venue holds orders with the same client_order_id: {duplicates}"

    def place_foreign_order(self, client_order_id: str = "ext-manual-1", symbol: str = "KO",
                            side: str = "buy", quantity: str = "10", limit: str = "30.00") -> dict[str, Any]:
        """Book an order directly at the venue (not through nanobook), resting far from the market."""
        code = (
            "import json\n"
            "from decimal import Decimal\n"
            "from pathlib import Path\n"
            "from engine.brokers.base import OrderRequest\n"
            "from engine.brokers.sim import SimBroker, SimFaults\n"
            "with SimBroker(Path.cwd(), faults=SimFaults()) as b:\n"
            f"    o = b.place_limit(OrderRequest({client_order_id!r}, {symbol!r}, {side!r}, Decimal({quantity!r}),"
            f" Decimal({limit!r})))\n"
            "    print(json.dumps({'order_id': o.order_id, 'client_order_id': o.client_order_id,"
            " 'status': o.state.value}))\n"
        )
        placed: dict[str, Any] = json.loads(self.python(code).stdout.strip().splitlines()[-1])
        assert placed["status"] == "submitted", placed
        return placed


def audit_is_readable(wd: Workdir) -> dict[str, Any]:
    """`nanobook replay logs/audit.jsonl --json` succeeds (a torn last line is reported, not fatal)."""
    result = wd.nb("replay", str(AUDIT_PATH), "--dialect", "audit", "--json")
    assert result.returncode == 0, str(result)
    doc = result.doc
    assert doc["data"]["recovery"]["action"] in ("restart", "resume", "manual_review", "rollback"), doc
    return doc


__all__ = [
    "AUDIT_PATH",
    "CLI_TIMEOUT_S",
    "EXAMPLE_TARGET",
    "NANOBOOK",
    "RESTING_CONFIG",
    "TARGET_SYMBOLS",
    "Background",
    "Result",
    "Workdir",
    "assert_one_clean_error",
    "audit_is_readable",
    "base_env",
    "wait_for",
]
