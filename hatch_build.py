"""Hatch build hook: compile the optional C accelerators (`engine/lob/_accel.c`, `engine/lob/itch/_itchaccel.c`).

Uses only the interpreter's own build settings (sysconfig) and the standard library. A failed or impossible
compile is a warning, never a build error: the package concerned then runs its pure-Python hot paths.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # only hatchling runs the hook; the test-suite imports the helpers without it
    BuildHookInterface = object

SOURCE = Path("engine") / "lob" / "_accel.c"
ITCH_SOURCE = Path("engine") / "lob" / "itch" / "_itchaccel.c"
SOURCES = (SOURCE, ITCH_SOURCE)
SKIP_ENV = "NANOBOOK_NO_ACCEL"  # set to 1 to build without the accelerator


def compile_command(source: Path, target: Path) -> list[str]:
    """One gcc-style compile-and-link of `source` into the extension `target`, with -O2 last so it wins."""
    link = sysconfig.get_config_var("LDSHARED") or f"{sysconfig.get_config_var('CC') or 'cc'} -shared"
    cflags = sysconfig.get_config_var("CFLAGS") or ""
    ccshared = sysconfig.get_config_var("CCSHARED") or "-fPIC"
    include = sysconfig.get_paths()["include"]
    return [*shlex.split(link), *shlex.split(cflags), *shlex.split(ccshared), "-O2", f"-I{include}",
            str(source), "-o", str(target)]


def build_accel(root: Path, relative: Path = SOURCE) -> Path | None:
    """Compile one accelerator into its package directory; returns the built file, or None (with a warning)."""
    source = root / relative
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = source.with_name(source.stem + suffix)
    if not source.is_file():
        return None
    # Build into a temporary file, then rename: a process that has the old module loaded keeps its mapping.
    fd, tmp = tempfile.mkstemp(prefix="." + source.stem, suffix=suffix, dir=source.parent)
    os.close(fd)
    cmd = compile_command(source, Path(tmp))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        proc = None
        detail = str(exc)
    else:
        detail = proc.stderr.strip()
    if proc is None or proc.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        package = ".".join(relative.parent.parts)
        print(f"WARNING: could not compile {relative} ({detail or 'compiler failed'}); "
              f"{package} will use its pure-Python hot paths.", file=sys.stderr)
        return None
    os.chmod(tmp, 0o755)  # mkstemp creates 0600; an installed module must be readable by everyone
    os.replace(tmp, target)
    return target


class AccelBuildHook(BuildHookInterface):  # type: ignore[misc,type-arg]
    """Compile the accelerators for wheel and editable builds; ship them as platform-specific artifacts."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Build the extension before the wheel is assembled (both `standard` and `editable` versions)."""
        if self.target_name != "wheel" or os.environ.get(SKIP_ENV) == "1":
            return
        for relative in SOURCES:
            built = build_accel(Path(self.root), relative)
            if built is None:
                continue
            # The .so is git-ignored, so it must be force-included; it also makes the wheel platform-specific.
            build_data["artifacts"].append(built.relative_to(self.root).as_posix())
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
