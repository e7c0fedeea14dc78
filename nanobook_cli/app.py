"""Root Typer app: registers one module per command and funnels every error to a documented exit code.

Command modules import the engine lazily inside their functions so `nanobook --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from nanobook_cli import __version__
from nanobook_cli.commands import (
    backtest,
    bench,
    config,
    gateway,
    kill,
    plan,
    positions,
    reconcile,
    recover,
    repl,
    replay,
    run,
    sim,
    status,
)
from nanobook_cli.exit_codes import ExitCode, exit_code_for

app = typer.Typer(
    name="nanobook",
    help="Operator-focused rebalancer: target weights → plan → confirm → audited limit orders → reconcile, "
    "on the embedded simulated venue by default; plus a deterministic order book (repl, replay, bench).\n\n"
    "Exit codes: 0 ok · 1 internal error · 2 usage · 3 declined/no TTY · 4 invalid input · "
    "5 risk rejected · 6 broker unavailable · 7 partial · 8 changes pending · 9 recovery required · "
    "10 audit error/lock held · 130 interrupted (docs/exit-codes.md).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nanobook {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """nanobook: from target weights to safe, audited orders."""


app.command("plan")(plan.plan)
app.command("run")(run.run)
app.command("reconcile")(reconcile.reconcile)
app.command("recover")(recover.recover)
app.command("positions")(positions.positions)
app.command("status")(status.status)
app.command("kill")(kill.kill)
app.command("replay")(replay.replay)
app.command("repl")(repl.repl)
app.command("bench")(bench.bench)
app.command("backtest")(backtest.backtest)
app.add_typer(config.app, name="config")
app.add_typer(sim.app, name="sim")
app.add_typer(gateway.app, name="gateway")


def _report_error(exc: BaseException, code: ExitCode) -> None:
    from nanobook_cli.output.envelope import Outcome, emit

    message = str(exc) or type(exc).__name__
    if code == ExitCode.INTERNAL:
        message = f"internal error: {type(exc).__name__}: {message} (please report this bug)"
    if Outcome.json_mode:
        # Machines get every problem found (config/target/price-table errors collect them); people get one line.
        issues = getattr(exc, "issues", None)
        each = issues if isinstance(issues, list) and len(issues) > 1 and all(isinstance(i, str) for i in issues) \
            else [message]
        emit("error", code, errors=[{"type": type(exc).__name__, "message": m} for m in each])
    prefix = "nanobook" if Outcome.command == "nanobook" else f"nanobook {Outcome.command}"
    sys.stderr.write(f"{prefix}: error: {message}\n")


def _usage_envelope(exc: Exception) -> None:
    """With --json anywhere on the line, a usage error also gets its envelope (stdout stays one JSON document)."""
    from nanobook_cli.output.envelope import Outcome, begin, emit

    if "--json" not in sys.argv[1:]:
        return
    ctx = getattr(exc, "ctx", None)
    if Outcome.command == "nanobook" and ctx is not None and ctx.info_name and ctx.info_name != "nanobook":
        begin(" ".join(ctx.command_path.split()[1:]) or ctx.info_name, True)
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    emit("error", ExitCode.USAGE, errors=[{"type": "UsageError", "message": message}])


def main() -> None:
    """Console-script entry point: run the app and map every outcome to an exit code."""
    # Typer vendors its own click; its usage errors all derive from this class.
    usage_error = typer.BadParameter.__mro__[2]
    try:
        rv = app(standalone_mode=False, prog_name="nanobook")
    except typer.Abort:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(ExitCode.INTERRUPTED)
    except usage_error as exc:
        exc.show()  # type: ignore[attr-defined]
        _usage_envelope(exc)
        sys.exit(ExitCode.USAGE)
    except (KeyboardInterrupt, Exception) as exc:
        code = exit_code_for(exc)
        if code == ExitCode.INTERRUPTED:
            sys.stderr.write("\ninterrupted\n")
        else:
            _report_error(exc, code)
            if code == ExitCode.INTERNAL and "-v" in sys.argv:
                raise
        sys.exit(code)
    sys.exit(rv if isinstance(rv, int) else 0)
