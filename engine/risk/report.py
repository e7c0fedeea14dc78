"""Risk report value types: `CheckStatus`, `RiskCheck` (one row) and `RiskReport` (the ordered rows)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["CheckStatus", "RiskCheck", "RiskReport"]


class CheckStatus(StrEnum):
    """Outcome of one check, spelled as the seed displays it. Only FAIL blocks a plan."""

    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class RiskCheck:
    """One row: a stable `name`, its `status`, a human `detail`, and display strings for the limit and the value."""

    name: str
    status: CheckStatus
    detail: str
    limit: str | None = None
    value: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """JSON-ready row: name, status (plain str), detail, limit, value."""
        return {"name": self.name, "status": str(self.status), "detail": self.detail,
                "limit": self.limit, "value": self.value}


@dataclass(frozen=True, slots=True)
class RiskReport:
    """Checks in emission order. A plan may proceed iff `passed` (no FAIL; WARN never blocks)."""

    checks: tuple[RiskCheck, ...]

    @property
    def passed(self) -> bool:
        """True when no check FAILed."""
        return not self.failures

    @property
    def failures(self) -> tuple[RiskCheck, ...]:
        """The FAIL rows, in order."""
        return tuple(c for c in self.checks if c.status is CheckStatus.FAIL)

    @property
    def warnings(self) -> tuple[RiskCheck, ...]:
        """The WARN rows, in order."""
        return tuple(c for c in self.checks if c.status is CheckStatus.WARN)

    @property
    def status(self) -> CheckStatus:
        """The worst status present (PASS for an empty report)."""
        if self.failures:
            return CheckStatus.FAIL
        return CheckStatus.WARN if self.warnings else CheckStatus.PASS

    def to_dicts(self) -> list[dict[str, str | None]]:
        """Every row as a JSON-ready dict (see `RiskCheck.to_dict`)."""
        return [c.to_dict() for c in self.checks]

    def to_text(self) -> str:
        """The seed's text form: `RISK CHECKS:` then one `  [STATUS] name: detail` line per check."""
        return "\n".join(["RISK CHECKS:", *(f"  [{c.status}] {c.name}: {c.detail}" for c in self.checks)])

    def __iter__(self) -> Iterator[RiskCheck]:
        return iter(self.checks)

    def __len__(self) -> int:
        return len(self.checks)
