"""`nanobook replay --itch FILE`: ITCH 5.0 message counts, per-stage latency and reconstructed books."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

_BAR_WIDTH = 30
_BOOK_NAMES = {"exchange": "Exchange", "itch": "ITCH"}


def run(file: Path, symbols: str | None, limit: int | None, depth: int, json_out: bool,
        books: str = "exchange") -> None:
    """Replay FILE through per-symbol books; JSON: `data.messages`, `data.counts`, `data.books` (full depth).

    `books`: "exchange" (one engine.lob Exchange per symbol, the default) or "itch" (leaner books, same output).
    """
    import typer

    from configs.errors import InputError
    from engine.lob.itch import ItchError, replay_itch
    from engine.lob.itch.replay import BOOK_KINDS
    from nanobook_cli.output.envelope import begin, emit

    if books not in BOOK_KINDS:
        raise typer.BadParameter(f"must be one of {', '.join(BOOK_KINDS)}, not {books!r}", param_hint="--books")
    begin("replay", json_out)
    if not file.is_file():
        raise InputError(f"{file}: {'is a directory, not an ITCH file' if file.is_dir() else 'no such ITCH file'}")
    wanted = [s.strip().upper() for s in symbols.split(",") if s.strip()] if symbols else None
    try:
        result = _with_progress(lambda cb: replay_itch(file, symbols=wanted, limit=limit, timed=True, progress=cb,
                                                          books=books), file)
    except ItchError as exc:
        raise InputError(f"{file}: {exc}") from None
    except OSError as exc:  # unreadable file, I/O error mid-read
        raise InputError(f"{file}: cannot read: {exc.strerror or exc}") from None
    summary = result.summary()
    data = {"path": str(file), "kind": "itch", "book_kind": books, **summary}
    if json_out:
        emit("ok", 0, data)
        return
    _render(data, depth)


def _with_progress(work: Any, file: Path) -> Any:
    from nanobook_cli.output.console import err, stderr_is_tty

    if not stderr_is_tty():
        return work(None)
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    with Progress("replay --itch", BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=err(),
                  transient=True) as bar:
        task = bar.add_task("itch", total=max(1, file.stat().st_size))
        return work(lambda done, total: bar.update(task, completed=done, total=total))


def _price(units: int) -> str:
    return f"{Decimal(units) / 10_000:.4f}"


def _render(data: dict[str, Any], depth: int) -> None:
    from rich.table import Table

    from nanobook_cli.output.console import out

    console = out()
    console.print(f"Replayed {data['messages']:,} ITCH 5.0 messages from {data['path']} "
                  f"({data['symbols']} {_BOOK_NAMES[data['book_kind']]} book(s), {data['open_orders']:,} open orders"
                  f"{', stopped at --limit' if data['limit_reached'] else ''})")
    counts = Table(title="Messages by type", show_edge=False)
    counts.add_column("type")
    counts.add_column("count", justify="right")
    for kind, n in data["counts"].items():
        counts.add_row(kind, f"{n:,}")
    console.print(counts)
    ops = data["operations"]
    console.print("  " + " · ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in ops.items()))
    inv = data["invariants"]
    bad = {k: v for k, v in inv.items() if v}
    console.print("  invariants: " + (", ".join(f"{k} {v:,}" for k, v in bad.items()) if bad else "all held"))
    latency = data["latency"]
    if latency:
        lat = Table(title="Per-message latency (ns)", show_edge=False)
        for name in ("stage", "samples", "p50", "p95", "p99", "max"):
            lat.add_column(name, justify="right" if name != "stage" else "left")
        for stage in ("parse", "book"):
            s = latency[stage]
            lat.add_row(stage, f"{s['samples']:,}", *(f"{s[k]:,}" if s[k] is not None else "—"
                                                      for k in ("p50_ns", "p95_ns", "p99_ns", "max_ns")))
        console.print(lat)
        for stage in ("parse", "book"):
            hist = latency[stage]["histogram"]
            if not hist:
                continue
            top = max(h["count"] for h in hist)
            console.print(f"  {stage} histogram")
            for h in hist:
                bar = "█" * max(1, round(_BAR_WIDTH * h["count"] / top))
                console.print(f"    ≤{h['le_ns']:>9,} ns {bar} {h['count']:,}", markup=False, highlight=False)
    for sym, book in data["books"].items():
        table = Table(title=f"{sym} (top {depth} of {len(book['bids'])} bid / {len(book['asks'])} ask levels)",
                      show_edge=False)
        for name in ("bid orders", "bid qty", "bid", "ask", "ask qty", "ask orders"):
            table.add_column(name, justify="right")
        bids, asks = book["bids"][:depth], book["asks"][:depth]
        for i in range(max(len(bids), len(asks))):
            b = bids[i] if i < len(bids) else None
            a = asks[i] if i < len(asks) else None
            table.add_row(f"{b['order_count']:,}" if b else "", f"{b['quantity']:,}" if b else "",
                          _price(b["price"]) if b else "", _price(a["price"]) if a else "",
                          f"{a['quantity']:,}" if a else "", f"{a['order_count']:,}" if a else "")
        if bids or asks:
            console.print(table)
        else:
            console.print(f"  {sym}: book is empty")
