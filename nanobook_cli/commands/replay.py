"""`nanobook replay FILE`: replay an order-book recording and print a summary, optionally its trades."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from engine.lob.replay import ReplayResult

_DIALECT_HELP = ("Force the input kind: 'events' (order-book event log), 'oracle' (corpus dialect) or 'audit' "
                 "(a nanobook or seed audit log). Default: detect.")


def replay(
    file: Path = typer.Argument(..., readable=False, help="Recording to replay (JSON lines).", show_default=False),
    dialect: str | None = typer.Option(None, "--dialect", help=_DIALECT_HELP, metavar="events|oracle|audit"),
    trades_out: str | None = typer.Option(
        None, "--trades-out", metavar="PATH|-",
        help="Write the trades in the oracle dialect (compact, corpus key order) to PATH, or '-' for stdout."),
    int63: bool = typer.Option(
        False, "--oracle-int63",
        help="Wrap written integers to 63 bits like the OCaml oracle (reproduces corpus cases 17/18)."),
    depth: int = typer.Option(5, "--depth", min=1, max=1000, help="Book levels per side in the summary."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON envelope on stdout."),
    itch: bool = typer.Option(False, "--itch", help="FILE is NASDAQ TotalView-ITCH 5.0 (plain or .gz)."),
    symbols: str | None = typer.Option(None, "--symbols", metavar="AAPL,MSFT", help="ITCH: books for these only."),
    limit: int | None = typer.Option(None, "--limit", min=1, metavar="N", help="ITCH: stop after N messages."),
    books: str = typer.Option("exchange", "--books", metavar="exchange|itch",
                              help="ITCH: one engine.lob Exchange per symbol, or the leaner (faster) ITCH books."),
) -> None:
    """Replay a recording: order-book events into a fresh book, or an audit log into a recovery decision.

    For an audit log (no broker access) it reports the reconstructed last run, the validator result and the
    log-only recovery decision (`data.recovery.action`).
    Exit codes: 0 ok · 4 unreadable or malformed recording (the bad line is named) · 10 corrupt audit log ·
    2 usage.
    """
    if itch:
        from nanobook_cli.commands import replay_itch

        replay_itch.run(file, symbols, limit, depth, json_out, books)
        return
    from engine.lob.replay import replay_file
    from nanobook_cli.output.envelope import begin, emit

    begin("replay", json_out)
    if dialect is not None and dialect not in ("events", "oracle", "audit"):
        raise typer.BadParameter(f"must be events, oracle or audit, not {dialect!r}", param_hint="--dialect")
    if json_out and trades_out == "-":
        raise typer.BadParameter("--json and --trades-out - would both write to stdout; give --trades-out a file",
                                 param_hint="--trades-out")
    if dialect == "audit" or (dialect is None and _looks_like_audit(file)):
        _replay_audit(file, json_out)
        return
    result = _run_with_progress(lambda cb: replay_file(str(file), dialect, cb), file)
    if trades_out is not None:
        _write_trades(result, trades_out, int63)
    summary = result.summary(depth)
    if json_out:
        emit("ok", 0, summary)
    elif trades_out == "-":
        _render(summary, to_stderr=True)
    else:
        _render(summary, to_stderr=False)


def _looks_like_audit(file: Path) -> bool:
    """An audit log's lines carry an "event" name; order-book events never do."""
    import json

    try:
        with file.open("rb") as fh:
            for raw in fh:
                if raw.strip():
                    first = json.loads(raw)
                    return isinstance(first, dict) and isinstance(first.get("event"), str)
    except (OSError, ValueError, RecursionError):
        return False
    return False


def _replay_audit(file: Path, json_out: bool) -> None:
    from audit.reader import read_audit
    from engine.rebalance.recovery import audit_replay_summary
    from nanobook_cli.exit_codes import ExitCode
    from nanobook_cli.output.envelope import emit

    summary = audit_replay_summary(read_audit(file))
    problems = [i for i in summary["validation"]["issues"] if i.get("severity") == "error"]
    # A log that fails validation is corrupt (exit 10): its recovery decision cannot be trusted blindly.
    code = ExitCode.AUDIT_ERROR if not summary["validation"]["ok"] else ExitCode.OK
    if json_out:
        emit("error" if code else "ok", code, {"path": str(file), "kind": "audit", **summary},
             errors=[_issue_error(file, i) for i in problems])
    else:
        _render_audit(file, summary)
    if code:
        first = _issue_error(file, problems[0])["message"] if problems else "validation failed"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        sys.stderr.write(f"nanobook replay: error: {first}{more}\n")
        raise typer.Exit(code)


