"""engine.analytics package: every advertised export resolves lazily to the module that defines it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import engine.analytics as analytics


@pytest.mark.parametrize("name", analytics.__all__)
def test_export_resolves(name: str) -> None:
    assert getattr(analytics, name) is not None
    assert name in dir(analytics)


def test_aliases_are_identical() -> None:
    assert analytics.bollinger is analytics.bbands and analytics.wilder_atr is analytics.atr


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError):
        analytics.no_such_thing  # noqa: B018


def test_import_does_not_load_submodules_eagerly() -> None:
    code = "import sys, engine.analytics; print(sorted(m for m in sys.modules if m.startswith('engine.analytics.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
