"""Render config.toml with a one-line comment per key (values by tomli-w) and write it atomically.

The rendered text must load back (configs.loader.load_config) to an equal config. Never writes secrets.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import tomli_w
from pydantic import BaseModel

from configs.errors import ConfigError
from configs.models import API_KEY_ENV, API_SECRET_ENV, NanobookConfig

__all__ = ["render_config_toml", "write_config_file"]

_HEADER = f"""\
# nanobook configuration (config.toml).
# Every key is optional: a missing key or table takes the default shown here (safe paper-trading values).
# Fractions, not percents: 0.25 = 25 %. Money is in the account currency. 1 basis point (bps) = 0.01 %.
# Secrets are never read from this file: Binance keys come from {API_KEY_ENV} / {API_SECRET_ENV}.
# Check a change with `nanobook config validate`.
"""


def _comment(text: str) -> str:
    return "# " + " ".join(text.split())


def _value(key: str, value: object) -> str:
    return tomli_w.dumps({key: value}).rstrip("\n")


def _table(name: str, section: BaseModel, comments: bool) -> list[str]:
    model = type(section)
    doc = (model.__doc__ or name).strip().splitlines()[0]
    lines = ["", _comment(doc), f"[{name}]"] if comments else ["", f"[{name}]"]
    for key, field in model.model_fields.items():
        value = getattr(section, key)
        if comments:
            note = field.description or key
            default = field.get_default(call_default_factory=True)
            if value != default:
                note += f" Default: {_value('v', default).removeprefix('v = ')}."
            lines.append(_comment(note))
        lines.append(_value(key, value))
    return lines


def render_config_toml(config: NanobookConfig | None = None, *, comments: bool = True) -> str:
    """Every table and key of `config` (default: the built-in defaults) as TOML text.

    With `comments` (the default) a header and a one-line explanation (with units) precede each table and key.
    """
    config = NanobookConfig() if config is None else config
    lines = [_HEADER.rstrip("\n")] if comments else []
    for name in NanobookConfig.model_fields:
        lines += _table(name, getattr(config, name), comments)
    return "\n".join(lines).lstrip("\n") + "\n"


def write_config_file(path: Path, *, config: NanobookConfig | None = None, force: bool = False) -> Path:
    """Write the rendered config to `path` atomically with mode 0o644; refuse to overwrite unless `force`.

    Raises ConfigError (one line, with a fix) when the file exists without `force` or cannot be written.
    """
    name = str(path)
    if path.is_dir():
        raise ConfigError(f"{name}: is a directory (fix: pass a file path such as config.toml)")
    if path.exists() and not force:
        raise ConfigError(f"{name}: already exists (fix: pass --force to overwrite it)")
    data = render_config_toml(config).encode("utf-8")
    directory = path.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml.tmp", dir=directory)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot write: {exc.strerror or exc} (fix: check that {directory} exists "
                          "and is writable)") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), 0o644)
            os.fsync(fh.fileno())
        if force:
            os.replace(tmp, path)
        else:
            # link() fails if the target appeared meanwhile: never clobber a file someone just created.
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise ConfigError(f"{name}: already exists (fix: pass --force to overwrite it)") from None
            except OSError:  # no hard links on this filesystem: fall back to a plain atomic rename
                if path.exists():
                    raise ConfigError(f"{name}: already exists (fix: pass --force to overwrite it)") from None
                os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot write: {exc.strerror or exc} (fix: check the directory's "
                          "permissions)") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path
