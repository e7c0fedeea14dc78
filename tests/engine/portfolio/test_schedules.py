"""Schedule files: wide/long CSV and JSON read to the same arrays; every bad input is a one-line file:line error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.portfolio.schedules import ScheduleError, align, read_schedule

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "market" / "sp100_ohlcv.csv"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_wide_long_and_json_forms_agree(tmp_path: Path) -> None:
    wide = read_schedule(write(tmp_path, "w.csv", "date,AAPL,MSFT\n2024-01-02,10.5,20\n2024-01-03,11,\n"), "prices")
    long = read_schedule(write(tmp_path, "l.csv", "Date,Ticker,Close\n2024-01-02,MSFT,20\n2024-01-02,AAPL,10.5\n"
                                                  "2024-01-03,AAPL,11\n"), "prices")
    records = [{"date": "2024-01-02", "prices": {"AAPL": 10.5, "MSFT": 20}},
               {"date": "2024-01-03", "prices": {"AAPL": 11}}]
    js = read_schedule(write(tmp_path, "p.json", json.dumps(records)), "prices")
    mapping = read_schedule(write(tmp_path, "m.json", json.dumps({r["date"]: r["prices"] for r in records})),
                            "prices")
    for other in (long, js, mapping):
        assert other.dates == wide.dates and other.symbols == wide.symbols == ("AAPL", "MSFT")
        np.testing.assert_array_equal(other.values, wide.values)
    assert np.isnan(wide.values[1, 1])


def test_real_ohlcv_export_reads_as_closes() -> None:
    prices = read_schedule(SHARED, "prices")
    assert prices.values.shape == (1849, 20)
    assert prices.dates[0] == "2019-01-02" and "AAPL" in prices.symbols
    assert prices.values[0, prices.symbols.index("AAPL")] == pytest.approx(39.47999954223633)


def test_align_holds_between_rebalances_and_zero_fills_rebalance_rows(tmp_path: Path) -> None:
    text = "date,A,B\n2024-01-01,1,2\n2024-01-02,1,2\n2024-01-03,1,2\n"
    prices = read_schedule(write(tmp_path, "p.csv", text), "prices")
    weights = read_schedule(write(tmp_path, "w.csv", "date,A\n2024-01-01,0.5\n2024-01-03,0.25\n"), "weights")
    a = align(weights, prices)
    assert a.symbols == ("A", "B") and list(a.rebalance_rows) == [0, 2]
    np.testing.assert_array_equal(a.weights[0], [0.5, 0.0])
    assert np.isnan(a.weights[1]).all()
    np.testing.assert_array_equal(a.weights[2], [0.25, 0.0])


@pytest.mark.parametrize(("name", "text", "kind", "fragment"), [
    ("e.csv", "", "prices", "empty"),
    ("a.csv", "AAPL,MSFT\n1,2\n", "prices", ":1: no date column"),
    ("b.csv", "date,A\n2024-01-02,abc\n", "prices", ":2: A = 'abc' is not a number"),
    ("c.csv", "date,A\n2024-01-02,-1\n", "prices", ":2: A price '-1' must be positive"),
    ("d.csv", "date,A\n2024-01-02,nan\n", "weights", "must be a finite number"),
    ("f.csv", "date,A\n2024-01-03,1\n2024-01-02,1\n", "prices", ":3: date 2024-01-02 does not come after"),
    ("o.csv", "date,A\n01/02/2024,1\n12/31/2024,1\n", "prices", ":2: '01/02/2024' is not an ISO date"),
    ("g.csv", "date,A,B\n2024-01-02,1\n", "prices", ":2: 2 cells, the header has 3"),
    ("h.csv", "date,TOOLONGSYMBOL\n2024-01-02,1\n", "prices", "must be 1–8 bytes"),
    ("i.json", "{\"a\": 1", "prices", "not valid JSON"),
    ("j.json", "[{\"date\": \"d\"}]", "prices", "entry 1: expected"),
    ("k.csv", "date,ticker,open\nd,A,1\n", "prices", "needs a close or adj_close or price column"),
    ("l.csv", "date,A,B,A\n2024-01-02,.2,.3,.4\n", "weights", ":1: symbol column(s) A appear more than once"),
    ("m.csv", "date,A,\n2024-01-02,.2,.3\n", "weights", ":1: column 3 has no symbol name"),
    ("n.json", '{"a":' * 3000 + "1" + "}" * 3000, "prices", "not valid JSON (nested too deeply)"),
])
def test_bad_files_name_file_and_line(tmp_path: Path, name: str, text: str, kind: str, fragment: str) -> None:
    with pytest.raises(ScheduleError) as info:
        read_schedule(write(tmp_path, name, text), kind)  # type: ignore[arg-type]
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith(str(tmp_path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="no such file"):
        read_schedule(tmp_path / "nope.csv", "prices")


@pytest.mark.parametrize(("weights", "fragment"), [
    ("date,A\n2024-01-09,1\n", "date 2024-01-09 has no row"),
    ("date,Z\n2024-01-01,1\n", "symbol Z has no prices"),
    ("date,B\n2024-01-02,1\n", "B has weight on 2024-01-02 but no price"),
])
def test_align_errors(tmp_path: Path, weights: str, fragment: str) -> None:
    prices = read_schedule(write(tmp_path, "p.csv", "date,A,B\n2024-01-01,1,2\n2024-01-02,1,\n"), "prices")
    with pytest.raises(ScheduleError, match=fragment):
        align(read_schedule(write(tmp_path, "w.csv", weights), "weights"), prices)
