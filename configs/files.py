"""Atomic output files: write to a temporary file beside the target, fsync, rename; never a half-written file.

Any OS failure (missing directory, a directory as target, no permission, disk full) becomes one InputError line
naming the file and the fix, and the temporary file is removed. Knows nothing about what is being written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from configs.errors import InputError

__all__ = ["write_atomic"]


def write_atomic(path: Path | str, data: bytes | str, *, what: str, mode: int = 0o644) -> Path:
    """Replace `path` with `data` atomically (file mode `mode`); InputError (exit 4) when it cannot be written.

    `what` names the file for people ("plan", "trades file").
    """
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if target.is_dir():
        raise InputError(f"{what} {target}: is a directory (fix: give a file path)")
    directory = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"{what} {target}: cannot write: {exc.strerror or exc} (fix: check that {directory} "
                         "exists and is writable)") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise InputError(f"{what} {target}: cannot write: {exc.strerror or exc} (fix: check the file and its "
                         "directory's permissions)") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return target
