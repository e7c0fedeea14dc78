"""Read and validate config.toml and target.json, reporting every issue at once as `file:LINE key = value → …`.

Owns file reading, hashing and error rendering; never writes, never prints, imports nothing from `engine`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from pydantic import BaseModel, ValidationError

from configs.errors import ConfigError, TargetError
from configs.locate import json_locations, toml_locations
from configs.models import NanobookConfig
from configs.target import TargetFile, target_cross_issues

__all__ = ["DEFAULTS_NOTICE", "DEFAULT_CONFIG_PATH", "LoadedConfig", "LoadedTarget", "load_config", "load_target"]

DEFAULT_CONFIG_PATH = Path("config.toml")
DEFAULTS_NOTICE = ("note: no config.toml in the working directory; using built-in defaults "
                   "(create one with `nanobook config init`)")


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated config and where it came from (`path`/`sha256` are None when defaults are in use)."""

    config: NanobookConfig
    path: Path | None
    sha256: str | None
    defaulted: bool

    @property
    def notice(self) -> str | None:
        """The one-line stderr notice a command prints when built-in defaults are in use."""
        return DEFAULTS_NOTICE if self.defaulted else None


@dataclass(frozen=True, slots=True)
class LoadedTarget:
    """A validated target file, its path and the SHA-256 of its bytes (for plan fingerprints and audit)."""

    target: TargetFile
    path: Path
    sha256: str


def load_config(path: Path | None = None, *, required: bool = False) -> LoadedConfig:
    """Load and validate a config file; with `path=None`, ./config.toml or (if absent, not required) defaults.

    An explicit `path` must exist. Raises ConfigError whose `.issues` lists every problem, one line each.
    """
    file = DEFAULT_CONFIG_PATH if path is None else path
    if path is None and not file.exists() and not required:
        return LoadedConfig(NanobookConfig(), None, None, True)
    if path is None and not file.exists():
        _fail(ConfigError, [f"{file}: file not found in the working directory "
                            "(fix: run `nanobook config init` or pass --config PATH)"])
    name = str(file)
    data = _read(file, name, ConfigError)
    text = _decode(data, name, ConfigError)
    try:
        raw = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        _fail(ConfigError, [_toml_syntax_issue(name, str(exc), text)])
    try:
        config = NanobookConfig.model_validate(raw)
    except ValidationError as exc:
        report = _Report(name, NanobookConfig, toml_locations(text), _toml_key, "table", _show_toml)
        _fail(ConfigError, report.issues(exc.errors(), raw))
    return LoadedConfig(config, file, hashlib.sha256(data).hexdigest(), False)


def load_target(path: Path) -> LoadedTarget:
    """Load and validate a target.json with exact Decimal weights. Raises TargetError listing every issue."""
    name = str(path)
    data = _read(path, name, TargetError)
    text = _decode(data, name, TargetError)
    try:
        raw = json.loads(text, parse_float=Decimal, parse_constant=Decimal)
    except json.JSONDecodeError as exc:
        _fail(TargetError, [f"{name}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})"])
    except RecursionError:
        _fail(TargetError, [f"{name}: invalid JSON: nested too deeply"])
    if not isinstance(raw, dict):
        _fail(TargetError, [f'{name}:1: the document must be a JSON object {{"timestamp": …, "targets": […]}}'])
    locations, duplicates = json_locations(text)
    issues = [f"{name}:{line} {_json_key(loc)} → duplicate key (fix: keep one; JSON readers keep only the last)"
              for loc, line in duplicates]
    target: TargetFile | None = None
    try:
        target = TargetFile.model_validate(raw)
    except ValidationError as exc:
        report = _Report(name, TargetFile, locations, _json_key, "object", _show_json)
        errors = [e for e in exc.errors() if "cross_loc" not in (e.get("ctx") or {})]
        issues += report.issues(errors, raw)
        items = raw.get("targets")
        if isinstance(items, list):
            issues += [report.line(c.loc, _MISSING, c.message, c.fix) for c in target_cross_issues(items)]
    if issues or target is None:
        _fail(TargetError, _sorted(issues))
    return LoadedTarget(target, path, hashlib.sha256(data).hexdigest())


# --- reading ---------------------------------------------------------------------------------------------------


def _fail(kind: type[ConfigError | TargetError], issues: list[str]) -> NoReturn:
    more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
    raise kind(issues[0] + more, issues)