def _issue_error(file: Path, issue: dict[str, Any]) -> dict[str, Any]:
    return {"type": "AuditCorrupt", "message": f"{file}:{issue.get('line')}: audit log fails validation: "
                                               f"{issue.get('code')}: {issue.get('message')}"}


def _render_audit(file: Path, summary: dict[str, Any]) -> None:
    from nanobook_cli.output.console import out

    console = out()
    state, recovery, validation = summary["state"], summary["recovery"], summary["validation"]
    console.print(f"Audit log {file}: {summary['events']:,} events, {summary['runs']} run(s), "
                  f"format {summary['format']}")
    if state.get("last_event") is None:
        console.print("  no events")
    else:
        console.print(f"  last run {state.get('run_id') or '?'}: {len(state.get('orders', []))} order(s), "
                      f"completed: {state.get('completed')}, last event {state.get('last_event')}")
    if summary["torn_tail"]:
        console.print(f"  torn last line {summary['torn_tail']['line']}: {summary['torn_tail']['reason']}")
    console.print(f"  validation: {'ok' if validation['ok'] else str(len(validation['issues'])) + ' issue(s)'}")
    for issue in validation["issues"][:10]:
        console.print(f"    - line {issue.get('line')}: {issue.get('severity')} {issue.get('code')}: "
                      f"{issue.get('message')}")
    console.print(f"  recovery (log only): {recovery['action']}")
    for reason in recovery["reasons"]:
        console.print(f"    · {reason}")


def _run_with_progress(work: Any, file: Path) -> ReplayResult:
    from nanobook_cli.output.console import err, stderr_is_tty

    try:
        size = file.stat().st_size
    except OSError:
        size = 0
    if not stderr_is_tty() or size < 4 * 1024 * 1024:
        return work(None)  # type: ignore[no-any-return]
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    with Progress("replay", BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=err(),
                  transient=True) as bar:
        task = bar.add_task("replay", total=size)
        return work(lambda done, total: bar.update(task, completed=done, total=total))  # type: ignore[no-any-return]


def _write_trades(result: ReplayResult, target: str, int63: bool) -> None:
    from engine.lob.events import oracle_trade_line

    lines = "".join(oracle_trade_line(t, int63) + "\n" for t in result.exchange.trades())
    if target == "-":
        sys.stdout.write(lines)
        sys.stdout.flush()
        return
    from configs.files import write_atomic

    write_atomic(target, lines, what="trades file")


def _price(ticks: int | None) -> str:
    if ticks is None:
        return "—"
    from engine.lob.types import format_price

    return format_price(ticks)


def _render(summary: dict[str, Any], to_stderr: bool) -> None:
    from rich.table import Table

    from nanobook_cli.output.console import err, out

    console = err() if to_stderr else out()
    counts = ", ".join(f"{k} {v:,}" for k, v in summary["event_counts"].items()) or "none"
    console.print(f"Replayed {summary['events']:,} events ({summary['dialect']} dialect) from {summary['path']}")
    console.print(f"  by kind: {counts}")
    console.print(f"  trades: {summary['trades']:,} · volume {summary['volume']:,} · "
                  f"VWAP {_price(summary['vwap'])} · last {_price(summary['last_trade_price'])}")
    console.print(f"  best bid {_price(summary['best_bid'])} · best ask {_price(summary['best_ask'])} · "
                  f"spread {summary['spread'] if summary['spread'] is not None else '—'} ticks · "
                  f"{summary['resting_orders']:,} resting · {summary['pending_stops']} pending stops")
    table = Table(title="Top of book", show_edge=False)
    for name in ("bid orders", "bid qty", "bid", "ask", "ask qty", "ask orders"):
        table.add_column(name, justify="right")
    bids, asks = summary["book"]["bids"], summary["book"]["asks"]
    for i in range(max(len(bids), len(asks))):
        b = bids[i] if i < len(bids) else None
        a = asks[i] if i < len(asks) else None
        table.add_row(
            f"{b['order_count']:,}" if b else "", f"{b['quantity']:,}" if b else "", _price(b["price"]) if b else "",
            _price(a["price"]) if a else "", f"{a['quantity']:,}" if a else "", f"{a['order_count']:,}" if a else "")
    if bids or asks:
        console.print(table)
    else:
        console.print("  book is empty")
