"""The REPL's input loop: a terminal session (prompt, banner, readline history and completion) or piped lines.

Piped input gets no prompt, no banner and no echo, so stdout holds only results. Decides the exit code.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TextIO

from nanobook_cli.exit_codes import ExitCode
from nanobook_cli.repl.parse import ALIASES, COMMANDS, SIDES, TIFS, TRAIL_METHODS
from nanobook_cli.repl.session import Session

if TYPE_CHECKING:
    from rich.console import Console

PROMPT = "nanobook> "
BANNER = "nanobook repl · prices in dollars (buy 100.50 10) · 'help' lists commands · Ctrl-D quits"
HISTORY_LENGTH = 1000


def run(stdin: TextIO, out: Console, err: Console, interactive: bool, history: Path | None = None) -> int:
    """Run a session to the end of input or `quit`; return the process exit code.

    Interactive sessions always end 0 (the operator saw every error); piped ones end 4 if any command failed,
    or 1 if one hit a bug.
    """
    session = Session(out, err)
    if interactive:
        _run_terminal(session, stdin, err, history)
        return ExitCode.OK
    _run_piped(session, stdin)
    if session.internal_errors:
        return ExitCode.INTERNAL
    return ExitCode.INPUT_INVALID if session.failures else ExitCode.OK


def _run_piped(session: Session, stdin: TextIO) -> None:
    if hasattr(stdin, "reconfigure"):
        # Undecodable bytes become an "unknown command" error on that line instead of a traceback.
        stdin.reconfigure(errors="replace")
    for line in stdin:
        if not session.execute(line):
            return


def _run_terminal(session: Session, stdin: TextIO, err: Console, history: Path | None) -> None:
    # input() edits with readline only when stdout is a terminal too; otherwise we prompt on stderr ourselves.
    can_edit = stdin is sys.stdin and sys.stdout.isatty()
    readline = _start_readline(history) if can_edit else None
    read = _reader(stdin, err, use_readline=readline is not None)
    err.print(BANNER, markup=False, highlight=False)
    try:
        while True:
            try:
                line = read()
            except EOFError:
                err.file.write("\n")  # so the shell's prompt starts on a fresh line after Ctrl-D
                return
            except KeyboardInterrupt:
                err.file.write("\n")  # Ctrl-C abandons the line being typed, as in a shell
                continue
            try:
                if not session.execute(line):
                    return
            except KeyboardInterrupt:
                session.fail("interrupted")
    finally:
        if readline is not None and history is not None:
            _save_history(readline, history)


def _reader(stdin: TextIO, err: Console, use_readline: bool) -> Callable[[], str]:
    """A line reader: readline's input() with its prompt, or a plain read with the prompt on stderr."""
    if use_readline:
        return lambda: input(PROMPT)

    def read() -> str:
        err.file.write(PROMPT)
        err.file.flush()
        line = stdin.readline()
        if not line:
            raise EOFError
        return line

    return read


# ---------------------------------------------------------------------------------------- readline

def _start_readline(history: Path | None) -> ModuleType | None:
    """Enable history and tab completion; None where readline is unavailable.

    Imported only here because importing readline can write terminal escapes to stdout, which piped sessions
    must not get.
    """
    try:
        import readline
    except ImportError:
        return None
    if history is not None:
        with contextlib.suppress(OSError, UnicodeError):  # first run or unreadable file: start empty
            readline.read_history_file(history)
        readline.set_history_length(HISTORY_LENGTH)
    readline.set_completer(Completer(lambda: (readline.get_line_buffer(), readline.get_begidx())))
    readline.set_completer_delims(" \t\n")
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")  # macOS ships libedit, which spells it differently
    else:
        readline.parse_and_bind("tab: complete")
    return readline


def _save_history(readline: ModuleType, history: Path) -> None:
    with contextlib.suppress(OSError):  # an unwritable home must not turn a clean exit into a traceback
        readline.write_history_file(history)


def history_path() -> Path | None:
    """~/.nanobook_history, or None when there is no home directory to keep it in."""
    try:
        return Path.home() / ".nanobook_history"
    except RuntimeError:
        return None


class Completer:
    """readline completer: command words first, then the keywords and paths that command accepts."""

    _KEYWORDS: dict[str, tuple[str, ...]] = {  # noqa: RUF012 (read-only class table)
        "buy": TIFS[1:], "sell": TIFS[1:], "market": tuple(s for s in SIDES if len(s) > 1),
        "stop": ("buy", "sell", "limit"), "trail": ("buy", "sell", *TRAIL_METHODS, "limit"),
        "help": tuple(name for name, _, _ in COMMANDS),
    }

    def __init__(self, line_state: Callable[[], tuple[str, int]]) -> None:
        self._line_state = line_state
        self._matches: list[str] = []

    def __call__(self, text: str, state: int) -> str | None:
        if state == 0:
            line, begin = self._line_state()
            self._matches = self.candidates(line[:begin].split(), text)
        return self._matches[state] if state < len(self._matches) else None

    def candidates(self, words_before: list[str], text: str) -> list[str]:
        """Completions of `text` given the words already typed on the line."""
        if not words_before:
            names: Iterable[str] = [name for name, _, _ in COMMANDS] + list(ALIASES)
            return sorted(n + " " for n in names if n.startswith(text.lower()))
        command = words_before[0].lower()
        if command in ("save", "load"):
            return sorted(p + ("/" if os.path.isdir(p) else "")
                          for p in glob.glob(os.path.expanduser(text) + "*"))
        return [k + " " for k in self._KEYWORDS.get(command, ()) if k.startswith(text.lower())]