def _read(path: Path, name: str, kind: type[ConfigError | TargetError]) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        _fail(kind, [f"{name}: file not found (fix: check the path)"])
    except IsADirectoryError:
        _fail(kind, [f"{name}: is a directory, not a file (fix: name the file itself)"])
    except OSError as exc:
        _fail(kind, [f"{name}: cannot read: {exc.strerror or exc} (fix: check the path and its permissions)"])


def _decode(data: bytes, name: str, kind: type[ConfigError | TargetError]) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        _fail(kind, [f"{name}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}) (fix: save the file as UTF-8)"])


_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _toml_syntax_issue(name: str, message: str, text: str) -> str:
    match = _AT.search(message)
    if match:
        return f"{name}:{match.group(1)}: invalid TOML: {message[: match.start()]} (column {match.group(2)})"
    base = message.removesuffix(" (at end of document)")
    return f"{name}:{text.count(chr(10)) + 1}: invalid TOML: {base} (at end of document)"


# --- rendering of validation errors -----------------------------------------------------------------------------

_MISSING = object()
_BOUNDS = {"greater_than": ">", "greater_than_equal": "≥", "less_than": "<", "less_than_equal": "≤"}
# Keys renamed since the seed (Rust) rebalancer: suggest the new name before any fuzzy match.
_RENAMED = {
    "min_trade_usd": "min_trade_notional", "max_trade_usd": "max_trade_notional",
    "order_timeout_secs": "order_timeout_s", "quote_staleness_threshold_sec": "quote_max_age_s",
    "timeout_secs": "timeout_s", "connection": "ibkr", "account": "ibkr", "logging": "audit",
}
_REQUIRED_FIX = {
    "timestamp": 'add "timestamp": "2026-11-02T21:00:00Z"',
    "targets": 'add "targets": [{"symbol": "AAPL", "weight": 0.25}]',
    "symbol": 'add "symbol": "AAPL"',
    "weight": 'add "weight": 0.25',
}


