"""Quality gates that run with the test suite: ruff, mypy on engine/, import contracts, fast --help."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_clean() -> None:
    proc = _run(sys.executable, "-m", "ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_on_engine() -> None:
    proc = _run(sys.executable, "-m", "mypy")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_contracts() -> None:
    proc = _run(str(BIN / "lint-imports"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_engine_package_is_this_repository() -> None:
    import engine

    assert Path(engine.__file__).resolve().is_relative_to(REPO)


def test_help_does_not_import_the_engine_or_heavy_modules() -> None:
    code = ("import sys; sys.argv=['nanobook','--help']\n"
            "from nanobook_cli.app import app\n"
            "heavy=[m for m in ('engine.lob.exchange','numpy','pydantic') if m in sys.modules]\n"
            "print(','.join(heavy))")
    proc = _run(sys.executable, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


@pytest.mark.slow
def test_help_exits_zero_and_lists_commands() -> None:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "nanobook"), "--help"], capture_output=True, text=True, env=env,
                          timeout=60, check=False)
    assert time.perf_counter() - start < 30  # sanity only; the 0.4 s target is measured by `nanobook bench`
    assert proc.returncode == 0
    for command in ("replay", "repl", "bench"):
        assert command in proc.stdout
