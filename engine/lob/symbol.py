"""`Symbol`: an instrument name of at most 8 UTF-8 bytes (the reference's fixed-width symbol)."""

from __future__ import annotations

MAX_SYMBOL_BYTES = 8


class Symbol(str):
    """A str of at most 8 UTF-8 bytes; ordering, equality and hashing are those of the text."""

    __slots__ = ()

    def __new__(cls, text: str) -> Symbol:
        if not isinstance(text, str):
            raise TypeError(f"symbol must be a str, got {type(text).__name__}")
        if len(text.encode("utf-8")) > MAX_SYMBOL_BYTES:
            raise ValueError(f"symbol {text!r} exceeds 8 bytes")
        return super().__new__(cls, text)

    @classmethod
    def try_new(cls, text: str) -> Symbol | None:
        """The symbol, or None when it is longer than 8 bytes."""
        try:
            return cls(text)
        except ValueError:
            return None

    @classmethod
    def from_str_truncated(cls, text: str) -> Symbol:
        """Longest prefix of at most 8 bytes that does not split a UTF-8 character."""
        raw = text.encode("utf-8")[:MAX_SYMBOL_BYTES]
        return cls(raw.decode("utf-8", errors="ignore"))

    def __repr__(self) -> str:
        return f"Symbol({str(self)!r})"
