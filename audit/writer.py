"""Append-only, single-writer audit log: confined path, 0o600, flock, fsync on every line, seq continuity.

The only code that writes audit lines (style rule 5c.5). It fills the envelope (schema_version, run_id, seq, ts)
from an injected clock; it never reads the wall clock itself and imports nothing from `engine`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from pydantic import ValidationError

from audit.errors import AuditError, AuditLocked
from audit.events import AnyEvent, AuditEnvelope, TornTailRepaired, parse_event
from audit.reader import read_audit

__all__ = ["AuditWriter", "confine"]

_ENVELOPE_KEYS: Final = frozenset({"schema_version", "run_id", "seq", "ts"})
_FILE_MODE: Final = 0o600


def confine(path: str | Path, root: Path | None = None) -> Path:
    """Resolve `path` (relative paths are taken from `root`) and require it to lie strictly inside `root`.

    `root` defaults to the current working directory. Symlinks are resolved for the part that exists and `..`
    is applied after that resolution, so neither a symlinked directory nor a `..` in a not-yet-created suffix
    can escape (W-A7). Raises AuditError with one line naming both paths.
    """
    base = Path(os.path.realpath(root if root is not None else Path.cwd()))
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = base / candidate
    # realpath resolves each existing component (following symlinks) and then treats `..` lexically on the
    # already-resolved prefix, which is exactly right for components that do not exist yet.
    resolved = Path(os.path.realpath(candidate))
    if resolved == base or not resolved.is_relative_to(base):
        raise AuditError(f"audit path {path} resolves to {resolved}, outside the working directory {base}")
    return resolved


class AuditWriter:
    """Context manager that appends typed events to one audit JSONL file.

    ```
    with AuditWriter("logs/audit.jsonl", run_id, clock) as audit:
        audit.append(RunStarted(command="run", broker="sim", dry_run=False))
    ```
    Entering confines the path, creates parent directories, takes the exclusive lock `<path>.lock` (AuditLocked
    when another process holds it), reads the existing file (AuditCorrupt fails closed), terminates a torn last
    line and acknowledges it with a `torn_tail_repaired` record. Every `append` is fsynced before it returns.
    """

    def __init__(
        self, path: str | Path, run_id: str, clock: Callable[[], datetime], root: Path | None = None
    ) -> None:
        if not run_id:
            raise AuditError("audit run_id must not be empty")
        self.requested_path = Path(path)
        self.run_id = run_id
        self._clock = clock
        self._root = root
        self.path: Path | None = None
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._seq = 0
        self._closed = False

    @property
    def seq(self) -> int:
        """Sequence number of the last line written (or found in the file when nothing was appended yet)."""
        return self._seq

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        """Confine, lock, scan and open the file (what `with` does on entry)."""
        if self._fd is not None or self._closed:
            raise AuditError(f"audit log {self.requested_path} is already open or closed")
        path = confine(self.requested_path, self._root)
        if path.is_dir():
            raise AuditError(f"audit path {path} is a directory")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AuditError(f"cannot create directory {path.parent}: {exc.strerror or exc}") from None
        self.path = path
        self._lock_fd = _acquire_lock(path)
        try:
            self._open_file(path)
        except BaseException:
            self._release_lock()
            raise

    def _open_file(self, path: Path) -> None:
        existing = read_audit(path) if path.exists() else None
        flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            try:
                fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, _FILE_MODE)
                created = True
            except FileExistsError:
                fd = os.open(path, flags)
                created = False
        except OSError as exc:
            raise AuditError(f"cannot open audit log {path}: {exc.strerror or exc}") from None
        self._fd = fd
        if created:
            os.fchmod(fd, _FILE_MODE)  # the umask may only remove bits; make the mode exact anyway
            _fsync_dir(path.parent)  # the new directory entry must survive a crash as well
            return
        self._seq = existing.max_seq if existing is not None else 0
        size = os.fstat(fd).st_size
        if size and _last_byte(path) != b"\n":
            # A crash mid-write left a partial line; end it so our next record is not glued onto it.
            self._write(b"\n")
        if existing is not None and existing.torn_tail is not None:
            tail = existing.torn_tail
            self.append(TornTailRepaired(line=tail.line, reason=tail.reason))

    def append(self, event: AnyEvent | AuditEnvelope | Mapping[str, Any]) -> dict[str, Any]:
        """Validate, stamp, write one compact JSON line and fsync it; return the line as a JSON-ready dict.

        `event` is a typed model, or a payload mapping with an `event` key (validated against the same model).
        """
        if self._fd is None:
            raise AuditError(f"audit log {self.requested_path} is closed; cannot append")
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise AuditError("the audit clock returned a naive datetime; it must return timezone-aware UTC")
        stamp = {"run_id": self.run_id, "seq": self._seq + 1, "ts": now}
        try:
            if isinstance(event, AuditEnvelope):
                model: AuditEnvelope = parse_event({**event.model_dump(), **stamp})
            else:
                if _ENVELOPE_KEYS & event.keys():
                    raise AuditError(f"envelope keys {sorted(_ENVELOPE_KEYS & event.keys())} are set by the writer")
                model = parse_event({**event, **stamp})
        except ValidationError as exc:
            name = getattr(event, "event", None) if isinstance(event, AuditEnvelope) else event.get("event")
            raise AuditError(f"invalid audit event {name!r}: {_summary(exc)}") from None
        data = model.model_dump(mode="json")
        line = json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n"
        self._write(line.encode("utf-8"))
        self._seq += 1
        return data

    def close(self) -> None:
        """Close the file and release the lock (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._release_lock()
        self._closed = True

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            # Every line is durable before the broker call it announces (intents) or before we act on a result.
            os.fsync(self._fd)
        except OSError as exc:
            raise AuditError(f"cannot write audit log {self.path}: {exc.strerror or exc}") from None

    def _release_lock(self) -> None:
        if self._lock_fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._lock_fd, 0)  # we still hold the lock, so clearing our pid cannot race
        # The lock file itself stays: unlinking a flock'd file lets two processes lock different inodes.
        os.close(self._lock_fd)
        self._lock_fd = None


def _acquire_lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, _FILE_MODE)
    except OSError as exc:
        raise AuditError(f"cannot open audit lock {lock_path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _read_pid(fd)
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise AuditLocked(
                f"audit log {path} is locked by another nanobook process (pid {holder or 'unknown'})"
            ) from None
        raise AuditError(f"cannot lock audit log {path}: {exc.strerror or exc}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _read_pid(fd: int) -> str | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return None
    return text if text.isdigit() else None


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse directory fsync; the file itself is still fsynced per line
    finally:
        os.close(fd)


def _summary(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(part) for part in error.get("loc", ())) or "event"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "; ".join(parts) + more
