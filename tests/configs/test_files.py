"""configs.files.write_atomic: replaces the file whole, or raises one InputError line and leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from configs.errors import InputError
from configs.files import write_atomic


def test_writes_and_replaces_whole_with_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text("old and longer than the new text\n")
    assert write_atomic(path, "new\n", what="plan") == path
    assert path.read_text() == "new\n" and (path.stat().st_mode & 0o777) == 0o644
    write_atomic(str(path), b"\x00bytes", what="plan", mode=0o600)
    assert path.read_bytes() == b"\x00bytes" and (path.stat().st_mode & 0o777) == 0o600
    assert os.listdir(tmp_path) == ["out.json"]


@pytest.mark.parametrize(("name", "needle"), [("adir", "is a directory"), ("missing/out.json", "cannot write")])
def test_unwritable_targets_are_one_input_error(tmp_path: Path, name: str, needle: str) -> None:
    (tmp_path / "adir").mkdir()
    with pytest.raises(InputError, match=needle) as info:
        write_atomic(tmp_path / name, "x", what="trades file")
    assert "\n" not in str(info.value) and str(info.value).startswith("trades file ")
    assert sorted(os.listdir(tmp_path)) == ["adir"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_a_read_only_directory_leaves_no_temp_file(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(InputError, match="cannot write"):
            write_atomic(ro / "plan.json", "x", what="plan")
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o700)
