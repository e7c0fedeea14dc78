"""Best-effort source locations (line, raw value text) of keys in already-parsed TOML and JSON text.

Used only to point error messages at `file:LINE`; never used to read values. Pure string scanning, no I/O.
"""

from __future__ import annotations

import bisect
import contextlib
import json

__all__ = ["Locations", "json_locations", "toml_locations"]

Loc = tuple[str | int, ...]
Locations = dict[Loc, tuple[int, str | None]]
"""loc path → (1-based line, raw value text as written; None for tables, arrays and objects)."""


# --- TOML -------------------------------------------------------------------------------------------------------


class _TomlState:
    """Carries multi-line strings and open brackets from one line to the next."""

    def __init__(self) -> None:
        self.string: str | None = None  # the closing delimiter of an open multi-line string
        self.depth = 0

    @property
    def open(self) -> bool:
        return self.string is not None or self.depth > 0

    def scan(self, text: str) -> str:
        """Consume `text`, updating the state; return it without a trailing comment."""
        i = 0
        while i < len(text):
            if self.string is not None:
                end = text.find(self.string, i)
                if end < 0:
                    return text
                i = end + 3
                self.string = None
                continue
            char = text[i]
            if char == "#":
                return text[:i]
            if text.startswith(('"""', "'''"), i):
                self.string = text[i:i + 3]
                i += 3
            elif char in "\"'":
                i = _string_end(text, i)
            else:
                self.depth += char in "[{"
                self.depth -= char in "]}"
                i += 1
        return text


def _string_end(text: str, start: int) -> int:
    quote = text[start]
    i = start + 1
    while i < len(text):
        if text[i] == "\\" and quote == '"':
            i += 2
        elif text[i] == quote:
            return i + 1
        else:
            i += 1
    return i


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    i = start = 0
    while i < len(text):
        if text[i] in "\"'":
            i = _string_end(text, i)
            continue
        if text[i] == sep:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _key_parts(text: str) -> tuple[str, ...]:
    parts = []
    for raw in _split_outside_quotes(text.strip(), "."):
        part = raw.strip()
        if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'":
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


def toml_locations(text: str) -> Locations:
    """Map each table header and `key = value` of valid TOML text to its line and raw value text."""
    found: Locations = {}
    table: tuple[str, ...] = ()
    state = _TomlState()
    for number, line in enumerate(text.splitlines(), 1):
        if state.open:
            state.scan(line)
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("["):
            header = _TomlState().scan(stripped).strip()
            inner = header[2:-2] if header.startswith("[[") else header[1:-1]
            table = _key_parts(inner)
            found.setdefault(table, (number, None))
            continue
        pieces = _split_outside_quotes(line, "=")
        if len(pieces) < 2:
            continue
        key = table + _key_parts(pieces[0])
        value = state.scan("=".join(pieces[1:])).strip()
        shown: str | None = value + (" …" if state.open else "")
        if value.startswith(("[", "{")):
            shown = None
        found.setdefault(key, (number, shown))
    return found


# --- JSON -------------------------------------------------------------------------------------------------------


class _JsonScanner:
    """Walks valid JSON text recording where each value (or object member) starts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        self.found: Locations = {}
        self.duplicates: list[tuple[Loc, int]] = []

    def line(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos)

    def skip(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos] in " \t\r\n\ufeff":
            pos += 1
        return pos

    def value(self, pos: int, loc: Loc, line: int | None = None) -> int:
        pos = self.skip(pos)
        where = line if line is not None else self.line(pos)
        char = self.text[pos]
        if char == "{":
            self.found.setdefault(loc, (where, None))
            return self.members(pos + 1, loc)
        if char == "[":
            self.found.setdefault(loc, (where, None))
            return self.items(pos + 1, loc)
        end = _string_end(self.text, pos) if char == '"' else self.scalar_end(pos)
        self.found.setdefault(loc, (where, self.text[pos:end]))
        return end

    def scalar_end(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos] not in ",]} \t\r\n":
            pos += 1
        return pos

    def members(self, pos: int, loc: Loc) -> int:
        seen: set[str] = set()
        pos = self.skip(pos)
        if self.text[pos] == "}":
            return pos + 1
        while True:
            pos = self.skip(pos)
            end = _string_end(self.text, pos)
            key = json.loads(self.text[pos:end])
            line = self.line(pos)
            if key in seen:
                self.duplicates.append(((*loc, key), line))
            seen.add(key)
            pos = self.skip(end) + 1  # past ':'
            pos = self.skip(self.value(pos, (*loc, key), line))
            if self.text[pos] == "}":
                return pos + 1
            pos += 1  # past ','

    def items(self, pos: int, loc: Loc) -> int:
        pos = self.skip(pos)
        if self.text[pos] == "]":
            return pos + 1
        index = 0
        while True:
            pos = self.skip(self.value(pos, (*loc, index)))
            if self.text[pos] == "]":
                return pos + 1
            pos += 1
            index += 1


def json_locations(text: str) -> tuple[Locations, list[tuple[Loc, int]]]:
    """Locations of every value in valid JSON text, plus (loc, line) of each duplicated object key."""
    scanner = _JsonScanner(text)
    with contextlib.suppress(IndexError, ValueError, RecursionError):  # best effort: keep what was located
        scanner.value(0, ())
    return scanner.found, scanner.duplicates
