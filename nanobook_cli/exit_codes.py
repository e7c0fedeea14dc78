"""The one table of process exit codes (documented in docs/exit-codes.md) and the error → code mapping."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, DESIGN §3.8."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    DECLINED = 3
    INPUT_INVALID = 4
    RISK_REJECTED = 5
    BROKER_UNAVAILABLE = 6
    PARTIAL = 7
    CHANGES_PENDING = 8
    RECOVERY_REQUIRED = 9
    AUDIT_ERROR = 10
    INTERRUPTED = 130


def exit_code_for(exc: BaseException) -> ExitCode:
    """Map an exception to its exit code; anything not deliberately raised by nanobook is INTERNAL."""
    from audit.errors import AuditError
    from configs.errors import InputError
    from engine.errors import (
        BrokerError,
        DeclinedError,
        RecoveryRequired,
        RiskRejected,
        UnknownSymbol,
    )

    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    table: tuple[tuple[type[BaseException], ExitCode], ...] = (
        (InputError, ExitCode.INPUT_INVALID),
        (UnknownSymbol, ExitCode.INPUT_INVALID),
        (DeclinedError, ExitCode.DECLINED),
        (RiskRejected, ExitCode.RISK_REJECTED),
        (BrokerError, ExitCode.BROKER_UNAVAILABLE),
        (AuditError, ExitCode.AUDIT_ERROR),
        (RecoveryRequired, ExitCode.RECOVERY_REQUIRED),
    )
    for kind, code in table:
        if isinstance(exc, kind):
            return code
    return ExitCode.INTERNAL
