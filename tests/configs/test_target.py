"""configs.target + load_target: exact weights, every issue at once with lines, tighten-only constraints, window id."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from configs.errors import TargetError
from configs.loader import load_target
from configs.models import RiskSettings
from configs.target import Constraints, TargetFile, TargetWeight, effective_risk, target_cross_issues, window_id

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "examples" / "target.json"
TS = "2026-11-02T21:00:00Z"


def doc(targets: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"timestamp": TS, "targets": targets, **extra}


def write(tmp_path: Path, payload: dict[str, Any] | str, name: str = "target.json") -> Path:
    path = tmp_path / name
    text = payload if isinstance(payload, str) else json.dumps(payload, indent=2)
    path.write_text(text, encoding="utf-8")
    return path


def issues_of(tmp_path: Path, payload: dict[str, Any] | str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    write(tmp_path, payload)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TargetError) as info:
        load_target(Path("target.json"))
    return info.value.issues


def test_example_target_loads() -> None:
    loaded = load_target(EXAMPLE)
    target = loaded.target
    assert [t.symbol for t in target.targets] == ["AAPL", "MSFT", "AMZN", "GOOGL", "JPM", "XOM", "JNJ", "PG"]
    assert target.long_weight == Decimal("0.95") and target.short_weight == 0
    assert target.scope == "example-2026-11"
    assert target.constraints is not None and target.constraints.max_position_pct == 0.2
    assert loaded.sha256 == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()


def test_weights_are_exact_decimals(tmp_path: Path) -> None:
    path = write(tmp_path, '{"timestamp": "' + TS + '", "targets": [{"symbol": "A", "weight": 0.1},'
                           ' {"symbol": "B", "weight": 0.2}, {"symbol": "C", "weight": 0.7}]}')
    target = load_target(path).target
    assert [str(t.weight) for t in target.targets] == ["0.1", "0.2", "0.7"]
    assert target.long_weight == 1  # 0.1 + 0.2 + 0.7 is exactly 1: passes the long-sum check


def test_long_sum_tolerance() -> None:
    TargetFile.model_validate(doc([{"symbol": "A", "weight": 0.1}, {"symbol": "B", "weight": 0.2},
                                   {"symbol": "C", "weight": 0.7}]))
    TargetFile.model_validate(doc([{"symbol": "A", "weight": Decimal("0.5")},
                                   {"symbol": "B", "weight": Decimal("0.5000000005")}]))  # within 1e-9
    with pytest.raises(ValidationError, match=r"long weights sum to 1\.0000"):
        TargetFile.model_validate(doc([{"symbol": "A", "weight": Decimal("0.5")},
                                       {"symbol": "B", "weight": Decimal("0.50000001")}]))


def test_shorts_load_and_do_not_count_toward_the_long_sum() -> None:
    target = TargetFile.model_validate(doc([{"symbol": "A", "weight": 1}, {"symbol": "B", "weight": -1}]))
    assert target.long_weight == 1 and target.short_weight == 1


def test_timestamp_is_normalised_to_utc() -> None:
    target = TargetFile.model_validate({"timestamp": "2026-01-01T02:30:00+02:00", "targets": [
        {"symbol": "A", "weight": 0.5}]})
    assert target.timestamp == datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    assert target.scope == "2026-01-01T00:30:00+00:00"


@pytest.mark.parametrize(("stamp", "scope"), [
    ("2026-01-01T00:00:00.5Z", "2026-01-01T00:00:00.500+00:00"),
    ("2026-01-01T00:00:00.123456Z", "2026-01-01T00:00:00.123456+00:00"),
    ("2026-01-01t00:00:00z", "2026-01-01T00:00:00+00:00"),
])
def test_scope_from_timestamp(stamp: str, scope: str) -> None:
    target = TargetFile.model_validate({"timestamp": stamp, "targets": [{"symbol": "A", "weight": 0.5}]})
    assert target.scope == scope


def test_blank_metadata_id_falls_back_to_the_timestamp() -> None:
    target = TargetFile.model_validate(doc([{"symbol": "A", "weight": 0.5}], metadata={"id": "  "}))
    assert target.scope == "2026-11-02T21:00:00+00:00"
    assert TargetFile.model_validate(doc([{"symbol": "A", "weight": 0.5}], metadata={"id": " x "})).scope == " x "


@pytest.mark.parametrize("stamp", ["2026-01-01T00:00:00", "2026-01-01", "2026-01-01T00:00Z", "yesterday",
                                   "2026-02-30T00:00:00Z", "2026-01-01T25:00:00Z", 1767225600, None])
def test_bad_timestamps(stamp: Any) -> None:
    with pytest.raises(ValidationError) as info:
        TargetFile.model_validate({"timestamp": stamp, "targets": [{"symbol": "A", "weight": 0.5}]})
    assert info.value.errors()[0]["loc"] == ("timestamp",)


def test_naive_datetime_object_is_refused() -> None:
    with pytest.raises(ValidationError, match="UTC offset"):
        TargetFile(timestamp=datetime(2026, 1, 1), targets=(TargetWeight(symbol="A", weight=Decimal("0.5")),))


@pytest.mark.parametrize(("weight", "fragment"), [
    ("0.5", "not a string"), (True, "not a boolean"), (None, "must be a number"),
    (Decimal("NaN"), "finite"), (Decimal("Infinity"), "finite"), (Decimal("1.5"), "|weight| must be ≤ 1"),
    (Decimal("-1.0001"), "|weight| must be ≤ 1"), (0, "weight is zero"), (Decimal("-0.0"), "weight is zero"),
])
def test_bad_weights(weight: Any, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        TargetWeight.model_validate({"symbol": "A", "weight": weight})
    assert fragment in info.value.errors()[0]["msg"]


def test_weight_of_minus_one_is_allowed() -> None:
    assert TargetWeight(symbol="A", weight=Decimal(-1)).weight == -1


@pytest.mark.parametrize(("symbol", "fragment"), [
    ("", "empty symbol"), ("TOOLONGSY", "exceeds 8 bytes"), ("ÄÄÄÄÄ", "exceeds 8 bytes"), (" AAPL", "spaces"),
    ("AA PL", "spaces"),
])
def test_bad_symbols(symbol: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        TargetWeight(symbol=symbol, weight=Decimal("0.1"))


def test_symbol_limit_is_bytes_not_characters() -> None:
    assert TargetWeight(symbol="BRK.B", weight=Decimal("0.1")).symbol == "BRK.B"
    assert TargetWeight(symbol="ÄÄÄÄ", weight=Decimal("0.1")).symbol == "ÄÄÄÄ"  # 8 bytes exactly


def test_empty_targets() -> None:
    with pytest.raises(ValidationError, match="targets list is empty"):
        TargetFile.model_validate(doc([]))


def test_duplicate_symbols_are_case_insensitive() -> None:
    with pytest.raises(ValidationError, match="duplicate symbol 'aapl'"):
        TargetFile.model_validate(doc([{"symbol": "AAPL", "weight": 0.2}, {"symbol": "aapl", "weight": 0.2}]))


def test_unknown_keys_are_refused_at_every_level() -> None:
    for payload in (doc([{"symbol": "A", "weight": 0.1}], extra=1),
                    doc([{"symbol": "A", "weight": 0.1, "side": "buy"}]),
                    doc([{"symbol": "A", "weight": 0.1}], metadata={"id": "x", "note": 1}),
                    doc([{"symbol": "A", "weight": 0.1}], constraints={"max_gross": 1})):
        with pytest.raises(ValidationError, match="Extra inputs"):
            TargetFile.model_validate(payload)


def test_target_cross_issues_on_raw_items() -> None:
    issues = target_cross_issues([{"symbol": "A", "weight": Decimal("0.7")}, "junk", {"symbol": "a", "weight": 0.6},
                                  {"symbol": 5, "weight": True}])
    assert [i.loc for i in issues] == [("targets", 2, "symbol"), ("targets",)]


def test_every_target_issue_at_once_with_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = """{
  "timestamp": "2026-11-02T21:00:00",
  "metadata": {"id": "x", "owner": "me"},
  "targets": [
    {"symbol": "AAPL", "weight": 0.7},
    {"symbol": "aapl", "weight": 0.3},
    {"symbol": "MSFT", "weight": 1.5},
    {"symbol": "TOOLONGSYM", "weight": "0.1"},
    {"symbol": "X", "weight": true},
    {"symbol": "Y", "weight": NaN},
    {"symbol": "Z", "weight": 0},
    {"symbol": "W", "weight": 0.2, "weight": 0.1},
    {"symbol": "V"}
  ],
  "constraints": {"min_trade_usd": 5, "max_leverage": 0.5}
}
"""
    issues = issues_of(tmp_path, text, monkeypatch)
    assert issues == [
        'target.json:2 timestamp = "2026-11-02T21:00:00" → not an RFC 3339 timestamp with a UTC offset '
        '(fix: use RFC 3339 with an offset, e.g. "2026-11-02T21:00:00Z")',
        "target.json:3 metadata.owner = \"me\" → unknown key (fix: remove it; valid keys here: id)",
        "target.json:4 targets → long weights sum to 1.1000 (> 1) (fix: scale the positive weights down so they "
        "sum to at most 1)",
        "target.json:6 targets[1].symbol = \"aapl\" → duplicate symbol 'aapl' (same as targets[0], symbols are "
        "case-insensitive) (fix: keep one entry per symbol)",
        "target.json:7 targets[2].weight = 1.5 → |weight| must be ≤ 1 (fix: use a fraction of equity between -1 "
        "and 1, e.g. 0.25 for 25 %)",
        "target.json:8 targets[3].symbol = \"TOOLONGSYM\" → symbol 'TOOLONGSYM' exceeds 8 bytes (fix: use the venue "
        'symbol, e.g. "AAPL")',
        "target.json:8 targets[3].weight = \"0.1\" → must be a number, not a string (fix: remove the quotes around "
        "the weight)",
        "target.json:9 targets[4].weight = true → must be a number, not a boolean (fix: write the weight as a "
        "number such as 0.25)",
        "target.json:10 targets[5].weight = NaN → must be a finite number (NaN and Infinity are not allowed) "
        "(fix: write the weight as a number such as 0.25)",
        "target.json:11 targets[6].weight = 0 → weight is zero — omit the symbol instead (fix: remove this entry; "
        "a symbol absent from targets is closed)",
        "target.json:12 targets[7].weight → duplicate key (fix: keep one; JSON readers keep only the last)",
        'target.json:13 targets[8].weight → missing (fix: add "weight": 0.25)',
        "target.json:15 constraints.max_leverage = 0.5 → must be ≥ 1 (fix: use a value from 1 to 10)",
        "target.json:15 constraints.min_trade_usd = 5 → unknown key (fix: remove it; did you mean "
        "'min_trade_notional'?)",
    ]


def test_missing_required_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert issues_of(tmp_path, "{}", monkeypatch) == [
        'target.json:1 timestamp → missing (fix: add "timestamp": "2026-11-02T21:00:00Z")',
        'target.json:1 targets → missing (fix: add "targets": [{"symbol": "AAPL", "weight": 0.25}])',
    ]


def test_empty_targets_in_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert issues_of(tmp_path, doc([]), monkeypatch) == [
        'target.json:3 targets → targets list is empty (fix: add at least one {"symbol": "AAPL", "weight": 0.25})']


@pytest.mark.parametrize(("text", "expected"), [
    ('{"timestamp": 1,\n"targets": [}', "target.json:2: invalid JSON: Expecting value (column 13)"),
    ("[1, 2]", 'target.json:1: the document must be a JSON object {"timestamp": …, "targets": […]}'),
    ("", "target.json:1: invalid JSON: Expecting value (column 1)"),
])
def test_unparseable_target_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
                                        expected: str) -> None:
    assert issues_of(tmp_path, text, monkeypatch) == [expected]


def test_missing_and_non_utf8_target(tmp_path: Path) -> None:
    with pytest.raises(TargetError) as info:
        load_target(tmp_path / "nope.json")
    assert info.value.issues == [f"{tmp_path / 'nope.json'}: file not found (fix: check the path)"]
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"timestamp": "\xe9"}')
    with pytest.raises(TargetError, match="not UTF-8"):
        load_target(bad)


# --- tighten-only constraints (W-T1) ----------------------------------------------------------------------------


def test_constraints_that_tighten_are_applied() -> None:
    risk = RiskSettings(max_position_pct=0.25, max_leverage=1.5, max_short_pct=0.3, allow_short=True)
    eff = effective_risk(risk, Constraints(max_position_pct=0.1, max_leverage=1.0, max_short_pct=0.0,
                                           min_trade_notional=Decimal("500")))
    assert (eff.max_position_pct, eff.max_leverage, eff.max_short_pct) == (0.1, 1.0, 0.0)
    assert eff.min_trade_notional == Decimal("500")
    assert eff.allow_short is True and eff.max_trade_notional == risk.max_trade_notional


def test_no_or_equal_constraints_change_nothing() -> None:
    risk = RiskSettings()
    assert effective_risk(risk, None) is risk
    assert effective_risk(risk, Constraints()) is risk
    assert effective_risk(risk, Constraints(max_position_pct=0.25)) == risk


def test_looser_constraints_are_refused_listing_config_values() -> None:
    with pytest.raises(TargetError) as info:
        effective_risk(RiskSettings(), Constraints(max_position_pct=1.0, max_leverage=2.0, max_short_pct=0.5,
                                                   min_trade_notional=Decimal("10")), source="t.json")
    assert info.value.issues == [
        "t.json: constraints.max_position_pct = 1.0 → looser than config risk.max_position_pct = 0.25; "
        "constraints may only tighten limits (fix: use a value ≤ 0.25 or remove it)",
        "t.json: constraints.max_leverage = 2.0 → looser than config risk.max_leverage = 1.0; "
        "constraints may only tighten limits (fix: use a value ≤ 1.0 or remove it)",
        "t.json: constraints.max_short_pct = 0.5 → looser than config risk.max_short_pct = 0.0; "
        "constraints may only tighten limits (fix: use a value ≤ 0.0 or remove it)",
        "t.json: constraints.min_trade_notional = 10 → looser than config risk.min_trade_notional = 100; "
        "constraints may only tighten limits (fix: use a value ≥ 100 or remove it)",
    ]
    assert str(info.value).endswith("(and 3 more)")


def test_tightening_into_an_inconsistent_risk_is_refused() -> None:
    with pytest.raises(TargetError, match="above max_trade_notional"):
        effective_risk(RiskSettings(), Constraints(min_trade_notional=Decimal("300000")))


# --- window id (W-T3) -------------------------------------------------------------------------------------------


def make(pairs: list[tuple[str, str]], scope: str = "w-1") -> TargetFile:
    return TargetFile.model_validate(doc([{"symbol": s, "weight": Decimal(w)} for s, w in pairs],
                                         metadata={"id": scope}))


def test_window_id_is_pinned_to_its_canonical_encoding() -> None:
    target = load_target(EXAMPLE).target
    canonical = ('["example-2026-11","DU123",[["AAPL","0.15"],["AMZN","0.12"],["GOOGL","0.12"],["JNJ","0.1"],'
                 '["JPM","0.11"],["MSFT","0.15"],["PG","0.1"],["XOM","0.1"]]]')
    assert window_id(target, "DU123") == hashlib.sha256(canonical.encode()).hexdigest()[:16]


def test_window_id_ignores_order_case_and_spelling_but_not_account_scope_or_weights() -> None:
    base = window_id(make([("AAPL", "0.5"), ("MSFT", "0.25")]), "acct")
    assert len(base) == 16 and all(c in "0123456789abcdef" for c in base)
    assert window_id(make([("MSFT", "0.25"), ("AAPL", "0.5")]), "acct") == base
    assert window_id(make([("MSFT", "0.250"), ("aapl", "0.50")]), "acct") == base
    assert window_id(make([("AAPL", "0.5"), ("MSFT", "0.25")]), "other") != base
    assert window_id(make([("AAPL", "0.5"), ("MSFT", "0.25")], scope="w-2"), "acct") != base
    assert window_id(make([("AAPL", "0.5"), ("MSFT", "0.26")]), "acct") != base


@given(st.lists(st.tuples(st.sampled_from(["AAA", "BBB", "CCC", "DDD", "EEE"]),
                          st.decimals(min_value=Decimal("0.001"), max_value=Decimal("0.2"), places=3)),
                min_size=1, max_size=5, unique_by=lambda p: p[0]), st.randoms())
def test_window_id_is_order_insensitive(pairs: list[tuple[str, Decimal]], rnd: Any) -> None:
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    first = make([(s, str(w)) for s, w in pairs])
    second = make([(s, str(w)) for s, w in shuffled])
    assert window_id(first, "acct") == window_id(second, "acct")
