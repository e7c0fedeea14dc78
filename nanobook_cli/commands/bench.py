"""`nanobook bench`: order-book microbenchmarks (ours, optionally the reference package and pyorderbook).

Results go to stdout (a rich table or the --json envelope); progress goes to stderr, and only on a TTY.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Literal

import typer

if TYPE_CHECKING:
    from engine.bench.runner import BenchReport, ResultRow

_DEFAULT = ("submit_no_match", "submit_match_1", "cancel_deep", "bbo", "l2_top10", "mixed", "mixed_safe",
            "cli_help")
_PIPELINE = ("plan_500", "audit_1m")
_BACKTEST = ("backtest_monthly", "backtest_daily")
_ITCH = ("itch_decode", "itch_replay")
_WORKLOADS = (*_DEFAULT, *_PIPELINE, *_BACKTEST, *_ITCH)
_WORKLOAD_HELP = (f"Run only this workload (repeatable): {', '.join(_WORKLOADS)}. "
                  "Default: all but the pipeline, backtest and ITCH ones.")
# Units of the `ops` column for rows with a variant (messages for the ITCH rows, periods for the backtests).
_UNITS = {"plan_500": "symbols", "audit_1m": "lines", "itch_decode": "msgs", "itch_replay": "msgs"}
_PIPELINE_LABELS = {("plan_500", "cold"): ("nanobook plan (cold)", "  plan cold"),
                    ("plan_500", "warm"): ("nanobook plan (warm)", "  plan warm"),
                    ("audit_1m", "library"): ("read + decide (library)", "  read+decide"),
                    ("audit_1m", "cli"): ("nanobook replay --json", "  replay CLI"),
                    ("backtest_monthly", "float"): ("float mode (backtest_arrays)", "  float"),
                    ("backtest_monthly", "vectorbt"): ("vectorbt from_orders (warm)", "  vectorbt"),
                    ("backtest_monthly", "reference"): ("reference mode (…_weights_arrays)", "  reference"),
                    ("backtest_monthly", "nanobook"): ("nanobook.backtest_weights + inputs", "  nanobook"),
                    ("backtest_daily", "float"): ("float mode (backtest_arrays)", "  float"),
                    ("backtest_daily", "vectorbt"): ("vectorbt from_orders (warm)", "  vectorbt"),
                    ("backtest_daily", "reference"): ("reference mode (…_weights_arrays)", "  reference"),
                    ("backtest_daily", "nanobook"): ("nanobook.backtest_weights + inputs", "  nanobook"),
                    ("itch_decode", "bulk"): ("bulk_decode (numpy arrays)", "  bulk"),
                    ("itch_replay", "exchange"): ("replay, Exchange books (default)", "  exchange"),
                    ("itch_replay", "itch"): ("replay, ItchBook (--books itch)", "  itchbook")}


def bench(
    vs_reference: bool = typer.Option(
        False, "--vs-reference",
        help="Also run the reference package (nanobook 0.19.2, Rust) and show ours/reference ratios."),
    vs_peers: bool = typer.Option(
        False, "--vs-peers", help="Also run pyorderbook (pure Python; a quarter of N, only what it supports)."),
    quick: bool = typer.Option(False, "--quick", help="Small N: a smoke run in a few seconds (numbers are noisy)."),
    pipeline: bool = typer.Option(
        False, "--pipeline",
        help="Also run the rebalancer-pipeline workloads: plan_500 (whole `nanobook plan` on a 500-symbol sim) "
             "and audit_1m (read + decide on a 1,000,000-line audit log). Minutes, not seconds."),
    backtest: bool = typer.Option(
        False, "--backtest",
        help="Also run the backtest workloads: 2520 days × 100 symbols, monthly and daily, float mode vs warm "
             "vectorbt and reference mode vs the nanobook package (incl. building its inputs)."),
    itch: bool = typer.Option(
        False, "--itch",
        help="Also run the ITCH 5.0 workloads on a synthetic 1,000,000-order session: itch_decode (bulk_decode) "
             "and itch_replay (replay_itch through Exchange books, the default, and through ItchBook)."),
    workload: list[str] | None = typer.Option(None, "--workload", "-w", metavar="NAME", help=_WORKLOAD_HELP),
    repeat: int | None = typer.Option(
        None, "--repeat", "-r", min=1, max=100,
        help="Runs per implementation, each in a fresh interpreter; medians are shown. Default 3 (1 with --quick)."),
    seed: int | None = typer.Option(None, "--seed", help="Workload seed (default: the documented fixed seed)."),
    timeout: float | None = typer.Option(
        None, "--timeout", min=1.0, metavar="SECONDS",
        help="Kill a worker (one implementation, one run) after this long. Default 180 (60 with --quick)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON envelope on stdout."),
) -> None:
    """Order-book microbenchmarks: ops/s and p50/p99 latency per workload and implementation.

    Workloads: submit (no match) into a ~1000-order book, submit matching one resting order, cancel from a
    5000-deep queue, best bid/ask, L2 top-10, a mixed 60/30/10 add/cancel/take stream (and mixed_safe, the
    variant the reference survives), and the wall time of `nanobook --help`. Final books are cross-checked.
    With --pipeline (or -w plan_500 / -w audit_1m): `nanobook plan` of a 500-symbol target on the sim, cold and
    warm, and reading + deciding on a 1,000,000-line audit log, in the library and through `nanobook replay`.
    With --backtest: backtests against vectorbt and the reference package. With --itch (or -w itch_decode /
    -w itch_replay): ITCH 5.0 bulk decode and replay (Exchange books and ItchBook), in messages per second.
    See docs/benchmarks.md. Example: nanobook bench --vs-reference --vs-peers --repeat 5

    Exit codes: 0 ok · 1 our book disagreed with the model or the reference · 2 usage.
    """
    from importlib.util import find_spec

    from nanobook_cli.output.envelope import begin, emit, warn

    begin("bench", json_out)
    chosen = list(dict.fromkeys(workload or [*_DEFAULT, *(_PIPELINE if pipeline else ()),
                                             *(_BACKTEST if backtest else ()), *(_ITCH if itch else ())]))
    if workload and pipeline:
        chosen += [name for name in _PIPELINE if name not in chosen]
    if workload and backtest:
        chosen += [name for name in _BACKTEST if name not in chosen]
    if workload and itch:
        chosen += [name for name in _ITCH if name not in chosen]
    for name in chosen:
        if name not in _WORKLOADS:
            raise _usage_error(f"unknown workload {name!r} (choose from: {', '.join(_WORKLOADS)})", json_out)

    from engine.bench.runner import BenchOptions, run_bench
    from engine.bench.workloads import DEFAULT_SEED

    notes: list[str] = []
    if vs_reference and find_spec("nanobook") is None:
        notes.append("--vs-reference: the reference package is not installed (pip install nanobook==0.19.2); "
                     "skipped")
        vs_reference = False
    if vs_peers and find_spec("pyorderbook") is None:
        notes.append("--vs-peers: pyorderbook is not installed (pip install pyorderbook==0.4.9); skipped")
        vs_peers = False
    options = BenchOptions(workloads=chosen, vs_reference=vs_reference, vs_peers=vs_peers, quick=quick,
                           repeat=repeat or (1 if quick else 3), seed=DEFAULT_SEED if seed is None else seed,
                           timeout_s=timeout, help_argv=_help_argv(), cli_argv=_help_argv()[:-1])
    report = _run(options, run_bench)
    report.environment["date_utc"] = _now()
    notes += report.warnings
    mismatches = [r for r in report.results if r.implementation == "ours" and r.agree is False]

    for note in notes:
        warn("bench", note)
    if json_out:
        errors = [{"type": "BenchMismatch", "message": _mismatch(r)} for r in mismatches]
        emit("error" if mismatches else "ok", 1 if mismatches else 0, report.to_json(), errors=errors)
    else:
        _render(report)
        from nanobook_cli.output.console import err

        for note in notes:
            err().print(f"warning: {note}", style="yellow", markup=False)
    for r in mismatches:
        sys.stderr.write(f"nanobook bench: error: {_mismatch(r)}\n")
    if mismatches:
        raise typer.Exit(1)


def _usage_error(message: str, json_out: bool) -> typer.Exit:
    """Report a bad option value on one stderr line (and as an envelope with --json); return Exit(2) to raise."""
    from nanobook_cli.exit_codes import ExitCode
    from nanobook_cli.output.envelope import emit

    if json_out:
        emit("error", ExitCode.USAGE, errors=[{"type": "UsageError", "message": message}])
    sys.stderr.write(f"nanobook bench: error: {message}\n")
    return typer.Exit(ExitCode.USAGE)


def _mismatch(row: ResultRow) -> str:
    if row.variant is not None:
        return f"{row.workload} ({row.variant}): the result check failed ({'; '.join(row.agree_with)})"
    return f"{row.workload}: our final book or trades differ from the {' and '.join(row.agree_with)}"


def _help_argv() -> list[str]:
    """The command whose --help is timed: this `nanobook` script when run as one, else `python -m nanobook_cli`."""
    script = sys.argv[0] if sys.argv else ""
    if os.path.basename(script) == "nanobook" and os.path.isfile(script):
        return [os.path.abspath(script), "--help"]  # absolute: pipeline workloads run it from temp directories
    sibling = os.path.join(os.path.dirname(sys.executable), "nanobook")
    if os.path.isfile(sibling):
        return [sibling, "--help"]
    return [sys.executable, "-m", "nanobook_cli", "--help"]


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run(options: Any, run_bench: Any) -> BenchReport:
    from nanobook_cli.output.console import err, stderr_is_tty

    if not stderr_is_tty():
        return run_bench(options)  # type: ignore[no-any-return]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("bench {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err(), transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def step(label: str, done: int, total: int) -> None:
            bar.update(task, description=label, completed=done, total=total)

        return run_bench(options, step)  # type: ignore[no-any-return]


def _rate(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e3:
        return f"{value / 1e3:.0f} k"
    return f"{value:.1f}"


def _ns(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1e9:
        return f"{value / 1e9:.2f} s"
    if value >= 1e6:
        return f"{value / 1e6:.0f} ms"
    if value >= 1e4:
        return f"{value / 1e3:.1f} µs"
    if value >= 1e3:
        return f"{value / 1e3:.2f} µs"
    return f"{value:.0f} ns"


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1000:,.2f} ms" if seconds < 0.01 else f"{seconds * 1000:,.0f} ms"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _target_label(kind: str, threshold: float) -> str:
    if kind.startswith("detail:ratio_vs_"):
        return f"≥ {threshold:g}× {kind.rpartition('_')[2]}"
    if kind == "max_seconds" and threshold < 0.1:
        return f"≤ {threshold * 1000:g} ms"
    if kind == "ratio_vs_reference":
        return f"≥ {threshold:g}× ref"
    if kind == "ratio_vs_pyorderbook":
        return f"≥ {threshold:g}× pyob"
    if kind == "min_ops_per_s":
        return f"≥ {threshold / 1e6:g} M/s"
    return f"≤ {threshold:g} s"


def _render(report: BenchReport) -> None:
    """The results table: one column per field when the terminal is wide, a workload-sectioned one otherwise."""
    from rich import box
    from rich.table import Table

    from nanobook_cli.output.console import out

    console = out()
    compact = console.width < 120
    impls = report.config["implementations"]
    show_ref = "reference" in impls
    show_peer = "pyorderbook" in impls
    versions = report.environment.get("packages", {})
    names = ({"loop-overhead": "  loop", "ours": "  ours", "reference": "  ref", "pyorderbook": "  pyob"}
             if compact else
             {"loop-overhead": "loop-overhead", "ours": "ours (engine.lob)",
              "reference": f"nanobook {versions.get('nanobook') or '?'} (ref)",
              "pyorderbook": f"pyorderbook {versions.get('pyorderbook') or '?'} (¼ N)"})
    targets: dict[str, list[str]] = {}
    for t in report.targets:
        mark = "·" if t.met is None else ("✓" if t.met else "✗")
        label = _target_label(t.kind, t.threshold)
        key = t.workload if t.variant is None else f"{t.workload}/{t.variant}"
        targets.setdefault(key, []).append(f"{label.replace(' ', '') if compact else label} {mark}")

    columns: list[tuple[str, str, Literal["left", "right", "center"]]] = []
    if not compact:
        columns.append(("workload", "workload", "left"))
    columns.append(("impl", "impl" if compact else "implementation", "left"))
    if not compact:
        columns.append(("ops", "ops", "right"))
    columns.append(("rate", "ops/s", "right"))
    if not compact:
        columns.append(("ns", "ns/op", "right"))
    columns += [("p50", "p50", "right"), ("p99", "p99", "right")]
    if not compact:
        columns.append(("spread", "±", "right"))
    if show_ref:
        columns.append(("ref", "×ref" if compact else "ours/ref", "right"))
    if show_peer:
        columns.append(("peer", "×pyob" if compact else "ours/pyob", "right"))
    columns += [("target", "target", "left"), ("agree", "ok" if compact else "agree", "center")]

    lob_rows = any(r.implementation == "loop-overhead" for r in report.results)
    title = "nanobook bench · medians" + ("" if compact or not lob_rows
                                          else " · ns/op includes the loop (see loop-overhead)")
    pipeline_rows = any(r.variant is not None for r in report.results)
    table = Table(title=title + (" · cli_help p99 = max" if report.row("cli_help", "ours") else "")
                  + (" · pipeline rows: median ms, p99 = slowest run" if pipeline_rows else ""),
                  box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD, show_edge=False, title_justify="left",
                  collapse_padding=compact)
    for _key, header, justify in columns:
        table.add_column(header, justify=justify, no_wrap=True, min_width=15 if compact and _key == "impl" else None)

    rows = report.results
    for i, r in enumerate(rows):
        first = i == 0 or rows[i - 1].workload != r.workload
        last = i + 1 == len(rows) or rows[i + 1].workload != r.workload
        if compact and first:
            table.add_row(*[r.workload if key == "impl" else "" for key, _h, _j in columns], style="bold cyan")
        ours = r.implementation == "ours"
        cell: dict[str, str] = {
            "workload": r.workload, "impl": names.get(r.implementation, r.implementation), "ops": f"{r.ops:,}",
            "rate": _rate(r.ops_per_s), "ns": _ns(r.ns_per_op), "p50": _ns(r.p50_ns), "p99": _ns(r.p99_ns),
            "spread": _pct(r.spread_pct),
            "ref": _ratio(r.ratio_vs_reference) if ours else "",
            "peer": _ratio(r.ratio_vs_pyorderbook) if ours else "",
            "target": ", ".join(targets.get(r.workload, [])) if ours else "",
            "agree": "" if r.agree is None else ("yes" if r.agree else "NO"),
        }
        if r.workload == "cli_help":
            cell.update(impl="nanobook --help" if not compact else "  --help", ops=f"{r.runs} runs", rate="—",
                        ref="", peer="")
        if r.variant is not None:
            wide, narrow = _PIPELINE_LABELS.get((r.workload, r.variant), (r.variant, f"  {r.variant}"))
            unit = _UNITS.get(r.workload, "periods")
            cell.update(impl=narrow if compact else wide, ops=f"{r.ops:,} {unit}", rate=f"{_rate(r.ops_per_s)}/s",
                        ns="", p50=_ms(r.seconds), p99=_ms(None if r.p99_ns is None else r.p99_ns / 1e9),
                        ref="", peer="", target=", ".join(targets.get(f"{r.workload}/{r.variant}", [])))
        if r.error and r.ops_per_s is None:
            cell.update(rate="error", ns="", p50="", p99="", target=r.error)
        table.add_row(*[cell[key] for key, _h, _j in columns], style="bold" if ours else None, end_section=last)

    console.print(table)
    env = report.environment
    cfg = report.config
    console.print(f"Python {env['python']} · {env['cpu']} · {env['usable_cpus']} usable CPUs · "
                  f"{cfg['repeat']} run(s) per implementation, each in a fresh interpreter · seed {cfg['seed']}"
                  f"{' · --quick (noisy)' if cfg['quick'] else ''}")
    if show_peer:
        console.print("pyorderbook runs a quarter of N, with its Order objects built before timing (favours it).")
    if pipeline_rows and cfg["quick"]:
        console.print("--quick: pipeline workloads ran on tiny sizes; their targets are not judged (·).")
    if cfg.get("itch_order_events"):
        console.print(f"ITCH: a synthetic session of {cfg['itch_order_events']:,} order events, timed in this "
                      "process; msgs/s = messages / median seconds.")


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}%"
