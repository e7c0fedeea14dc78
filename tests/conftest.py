"""Shared fixtures: paths to ../shared/data (read in place, never copied into the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
CORPUS = SHARED_DATA / "lob-oracle-corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"oracle corpus not found at {CORPUS} (tests read ../shared/data beside the repo)")
    return CORPUS
