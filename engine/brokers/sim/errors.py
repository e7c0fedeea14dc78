"""Errors of the simulated venue's management surface (bad price, bad price table, venue already exists)."""

from __future__ import annotations

from configs.errors import InputError


class VenueInputError(InputError, ValueError):
    """Invalid input to the simulated venue (exit 4). `issues` lists every problem found, one line each."""

    def __init__(self, message: str, issues: list[str] | None = None) -> None:
        self.issues = issues or [message]
        super().__init__(message)
