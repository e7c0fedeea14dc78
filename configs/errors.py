"""Root of the nanobook exception tree. Lives in the lowest layer so configs, audit and engine share it.

The full tree is drawn in `engine/errors.py`; exit codes are mapped only in `nanobook_cli/exit_codes.py`.
"""

from __future__ import annotations


class NanobookError(Exception):
    """Base class of every error nanobook raises on purpose (anything else is a bug, exit 1)."""


class InputError(NanobookError):
    """Invalid user input: a config, target or recording that fails validation (exit 4)."""