def _toml_key(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _json_key(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(document)"


def _show_toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{…}"
    if isinstance(value, list):
        return "[…]"
    return str(value)


def _show_json(value: object) -> str:
    if isinstance(value, dict | list):
        return "{…}" if isinstance(value, dict) else "[…]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _sorted(issues: list[str]) -> list[str]:
    # Issues read best in file order; lines without a number go last, original order kept otherwise.
    def line_of(issue: str) -> int:
        match = re.match(r"[^\n]*?:(\d+)[ :]", issue)
        return int(match.group(1)) if match else 1 << 30

    return sorted(issues, key=line_of)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


@dataclass(frozen=True, slots=True)
class _Report:
    """Turns pydantic errors into `file:LINE key = value → problem (fix: …)` lines for one file."""

    name: str
    model: type[BaseModel]
    locations: dict[tuple[str | int, ...], tuple[int, str | None]]
    key_of: Any
    container: str
    show: Any

    def issues(self, errors: list[Any], raw: dict[str, Any]) -> list[str]:
        lines = [self._one(error, raw) for error in errors]
        return _sorted(list(dict.fromkeys(lines)))

    def line(self, loc: tuple[str | int, ...], value: object, problem: str, fix: str | None) -> str:
        """Format one issue, locating `loc` in the text (falling back to its nearest located parent)."""
        found: tuple[int, str | None] | None = None
        exact = False
        for end in range(len(loc), -1, -1):
            found = self.locations.get(loc[:end])
            if found is not None:
                exact = end == len(loc)
                break
        shown: str | None
        if found is not None and exact and found[1] is not None:
            shown = found[1]
        elif value is _MISSING or isinstance(value, dict | list):
            shown = None
        else:
            shown = self.show(value)
        where = f"{self.name}:{found[0]}" if found is not None else f"{self.name}:"
        subject = self.key_of(loc) if shown is None else f"{self.key_of(loc)} = {shown}"
        return f"{where} {subject} → {problem}" + (f" (fix: {fix})" if fix else "")

    def _one(self, error: Any, raw: dict[str, Any]) -> str:
        loc: tuple[str | int, ...] = tuple(error["loc"])
        kind: str = error["type"]
        ctx: dict[str, Any] = error.get("ctx") or {}
        value: object = error.get("input", _MISSING)
        if kind == "missing":
            value = _MISSING
        keys = ctx.get("keys")
        if keys:  # a cross-field check on a table: point at the first of its keys that the file sets
            present = [k for k in keys if (*loc, k) in self.locations]
            loc = (*loc, (present or list(keys))[0])
            value = _lookup(raw, loc)
        parent, field = self._field(loc)
        if kind == "extra_forbidden":
            return self._unknown(loc, value, parent)
        problem, fix = self._problem(kind, error, ctx, loc, field)
        return self.line(loc, value, problem, fix)

    def _unknown(self, loc: tuple[str | int, ...], value: object, parent: type[BaseModel] | None) -> str:
        name = str(loc[-1])
        valid = list(parent.model_fields) if parent is not None else []
        guess = _RENAMED.get(name) if _RENAMED.get(name) in valid else None
        matches = [guess] if guess else difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        is_table = isinstance(value, dict) and self.container == "table"
        if matches:
            suggestion = f"[{matches[0]}]" if is_table else matches[0]
            hint = f"remove it; did you mean '{suggestion}'?"
        else:
            hint = f"remove it; valid keys here: {', '.join(valid)}" if valid else "remove it"
        if is_table:
            found = self.locations.get(loc)
            where = f"{self.name}:{found[0]}" if found else f"{self.name}:"
            return f"{where} [{self.key_of(loc)}] → unknown table (fix: {hint})"
        return self.line(loc, value, "unknown key", hint)

    def _field(self, loc: tuple[str | int, ...]) -> tuple[type[BaseModel] | None, Any]:
        current: type[BaseModel] | None = self.model
        parent: type[BaseModel] | None = None
        field: Any = None
        for part in loc:
            if isinstance(part, int):
                continue
            if current is None or part not in current.model_fields:
                return current, None
            parent, field = current, current.model_fields[part]
            current = _model_in(field.annotation)
        return parent, field

    def _problem(self, kind: str, error: Any, ctx: dict[str, Any], loc: tuple[str | int, ...],
                 field: Any) -> tuple[str, str | None]:
        if kind.startswith("nanobook_"):
            message = str(error["msg"])
            if "finite" in message:  # the field's own range is a better hint than a generic number
                return message, _range_fix(field) or ctx.get("fix")
            return message, ctx.get("fix")
        if kind in _BOUNDS:
            limit = next(iter(ctx.values()))
            if isinstance(limit, float) and limit.is_integer():  # pydantic reports ge=1 on a float field as 1.0
                limit = int(limit)
            return f"must be {_BOUNDS[kind]} {limit}", _range_fix(field)
        if kind == "literal_error":
            return f"must be one of {ctx.get('expected')}", "pick one of these values"
        if kind in ("model_type", "model_attributes_type", "dict_type"):
            if self.container == "table":
                return "must be a table", f"write it as a [{self.key_of(loc)}] table"
            return "must be an object", "write it as {…}"
        if kind in ("tuple_type", "list_type"):
            return "must be an array", "write it as […]"
        if kind == "missing":
            last = str(loc[-1]) if loc else ""
            return "missing", _REQUIRED_FIX.get(last, f'add "{last}"')
        message = str(error["msg"])
        return message[:1].lower() + message[1:], None


def _range_fix(field: Any) -> str | None:
    if field is None:
        return None
    low = high = ""
    for rule in field.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥")):
            if getattr(rule, attr, None) is not None:
                low = f"{sign} {getattr(rule, attr)}"
        for attr, sign in (("lt", "<"), ("le", "≤")):
            if getattr(rule, attr, None) is not None:
                high = f"{sign} {getattr(rule, attr)}"
    if low.startswith("≥") and high.startswith("≤"):
        text = f"from {low[2:]} to {high[2:]}"
    else:
        text = " and ".join(part for part in (low, high) if part)
    default = field.get_default(call_default_factory=False)
    tail = f", e.g. the default {_show_toml(default)}" if default is not None and not callable(default) else ""
    return f"use a value {text}{tail}" if text else None


def _lookup(raw: object, loc: tuple[str | int, ...]) -> object:
    for part in loc:
        in_dict = isinstance(raw, dict) and part in raw
        in_list = isinstance(raw, list) and isinstance(part, int) and part < len(raw)
        if not (in_dict or in_list):
            return _MISSING
        raw = raw[part]  # type: ignore[index]
    return raw
