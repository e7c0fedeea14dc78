"""`nanobook repl`: the interactive order book (a terminal session, or commands piped on stdin).

Only wires streams and exit code; the grammar, session and loop live in `nanobook_cli.repl`.
"""

from __future__ import annotations

import typer


def repl() -> None:
    """Interactive limit order book: type orders, watch them match.

    \b
    Commands (prices in dollars with at most 2 decimals, e.g. 100.50; ids as 3 or O3):
      buy|sell <price> <qty> \\[ioc|fok]       limit order (rests unless ioc/fok)
      market <buy|sell> <qty>                market order
      stop <buy|sell> <stop> <qty> \\[limit <price>]
                                             stop-market, or stop-limit
      trail <buy|sell> <stop> <qty> fixed <amount>|pct <fraction>|sma <mult> <period>
                                             trailing stop
      cancel <id> · modify <id> <price> <qty>
      book · depth \\[n] · trades \\[n]          view the book and the trades
      save <path> · load <path>              event log (JSON lines); load also reads the oracle dialect
      help \\[command] · quit (also exit, Ctrl-D)

    On a terminal: prompt, readline history (~/.nanobook_history) and tab completion. With stdin piped
    (printf 'sell 101.00 50\\nbuy 101.00 20\\ntrades\\n' | nanobook repl) commands are read line by line with
    no prompt or banner; stdout carries only results. A bad line prints `error: …` on stderr and the session
    goes on.

    Exit codes: 0 end of input or quit · 4 piped input where any command failed · 1 internal error.
    """  # noqa: D301 (not raw: click's \b marker keeps the command list's line breaks; \\[ escapes rich markup)
    import sys

    from nanobook_cli.output.console import err, out
    from nanobook_cli.output.envelope import begin
    from nanobook_cli.repl.shell import history_path, run

    begin("repl", json_mode=False)
    interactive = sys.stdin.isatty()
    code = run(sys.stdin, out(), err(), interactive,
               history_path() if interactive else None)
    if code:
        raise typer.Exit(code)
