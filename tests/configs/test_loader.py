"""configs.loader.load_config: every issue at once as `config.toml:LINE key = value → problem (fix: …)`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from configs.errors import ConfigError, InputError
from configs.loader import DEFAULTS_NOTICE, load_config
from configs.locate import json_locations, toml_locations
from configs.models import NanobookConfig

BAD = """\
# a config with many problems
[broker]
kind = "paper"

[execution]
order_interval_ms = 100.0
limit_offset_bps = -5   # negative
order_timeout_s = nan
max_retries = "3"
quote_max_age_s = -inf

[risk]
max_leverag = 2
min_trade_usd = 5
allow_short = "yes"

[riks]
a = 1

[audit]
path = "../x.jsonl"
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def load_text(tmp_path: Path, text: str, name: str = "config.toml") -> list[str]:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(Path(name))
    assert isinstance(info.value, InputError)
    return info.value.issues


def test_every_issue_is_reported_at_once_with_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text(BAD, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(None)
    issues = info.value.issues
    assert issues == [
        "config.toml:3 broker.kind = \"paper\" → must be one of 'sim', 'ibkr' or 'binance' "
        "(fix: pick one of these values)",
        "config.toml:6 execution.order_interval_ms = 100.0 → must be an integer, not a float "
        "(fix: write 100 without a decimal point)",
        "config.toml:7 execution.limit_offset_bps = -5 → must be ≥ 0 (fix: use a value from 0 to 1000, "
        "e.g. the default 10)",
        "config.toml:8 execution.order_timeout_s = nan → must be a finite number (nan and inf are not allowed) "
        "(fix: use a value > 0 and ≤ 86400, e.g. the default 30.0)",
        "config.toml:9 execution.max_retries = \"3\" → must be an integer, not a string (fix: remove the quotes)",
        "config.toml:10 execution.quote_max_age_s = -inf → must be a finite number (nan and inf are not allowed) "
        "(fix: use a value > 0 and ≤ 86400, e.g. the default 60.0)",
        "config.toml:13 risk.max_leverag = 2 → unknown key (fix: remove it; did you mean 'max_leverage'?)",
        "config.toml:14 risk.min_trade_usd = 5 → unknown key (fix: remove it; did you mean 'min_trade_notional'?)",
        "config.toml:15 risk.allow_short = \"yes\" → must be true or false (fix: write true or false)",
        "config.toml:17 [riks] → unknown table (fix: remove it; did you mean '[risk]'?)",
        "config.toml:21 audit.path = \"../x.jsonl\" → must not contain '..' (the audit log stays inside the "
        "working directory) (fix: use a relative path such as \"logs/audit.jsonl\")",
    ]
    assert str(info.value) == issues[0] + f" (and {len(issues) - 1} more)"


def test_the_file_name_is_used_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "prod.toml").write_text("[risk]\nmax_leverage = 0.5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(Path("conf/prod.toml"))
    assert info.value.issues == ["conf/prod.toml:2 risk.max_leverage = 0.5 → must be ≥ 1 "
                                 "(fix: use a value from 1 to 10, e.g. the default 1.0)"]
    assert str(info.value) == info.value.issues[0]  # a single issue: no "(and N more)"


def test_true_bool_for_true_string_gets_a_precise_fix(tmp_path: Path) -> None:
    issues = load_text(tmp_path, '[risk]\nallow_short = "true"\n')
    assert issues == ['config.toml:2 risk.allow_short = "true" → must be true or false, not a string '
                      "(fix: write true without quotes)"]


@pytest.mark.parametrize(("text", "fragment"), [
    ("[risk]\nmax_position_pct = nan\n", "risk.max_position_pct = nan → must be a finite number"),
    ("[risk]\nmax_position_pct = inf\n", "risk.max_position_pct = inf → must be a finite number"),
    ("[risk]\nmin_trade_notional = -inf\n", "risk.min_trade_notional = -inf → must be a finite number"),
    ("[sim]\nseed = nan\n", "sim.seed = nan → must be a finite integer"),
    ("[ibkr]\nport = 7497.0\n", "ibkr.port = 7497.0 → must be an integer, not a float (fix: write 7497 without"),
    ("[ibkr]\nport = -1\n", "ibkr.port = -1 → must be ≥ 1 (fix: use a value from 1 to 65535"),
    ("[risk]\nmin_trade_notional = -0.01\n", "risk.min_trade_notional = -0.01 → must be ≥ 0"),
    ("[execution]\norder_interval_ms = -100\n", "execution.order_interval_ms = -100 → must be ≥ 0"),
])
def test_nan_inf_float_for_int_and_negatives(tmp_path: Path, text: str, fragment: str) -> None:
    issues = load_text(tmp_path, text)
    assert len(issues) == 1
    assert issues[0].startswith("config.toml:2 " + fragment), issues[0]


def test_unknown_key_without_a_close_match_lists_valid_keys(tmp_path: Path) -> None:
    issues = load_text(tmp_path, "[kill]\nzzz = 1\n")
    assert issues == ["config.toml:2 kill.zzz = 1 → unknown key (fix: remove it; valid keys here: timeout_s)"]


def test_seed_tables_and_keys_are_mapped_to_their_new_names(tmp_path: Path) -> None:
    issues = load_text(tmp_path, "[connection]\nhost = 'x'\n\n[execution]\norder_timeout_secs = 5\n")
    assert issues == [
        "config.toml:1 [connection] → unknown table (fix: remove it; did you mean '[ibkr]'?)",
        "config.toml:5 execution.order_timeout_secs = 5 → unknown key (fix: remove it; did you mean "
        "'order_timeout_s'?)",
    ]


def test_top_level_unknown_key_and_non_table(tmp_path: Path) -> None:
    issues = load_text(tmp_path, 'risk = 5\nverbose = true\n')
    assert issues == [
        "config.toml:1 risk = 5 → must be a table (fix: write it as a [risk] table)",
        "config.toml:2 verbose = true → unknown key (fix: remove it; valid keys here: broker, execution, risk, "
        "cost, audit, kill, sim, ibkr, binance)",
    ]


def test_cross_field_issue_points_at_the_key_set_in_the_file(tmp_path: Path) -> None:
    issues = load_text(tmp_path, "[risk]\nmax_leverage = 1.5\n\nmin_trade_notional = 300000\n")
    assert issues == ["config.toml:4 risk.min_trade_notional = 300000 → min_trade_notional (300000) is above "
                      "max_trade_notional (250000): every order would be skipped or fail "
                      "(fix: lower min_trade_notional or raise max_trade_notional)"]


def test_dotted_keys_inline_tables_and_quoted_keys_are_located(tmp_path: Path) -> None:
    text = ('title = """\nmax_leverage = 99\n"""\n'  # a multi-line string that only looks like a key
            'risk.max_leverage = 0\n'
            'execution = { max_retries = 99 }\n'
            '[ibkr]\n"port" = 0 # quoted key\n')
    issues = load_text(tmp_path, text)
    assert issues == [
        'config.toml:1 title = """ … → unknown key (fix: remove it; valid keys here: broker, execution, risk, '
        "cost, audit, kill, sim, ibkr, binance)",
        "config.toml:4 risk.max_leverage = 0 → must be ≥ 1 (fix: use a value from 1 to 10, e.g. the default 1.0)",
        "config.toml:5 execution.max_retries = 99 → must be ≤ 10 (fix: use a value from 0 to 10, e.g. the "
        "default 3)",
        "config.toml:7 ibkr.port = 0 → must be ≥ 1 (fix: use a value from 1 to 65535, e.g. the default 7497)",
    ]


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    issues = load_text(tmp_path, "[risk]\nmax_leverage = 1.5\nallow_short = yes\n")
    assert issues == ["config.toml:3: invalid TOML: Invalid value (column 15)"]
    assert load_text(tmp_path, "[risk]\nmax_leverage = ") == [
        "config.toml:2: invalid TOML: Invalid value (at end of document)"]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"[risk]\nmax_leverage = 1.5 # \xff\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.issues == [f"{path}:2: not UTF-8 text (byte 0xff) (fix: save the file as UTF-8)"]


def test_absent_default_file_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = load_config(None)
    assert loaded.defaulted and loaded.path is None and loaded.sha256 is None
    assert loaded.config == NanobookConfig()
    assert loaded.notice == DEFAULTS_NOTICE


def test_absent_default_file_when_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(None, required=True)
    assert info.value.issues == ["config.toml: file not found in the working directory "
                                 "(fix: run `nanobook config init` or pass --config PATH)"]


def test_explicit_path_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert info.value.issues == [f"{missing}: file not found (fix: check the path)"]
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_valid_file_records_path_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = "[broker]\nkind = 'ibkr'\n\n[ibkr]\naccount = \"DU123\"\nport = 4002\n"
    path.write_text(text, encoding="utf-8")
    loaded = load_config(path)
    assert not loaded.defaulted and loaded.notice is None
    assert loaded.path == path and loaded.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert loaded.config.broker.kind == "ibkr" and loaded.config.ibkr.port == 4002
    assert loaded.config.risk == NanobookConfig().risk  # absent tables take defaults


def test_toml_floats_become_exact_decimals_and_floats(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[cost]\ncommission_per_share = 0.0035\n[risk]\nmax_position_pct = 0.1\n"
                    "min_trade_notional = 250\n", encoding="utf-8")
    cfg = load_config(path).config
    assert str(cfg.cost.commission_per_share) == "0.0035"
    assert cfg.risk.max_position_pct == 0.1
    assert cfg.risk.min_trade_notional == 250


def test_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf[risk]\nmax_leverage = 2\n")
    assert load_config(path).config.risk.max_leverage == 2.0


def test_toml_locations() -> None:
    found = toml_locations("a = 1 # c\n[t]\nb = \"x#y\"  # c\nc = [\n  1,\n]\n[[arr]]\nd = 2\n")
    assert found[("a",)] == (1, "1")
    assert found[("t",)] == (2, None)
    assert found[("t", "b")] == (3, '"x#y"')
    assert found[("t", "c")] == (4, None)
    assert found[("arr", "d")] == (8, "2")


def test_json_locations_and_duplicates() -> None:
    text = '{\n "a": [\n  {"x": 1, "y": "s"},\n  {"x": 2, "x": 3}\n ]\n}'
    found, dups = json_locations(text)
    assert found[()] == (1, None)
    assert found[("a",)] == (2, None)
    assert found[("a", 0, "y")] == (3, '"s"')
    assert found[("a", 1, "x")] == (4, "2")
    assert dups == [(("a", 1, "x"), 4)]
