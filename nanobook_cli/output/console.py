"""stdout/stderr rich consoles. stdout carries results only; stderr carries progress, prompts and logs.

Honours NO_COLOR and TERM=dumb. Consoles are created lazily so `nanobook --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def _no_color() -> bool:
    return "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb"


_consoles: dict[str, tuple[object, Console]] = {}


def _console(name: str, stream: object, **options: object) -> Console:
    # Rebuilt when the stream object changes (test runners swap sys.stdout between invocations).
    cached = _consoles.get(name)
    if cached is not None and cached[0] is stream:
        return cached[1]
    from rich.console import Console

    console = Console(file=stream, no_color=_no_color(), highlight=False, markup=False, **options)  # type: ignore[arg-type]
    _consoles[name] = (stream, console)
    return console


def _width(stream: object) -> int | None:
    # Piped output is read by people in pagers and logs: do not squeeze tables into 80 columns.
    if os.environ.get("COLUMNS") or getattr(stream, "isatty", lambda: False)():
        return None
    return 160


def out() -> Console:
    """Console for results (stdout). Markup is off: data is never interpreted as markup."""
    return _console("out", sys.stdout, soft_wrap=False, width=_width(sys.stdout))


def err() -> Console:
    """Console for progress, prompts and diagnostics (stderr)."""
    return _console("err", sys.stderr, stderr=True, width=_width(sys.stderr))


def stderr_is_tty() -> bool:
    """True when progress bars and prompts can be shown."""
    return sys.stderr.isatty()
