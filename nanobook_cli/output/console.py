"""stdout/stderr rich consoles. stdout carries results only; stderr carries progress, prompts and logs.

Honours NO_COLOR and TERM=dumb. Consoles are created lazily so `nanobook --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def _no_color() -> bool:
    return "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb"


@cache
def out() -> Console:
    """Console for results (stdout)."""
    from rich.console import Console

    return Console(file=sys.stdout, no_color=_no_color(), highlight=False, markup=False, soft_wrap=False)


@cache
def err() -> Console:
    """Console for progress, prompts and diagnostics (stderr)."""
    from rich.console import Console

    return Console(file=sys.stderr, stderr=True, no_color=_no_color(), highlight=False)


def stderr_is_tty() -> bool:
    """True when progress bars and prompts can be shown."""
    return sys.stderr.isatty()
