"""`nanobook replay --itch`: JSON surface (DESIGN §4), human output, filters and clean errors (exit 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "data" / "itch" / "sample.itch"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "nanobook_cli", "replay", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120, check=False)


def test_json_surface() -> None:
    proc = _run("--itch", str(SAMPLE), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["command"] == "replay" and doc["status"] == "ok" and doc["exit_code"] == 0
    data = doc["data"]
    assert data["messages"] == sum(data["counts"].values()) > 0
    assert set(data["counts"]) == set("SRHYLVWKJhAFECXDUPQBINO")
    assert set(data["books"]) == {"AAPL", "MSFT", "NVDA"}
    for book in data["books"].values():
        assert set(book) == {"bids", "asks"}
        for level in book["bids"] + book["asks"]:
            assert set(level) == {"price", "quantity", "order_count"}
            assert isinstance(level["price"], int)
        prices = [lv["price"] for lv in book["bids"]]
        assert prices == sorted(prices, reverse=True)
        if book["bids"] and book["asks"]:
            assert book["bids"][0]["price"] < book["asks"][0]["price"]
    for stage in ("parse", "book"):
        lat = data["latency"][stage]
        assert lat["p50_ns"] <= lat["p95_ns"] <= lat["p99_ns"] and lat["histogram"]


def test_symbols_and_limit(tmp_path: Path) -> None:
    proc = _run("--itch", str(SAMPLE), "--json", "--symbols", "msft,AAPL", "--limit", "40")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)["data"]
    assert data["messages"] == 40 and set(data["books"]) <= {"AAPL", "MSFT"} and data["limit_reached"]


def test_human_output_and_gzip(tmp_path: Path) -> None:
    import gzip

    gz = tmp_path / "s.itch.gz"
    gz.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    proc = _run("--itch", str(gz), "--depth", "2")
    assert proc.returncode == 0, proc.stderr
    assert "ITCH 5.0 messages" in proc.stdout and "AAPL" in proc.stdout and "p99" in proc.stdout
    assert "invariants: all held" in proc.stdout


def test_truncated_file_exits_4_naming_the_offset(tmp_path: Path) -> None:
    bad = tmp_path / "bad.itch"
    bad.write_bytes(SAMPLE.read_bytes()[:-3])
    proc = _run("--itch", str(bad), "--json")
    assert proc.returncode == 4
    assert "byte offset" in proc.stdout + proc.stderr


def test_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "cut.itch"
    bad.write_bytes(SAMPLE.read_bytes()[:1000])
    proc = _run("--itch", str(bad))
    assert proc.returncode == 4 and f"{bad}: ITCH byte offset" in proc.stderr
    proc = _run("--itch", str(tmp_path))
    assert proc.returncode == 4 and "is a directory, not an ITCH file" in proc.stderr


def test_missing_file_exits_4(tmp_path: Path) -> None:
    proc = _run("--itch", str(tmp_path / "nope.itch"))
    assert proc.returncode == 4
    assert "no such ITCH file" in proc.stderr + proc.stdout


def test_itch_books_agree_with_the_default_exchange_books_and_bad_kind_exits_2() -> None:
    default = _run("--itch", str(SAMPLE), "--json")
    itch = _run("--itch", str(SAMPLE), "--json", "--books", "itch")
    assert default.returncode == itch.returncode == 0, itch.stderr
    a, b = json.loads(default.stdout)["data"], json.loads(itch.stdout)["data"]
    assert a["books"] and any(book["bids"] and book["asks"] for book in a["books"].values())
    for key in ("books", "counts", "invariants"):
        assert b[key] == a[key], key
    bad = _run("--itch", str(SAMPLE), "--books", "nonsense")
    out = bad.stdout + bad.stderr
    assert bad.returncode == 2 and "Traceback" not in out
    errors = [line for line in out.splitlines() if "nonsense" in line]
    assert len(errors) == 1 and "--books" in errors[0] and "exchange, itch" in errors[0]
