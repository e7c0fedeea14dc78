"""The nanobook exception tree (the CLI maps these to exit codes in one place).

NanobookError                      (configs.errors)
├── InputError                     bad config / target / recording            → exit 4
│   ├── EventLogError              a malformed event-log line (names the line)
│   └── LobValidationError         try_submit_* rejected a zero quantity / price
└── (later: RiskRejected, BrokerError, AuditError, RecoveryRequired)
"""

from __future__ import annotations

from configs.errors import InputError, NanobookError

__all__ = ["EventLogError", "InputError", "LobValidationError", "NanobookError"]


class EventLogError(InputError, ValueError):
    """A recording could not be read; `line` is 1-based (0 when the whole file is unusable)."""

    def __init__(self, line: int, reason: str, path: str | None = None) -> None:
        self.line = line
        self.reason = reason
        self.path = path
        where = (f"{path}:{line}" if line else f"{path}") if path else f"line {line}"
        super().__init__(f"{where}: {reason}")


class LobValidationError(InputError, ValueError):
    """A validated submit was refused; `code` is the reference's name (ZeroQuantity, ZeroPrice)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)
