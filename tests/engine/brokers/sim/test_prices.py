"""Reference-price tables: the bundled table, user CSV files (every bad line named), price and symbol parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.brokers.sim import VenueInputError
from engine.brokers.sim.prices import (
    bundled_prices,
    load_price_file,
    normalize_symbol,
    parse_price_table,
    price_to_ticks,
    ticks_to_price,
)


def test_bundled_table_covers_the_example_target_and_about_100_tickers() -> None:
    table = bundled_prices()
    assert {"AAPL", "MSFT", "AMZN", "GOOGL", "JPM", "XOM", "JNJ", "PG"} <= set(table)
    assert len(table) >= 100
    assert table["AAPL"] == 18_500
    assert all(ticks > 0 for ticks in table.values())


@pytest.mark.parametrize(("text", "ticks"), [
    ("185", 18_500), ("185.25", 18_525), (" 0.01 ", 1), ("1_000", 100_000), ("185.005", 18_500), ("185.015", 18_502),
])
def test_price_to_ticks(text: str, ticks: int) -> None:
    assert price_to_ticks(text) == ticks


@pytest.mark.parametrize(("text", "message"), [
    ("abc", "not a number"), ("-5", "must be positive"), ("0", "must be positive"), ("nan", "finite"),
    ("inf", "finite"), ("0.001", "below one tick"), ("1e12", "implausibly large"), ("", "not a number"),
    ("1e28", "implausibly large"), ("9" * 29, "implausibly large"), ("1e400", "implausibly large"),
    ("1000000000.01", "implausibly large"),
])
def test_bad_prices(text: str, message: str) -> None:
    with pytest.raises(VenueInputError, match=message):
        price_to_ticks(text)


def test_the_largest_price_is_accepted() -> None:
    assert price_to_ticks("1000000000") == price_to_ticks("1e9") == 100_000_000_000


def test_ticks_to_price_and_symbols() -> None:
    assert str(ticks_to_price(18_500)) == "185.00"
    assert normalize_symbol(" brk.b ") == "BRK.B"
    for bad in ("", "A B", "$$$", "X" * 33):
        with pytest.raises(VenueInputError, match="invalid symbol"):
            normalize_symbol(bad)


def test_table_with_header_comments_and_blank_lines() -> None:
    text = "# my prices\nSymbol,Price\n\naapl, 190.5\nZZZ,12\n"
    assert parse_price_table(text) == {"AAPL": 19_050, "ZZZ": 1_200}
    assert parse_price_table("AAPL,1\n") == {"AAPL": 100}


def test_every_bad_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("symbol,price\nAAPL,185\nMSFT,abc\nJPM\nAAPL,1\nXOM,-5\n", encoding="utf-8")
    with pytest.raises(VenueInputError) as info:
        load_price_file(path)
    assert str(info.value).startswith(f"{path}:3: price 'abc' is not a number")
    assert "(and 3 more)" in str(info.value)
    assert [i.split(": ", 1)[0] for i in info.value.issues] == [f"{path}:{n}" for n in (3, 4, 5, 6)]
    assert "duplicate symbol AAPL (first on line 2)" in info.value.issues[2]


def test_unreadable_and_empty_tables(tmp_path: Path) -> None:
    with pytest.raises(VenueInputError, match="cannot read price table"):
        load_price_file(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("symbol,price\n# nothing\n", encoding="utf-8")
    with pytest.raises(VenueInputError, match="no prices found"):
        load_price_file(tmp_path / "empty.csv")
