"""Fixtures shared by the CLI end-to-end tests: a throw-away working directory per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nanobook_cli.helpers_e2e import Workdir


@pytest.fixture
def wd(tmp_path: Path) -> Iterator[Workdir]:
    workdir = Workdir(tmp_path)
    yield workdir
    workdir.cleanup()
