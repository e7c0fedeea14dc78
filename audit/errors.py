"""Audit-trail errors (part of the tree drawn in engine/errors.py)."""

from __future__ import annotations

from configs.errors import NanobookError


class AuditError(NanobookError):
    """The audit log is corrupt, unwritable, or outside the working directory (exit 10)."""


class AuditLocked(AuditError):
    """Another process holds the audit log's single-writer lock (exit 10)."""


class AuditCorrupt(AuditError):
    """A line other than the last one cannot be read; `line` is 1-based."""

    def __init__(self, line: int, reason: str, path: str | None = None) -> None:
        self.line = line
        self.path = path
        super().__init__(f"{path + ':' if path else 'line '}{line}: {reason}")
