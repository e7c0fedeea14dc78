"""configs.models: defaults, strict scalar types (no coercion, no NaN/inf), ranges, cross-field rules, secrets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from configs.errors import ConfigError, InputError
from configs.models import (
    AuditSettings,
    BinanceSettings,
    ExecutionSettings,
    IbkrSettings,
    NanobookConfig,
    RiskSettings,
    binance_credentials,
    redacted_secrets,
)


def errors_of(model: Any, **values: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        model(**values)
    return info.value.errors()  # type: ignore[no-any-return]


def test_defaults_are_safe_paper_values() -> None:
    cfg = NanobookConfig()
    assert cfg.broker.kind == "sim"
    assert cfg.risk.max_position_pct == 0.25 and cfg.risk.max_leverage == 1.0
    assert cfg.risk.allow_short is False and cfg.risk.max_short_pct == 0.0
    assert cfg.risk.min_trade_notional == Decimal("100") and cfg.risk.max_trade_notional == Decimal("250000")
    assert cfg.risk.max_order_value == Decimal("250000") and cfg.risk.max_batch_value == Decimal("2000000")
    assert cfg.execution.limit_offset_bps == 10 and cfg.execution.cash_buffer_pct == 0.01
    assert cfg.execution.tolerance_bps == 25 and cfg.execution.plan_max_age_s == 900.0
    assert cfg.cost.commission_per_share == Decimal("0.0035") and cfg.cost.commission_min == Decimal("0.35")
    assert cfg.audit.path == "logs/audit.jsonl"
    assert cfg.sim.initial_cash == Decimal("1000000") and cfg.sim.seed == 7
    assert cfg.ibkr.port == 7497 and cfg.ibkr.readonly_for_plan is True
    assert cfg.binance.recv_window_ms == 5000
    assert isinstance(cfg.execution.order_timeout_s, float)


def test_models_are_frozen_and_forbid_unknown_keys() -> None:
    cfg = NanobookConfig()
    with pytest.raises(ValidationError):
        cfg.risk.max_leverage = 2.0  # type: ignore[misc]
    errs = errors_of(RiskSettings, max_leverag=2)
    assert errs[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), Decimal("NaN"), Decimal("Infinity")])
def test_non_finite_numbers_are_rejected_everywhere(value: Any) -> None:
    assert "finite" in errors_of(RiskSettings, max_leverage=value)[0]["msg"]
    assert "finite" in errors_of(RiskSettings, min_trade_notional=value)[0]["msg"]
    assert "finite" in errors_of(ExecutionSettings, order_interval_ms=value)[0]["msg"]


def test_float_for_int_key_is_rejected_with_a_fix() -> None:
    err = errors_of(ExecutionSettings, order_interval_ms=100.0)[0]
    assert err["msg"] == "must be an integer, not a float"
    assert err["ctx"]["fix"] == "write 100 without a decimal point"
    assert errors_of(ExecutionSettings, max_retries=Decimal("2.5"))[0]["ctx"]["fix"] == "use a whole number"


def test_int_for_float_key_is_accepted() -> None:
    assert ExecutionSettings(order_timeout_s=5).order_timeout_s == 5.0
    assert isinstance(ExecutionSettings(order_timeout_s=5).order_timeout_s, float)


@pytest.mark.parametrize(("model", "key", "value", "fragment"), [
    (ExecutionSettings, "max_retries", "3", "not a string"),
    (ExecutionSettings, "max_retries", True, "not a boolean"),
    (RiskSettings, "allow_short", "true", "not a string"),
    (RiskSettings, "allow_short", 1, "true or false"),
    (RiskSettings, "min_trade_notional", "100", "not a string"),
    (RiskSettings, "max_leverage", False, "not a boolean"),
    (IbkrSettings, "host", 127, "must be a string"),
])
def test_no_silent_type_coercion(model: Any, key: str, value: Any, fragment: str) -> None:
    assert fragment in errors_of(model, **{key: value})[0]["msg"]


@pytest.mark.parametrize(("model", "key", "value"), [
    (ExecutionSettings, "order_interval_ms", -1),
    (ExecutionSettings, "limit_offset_bps", 1001),
    (ExecutionSettings, "order_timeout_s", 0),
    (ExecutionSettings, "max_orders_per_run", 0),
    (ExecutionSettings, "max_retries", 11),
    (ExecutionSettings, "cash_buffer_pct", 0.6),
    (ExecutionSettings, "tolerance_bps", -5),
    (RiskSettings, "max_position_pct", 0),
    (RiskSettings, "max_position_pct", 1.01),
    (RiskSettings, "max_leverage", 0.5),
    (RiskSettings, "max_leverage", 11),
    (RiskSettings, "max_short_pct", -0.1),
    (RiskSettings, "min_trade_notional", -1),
    (RiskSettings, "max_trade_notional", 0),
    (RiskSettings, "max_batch_value", -1),
    (IbkrSettings, "port", 0),
    (IbkrSettings, "port", 65536),
    (BinanceSettings, "recv_window_ms", 60_001),
])
def test_out_of_range_values_are_rejected(model: Any, key: str, value: Any) -> None:
    errs = errors_of(model, **{key: value})
    assert errs[0]["loc"] == (key,)
    assert errs[0]["type"] in {"greater_than", "greater_than_equal", "less_than_equal"}


def test_zero_disables_the_order_and_batch_caps() -> None:
    risk = RiskSettings(max_order_value=0, max_batch_value=0)
    assert risk.max_order_value == 0 and risk.max_batch_value == 0


def test_money_from_float_is_exact() -> None:
    assert RiskSettings(min_trade_notional=0.1).min_trade_notional == Decimal("0.1")


def test_min_trade_notional_must_not_exceed_max() -> None:
    err = errors_of(RiskSettings, min_trade_notional=300_000)[0]
    assert "above max_trade_notional" in err["msg"]
    assert err["ctx"]["keys"] == ("min_trade_notional", "max_trade_notional")
    assert "above max_order_value" in errors_of(RiskSettings, min_trade_notional=5000, max_order_value=1000)[0]["msg"]
    RiskSettings(min_trade_notional=5000, max_order_value=0)  # disabled cap: no conflict


def test_short_caps_without_allow_short_is_allowed() -> None:
    risk = RiskSettings(allow_short=False, max_short_pct=0.3)
    assert risk.max_short_pct == 0.3


@pytest.mark.parametrize(("path", "fragment"), [
    ("/var/log/audit.jsonl", "not absolute"),
    ("../audit.jsonl", "'..'"),
    ("logs/../../x.jsonl", "'..'"),
    ("~/audit.jsonl", "'~'"),
    ("", "empty"),
    ("logs/", "not a directory"),
    ("C:\\logs\\a.jsonl", "not absolute"),
])
def test_audit_path_must_stay_relative(path: str, fragment: str) -> None:
    assert fragment in errors_of(AuditSettings, path=path)[0]["msg"]


def test_audit_path_relative_forms_are_fine() -> None:
    assert AuditSettings(path="./logs/a.jsonl").path == "./logs/a.jsonl"
    assert AuditSettings(path="audit.jsonl").path == "audit.jsonl"


def test_broker_kind_is_a_closed_set() -> None:
    with pytest.raises(ValidationError):
        NanobookConfig.model_validate({"broker": {"kind": "paper"}})


@pytest.mark.parametrize(("key", "value"), [("base_url", "ftp://x"), ("base_url", "http://"),
                                             ("quote_asset", "usdt"), ("quote_asset", "U")])
def test_binance_settings_formats(key: str, value: str) -> None:
    errors_of(BinanceSettings, **{key: value})


def test_ibkr_host_must_not_be_blank() -> None:
    assert "host" in str(errors_of(IbkrSettings, host="  ")[0]["loc"])


def test_json_round_trip_of_a_dump() -> None:
    cfg = NanobookConfig.model_validate({"risk": {"min_trade_notional": Decimal("12.5")}})
    assert NanobookConfig.model_validate_json(cfg.model_dump_json()) == cfg


def test_binance_credentials_from_environment_only() -> None:
    creds = binance_credentials({"NANOBOOK_BINANCE_API_KEY": "k-123", "NANOBOOK_BINANCE_API_SECRET": "s-456"})
    assert isinstance(creds.api_key, SecretStr)
    assert creds.api_key.get_secret_value() == "k-123" and creds.api_secret.get_secret_value() == "s-456"
    assert "k-123" not in repr(creds) and "s-456" not in str(creds)


def test_missing_binance_credentials_list_every_variable() -> None:
    with pytest.raises(ConfigError) as info:
        binance_credentials({"NANOBOOK_BINANCE_API_SECRET": "  "})
    assert isinstance(info.value, InputError)
    assert len(info.value.issues) == 2
    assert info.value.issues[0].startswith("NANOBOOK_BINANCE_API_KEY is not set")
    headline = str(info.value)
    assert "NANOBOOK_BINANCE_API_KEY and NANOBOOK_BINANCE_API_SECRET are not set" in headline, headline
    assert "export NANOBOOK_BINANCE_API_KEY=… NANOBOOK_BINANCE_API_SECRET=…" in headline, headline


def test_redacted_secrets() -> None:
    shown = redacted_secrets({"NANOBOOK_BINANCE_API_KEY": "top-secret"})
    assert shown == {"NANOBOOK_BINANCE_API_KEY": "**********", "NANOBOOK_BINANCE_API_SECRET": None}
