"""nanobook_cli.app: properties every command shares (path arguments are checked by our loaders, not by Click)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from nanobook_cli.app import app


def _commands(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    subs = getattr(group, "commands", None)
    if subs:
        for name, sub in subs.items():
            yield from _commands(sub, f"{prefix} {name}".strip())
    else:
        yield prefix, group


def test_no_path_parameter_is_refused_by_click_for_being_unreadable() -> None:
    """Click would call an unreadable file a usage error (exit 2); our loaders say why, with exit 4."""
    paths = [(name, p.name, p.type_descriptor.parameter_info)
             for name, cmd in _commands(typer.main.get_command(app)) for p in cmd.params
             if p.type_descriptor.annotation is Path]
    assert len(paths) >= 15  # target, --config, --plan, FILE, schedules, … (the walk really found them)
    assert [(name, param) for name, param, info in paths if info.readable] == []
