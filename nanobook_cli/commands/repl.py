"""`nanobook repl` (placeholder, being built)."""

from __future__ import annotations


def repl() -> None:
    """Not implemented yet."""
    raise SystemExit(1)
