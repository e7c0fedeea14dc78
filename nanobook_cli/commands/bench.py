"""`nanobook bench` (placeholder, being built)."""

from __future__ import annotations


def bench() -> None:
    """Not implemented yet."""
    raise SystemExit(1)
