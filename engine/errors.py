"""The nanobook exception tree. The CLI maps these to exit codes in one place (`nanobook_cli/exit_codes.py`).

NanobookError                          (configs.errors)
├── InputError                         bad config / target / recording / plan          → exit 4
│   ├── ConfigError, TargetError       (configs.errors)
│   ├── EventLogError                  a malformed event-log line (names the line)
│   ├── LobValidationError             try_submit_* rejected a zero quantity / price
│   ├── StalePlanError                 `run --plan` refused a plan whose inputs moved
│   └── BacktestError                  a backtest input is invalid (names the period)
├── DeclinedError                      the operator said no, or no TTY and no --yes   → exit 3
├── RiskRejected                       a risk check FAILed; nothing was submitted      → exit 5
├── BrokerError                        the broker refused or failed
│   ├── BrokerUnavailable              cannot connect / timed out; retryable           → exit 6
│   ├── UnknownSymbol                  the venue does not know a symbol                → exit 4
│   ├── OrderRejected                  the venue rejected one order (kept per order)
│   └── AmbiguousOrderState            outcome unknown (timeout, disconnect, 5xx): look up by client id
├── AuditError                         (audit.errors) corrupt / unwritable log         → exit 10
│   └── AuditLocked                    another process holds the audit lock            → exit 10
└── RecoveryRequired                   a previous run is incomplete                    → exit 9
"""

from __future__ import annotations

from typing import ClassVar

from configs.errors import InputError, NanobookError

__all__ = [
    "AmbiguousOrderState",
    "BacktestError",
    "BrokerError",
    "BrokerUnavailable",
    "DeclinedError",
    "EventLogError",
    "InputError",
    "LobValidationError",
    "NanobookError",
    "OrderRejected",
    "RecoveryRequired",
    "RiskRejected",
    "StalePlanError",
    "UnknownSymbol",
]


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


class StalePlanError(InputError):
    """A saved plan no longer matches the account, prices or clock; re-plan."""


class DeclinedError(NanobookError):
    """The operator declined the confirmation, or it could not be asked (no TTY and no --yes)."""


class RiskRejected(NanobookError):
    """One or more risk checks failed; nothing was submitted."""


class BrokerError(NanobookError):
    """A broker call failed. `retryable` says whether trying again later can help."""

    retryable: ClassVar[bool] = False


class BrokerUnavailable(BrokerError):
    """The broker cannot be reached or did not answer in time."""

    retryable: ClassVar[bool] = True


class UnknownSymbol(BrokerError):
    """The venue does not know this symbol."""

    def __init__(self, symbol: str, hint: str = "") -> None:
        self.symbol = symbol
        super().__init__(f"unknown symbol {symbol!r}{': ' + hint if hint else ''}")


class OrderRejected(BrokerError):
    """The venue rejected an order (bad price/quantity, insufficient funds, halted ...)."""

    def __init__(self, client_order_id: str, reason: str) -> None:
        self.client_order_id = client_order_id
        self.reason = reason
        super().__init__(f"order {client_order_id} rejected: {reason}")


class AmbiguousOrderState(BrokerError):
    """We do not know whether the venue accepted an order; resolve by client order id before any retry."""

    retryable: ClassVar[bool] = True

    def __init__(self, client_order_id: str, reason: str) -> None:
        self.client_order_id = client_order_id
        self.reason = reason
        super().__init__(f"order {client_order_id}: outcome unknown ({reason})")


class RecoveryRequired(NanobookError):
    """The audit log shows an incomplete previous run; run `nanobook recover` first."""


class BacktestError(InputError, ValueError):
    """A backtest input is invalid (lengths, symbols, prices, weights, stop_cfg); `period` names the bad period."""

    def __init__(self, message: str, period: int | None = None) -> None:
        self.period = period
        super().__init__(f"period {period}: {message}" if period is not None else message)
