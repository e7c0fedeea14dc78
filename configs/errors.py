"""Root of the nanobook exception tree. Lives in the lowest layer so configs, audit and engine share it.

The full tree is drawn in `engine/errors.py`; exit codes are mapped only in `nanobook_cli/exit_codes.py`.
"""

from __future__ import annotations


class NanobookError(Exception):
    """Base class of every error nanobook raises on purpose (anything else is a bug, exit 1)."""


class InputError(NanobookError):
    """Invalid user input: a config, target or recording that fails validation (exit 4)."""


class ConfigError(InputError):
    """config.toml is unreadable or invalid. `issues` holds every problem found (one line each)."""

    def __init__(self, message: str, issues: list[str] | None = None) -> None:
        self.issues = issues or []
        super().__init__(message)


class TargetError(InputError):
    """target.json is unreadable or invalid. `issues` holds every problem found (one line each)."""

    def __init__(self, message: str, issues: list[str] | None = None) -> None:
        self.issues = issues or []
        super().__init__(message)
