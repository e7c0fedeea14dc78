"""The `--json` envelope shared by every command (DESIGN §3.7), written as one document to stdout."""

from __future__ import annotations

import json
import sys
from typing import Any

SCHEMA_VERSION = "1"


class Outcome:
    """What the running command reports: set by commands, read by the error funnel in `app.main`."""

    command: str = "nanobook"
    json_mode: bool = False
    warnings: list[dict[str, Any]] = []  # noqa: RUF012 (process-wide state for one CLI invocation)


def begin(command: str, json_mode: bool) -> None:
    """Declare the running command and output mode (so errors are rendered the same way)."""
    Outcome.command = command
    Outcome.json_mode = json_mode
    Outcome.warnings = []


def warn(code: str, message: str, **fields: Any) -> None:
    """Queue a warning for the envelope (also shown on stderr by the caller when human)."""
    Outcome.warnings.append({"code": code, "message": message, **fields})


def envelope(status: str, exit_code: int, data: dict[str, Any] | None = None,
             errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Build the envelope dict."""
    return {
        "schema_version": SCHEMA_VERSION,
        "command": Outcome.command,
        "status": status,
        "exit_code": int(exit_code),
        "data": data or {},
        "warnings": list(Outcome.warnings),
        "errors": errors or [],
    }


def emit(status: str, exit_code: int, data: dict[str, Any] | None = None,
         errors: list[dict[str, Any]] | None = None) -> None:
    """Write the envelope to stdout as one JSON document."""
    sys.stdout.write(json.dumps(envelope(status, exit_code, data, errors), indent=2, sort_keys=False))
    sys.stdout.write("\n")
    sys.stdout.flush()
