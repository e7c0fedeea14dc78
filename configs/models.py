"""Frozen, strict pydantic models of config.toml (every table optional, safe paper defaults).

Fractions, not percents (0.25 = 25 %); money is Decimal. Secrets never live here: Binance keys come
from the environment only (`binance_credentials`). No file I/O and no imports from `engine`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePosixPath, PureWindowsPath
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from configs.errors import ConfigError
from configs.fields import Bool, Float, Int, Money, Str, value_error

__all__ = [
    "SECRET_ENV_VARS",
    "AuditSettings",
    "BinanceCredentials",
    "BinanceSettings",
    "BrokerSettings",
    "CostSettings",
    "ExecutionSettings",
    "IbkrSettings",
    "KillSettings",
    "NanobookConfig",
    "RiskSettings",
    "SimSettings",
    "binance_credentials",
    "redacted_secrets",
]

API_KEY_ENV = "NANOBOOK_BINANCE_API_KEY"
API_SECRET_ENV = "NANOBOOK_BINANCE_API_SECRET"
SECRET_ENV_VARS = (API_KEY_ENV, API_SECRET_ENV)
REDACTED = "**********"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, validate_default=True)


class BrokerSettings(_Strict):
    """Which venue nanobook talks to."""

    kind: Literal["sim", "ibkr", "binance"] = Field(
        default="sim", description='Venue for orders: "sim" (built-in simulated venue), "ibkr" (TWS / IB Gateway) '
        'or "binance" (spot).')


class ExecutionSettings(_Strict):
    """How orders are priced, paced and retried."""

    order_interval_ms: Int = Field(default=100, ge=0, le=60_000,
                                   description="Pause between two order submissions, in milliseconds.")
    limit_offset_bps: Int = Field(default=10, ge=0, le=1000,
                                  description="Limit price offset from the touch, in basis points (10 = 0.10 %).")
    order_timeout_s: Float = Field(default=30.0, gt=0, le=86_400,
                                   description="Seconds to wait for an order to fill before cancelling it.")
    max_orders_per_run: Int = Field(default=100, ge=1, le=10_000,
                                    description="Most orders one run may submit.")
    quote_max_age_s: Float = Field(default=60.0, gt=0, le=86_400,
                                   description="Oldest usable quote, in seconds since the venue's timestamp.")
    max_retries: Int = Field(default=3, ge=0, le=10,
                             description="Retries of a transient broker error (after looking the order up first).")
    cash_buffer_pct: Float = Field(default=0.01, ge=0, le=0.5,
                                   description="Fraction of equity kept in cash, never invested (0.01 = 1 %).")
    tolerance_bps: Int = Field(default=25, ge=0, le=10_000,
                               description="Drift band in basis points: skip a symbol whose |current - target "
                               "weight| is within it (0 = trade every difference).")
    plan_max_age_s: Float = Field(default=900.0, gt=0, le=604_800,
                                  description="Oldest saved plan `run --plan` will execute, in seconds.")
    max_reprice_bps: Int = Field(default=50, ge=0, le=1000,
                                 description="Refuse a saved plan once a price moved more than this, in basis points.")


class RiskSettings(_Strict):
    """Pre-trade risk limits; a target's constraints may only tighten them."""

    max_position_pct: Float = Field(default=0.25, gt=0, le=1,
                                    description="Largest |position| as a fraction of equity (0.25 = 25 %).")
    max_leverage: Float = Field(default=1.0, ge=1, le=10,
                                description="Gross exposure / equity ceiling (1.0 = no leverage).")
    max_short_pct: Float = Field(default=0.0, ge=0, le=1,
                                 description="Total short exposure as a fraction of equity (needs allow_short).")
    allow_short: Bool = Field(default=False, description="Allow orders that open or grow a short position.")
    min_trade_notional: Money = Field(default=Decimal("100"), ge=0,
                                      description="Skip orders smaller than this, in account currency.")
    max_trade_notional: Money = Field(default=Decimal("250000"), gt=0,
                                      description="Fail the run if one order exceeds this, in account currency.")
    max_order_value: Money = Field(default=Decimal("250000"), ge=0,
                                   description="Risk-engine cap on one order's value, in account currency "
                                   "(0 = disabled).")
    max_batch_value: Money = Field(default=Decimal("2000000"), ge=0,
                                   description="Risk-engine cap on a run's total order value, in account currency "
                                   "(0 = disabled).")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_trade_notional > self.max_trade_notional:
            raise value_error(
                f"min_trade_notional ({self.min_trade_notional}) is above max_trade_notional "
                f"({self.max_trade_notional}): every order would be skipped or fail",
                "lower min_trade_notional or raise max_trade_notional",
                keys=("min_trade_notional", "max_trade_notional"))
        if self.max_order_value and self.min_trade_notional > self.max_order_value:
            raise value_error(
                f"min_trade_notional ({self.min_trade_notional}) is above max_order_value "
                f"({self.max_order_value}): every order would be rejected",
                "lower min_trade_notional, raise max_order_value, or set it to 0 to disable the cap",
                keys=("min_trade_notional", "max_order_value"))
        return self


class CostSettings(_Strict):
    """Cost model used for estimates in plans (display and backtests)."""

    commission_per_share: Money = Field(default=Decimal("0.0035"), ge=0,
                                        description="Commission per share, in account currency.")
    commission_min: Money = Field(default=Decimal("0.35"), ge=0,
                                  description="Minimum commission per order, in account currency.")
    slippage_bps: Int = Field(default=5, ge=0, le=1000,
                              description="Assumed slippage, in basis points of notional.")


class AuditSettings(_Strict):
    """Where the append-only audit trail is written."""

    path: Str = Field(default="logs/audit.jsonl",
                      description="Audit JSONL file, relative to the working directory (must stay inside it).")

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        fix = 'use a relative path such as "logs/audit.jsonl"'
        if not value.strip():
            raise value_error("must not be empty", fix)
        if "\x00" in value:
            raise value_error("must not contain a NUL character", fix)
        if value.startswith("~"):
            raise value_error("must be relative to the working directory ('~' is not expanded)", fix)
        if PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute() or value.startswith(("/", "\\")):
            raise value_error("must be relative to the working directory, not absolute", fix)
        if ".." in PurePosixPath(value.replace("\\", "/")).parts:
            raise value_error("must not contain '..' (the audit log stays inside the working directory)", fix)
        if value.endswith(("/", "\\")):
            raise value_error("must name a file, not a directory", fix)
        return value


class KillSettings(_Strict):
    """The kill switch (`nanobook kill`)."""

    timeout_s: Float = Field(default=30.0, gt=0, le=3600,
                             description="Seconds to wait for a running `nanobook run` to stop gracefully.")


class SimSettings(_Strict):
    """The built-in simulated venue (state under .nanobook/ in the working directory)."""

    seed: Int = Field(default=7, ge=0, le=2**63 - 1,
                      description="Seed of the deterministic simulated liquidity.")
    initial_cash: Money = Field(default=Decimal("1000000"), gt=0,
                                description="Cash of a fresh simulated account, in account currency.")
    fill_latency_steps: Int = Field(default=0, ge=0, le=1000,
                                    description="Venue steps before a marketable order fills (0 = immediately).")


class IbkrSettings(_Strict):
    """Interactive Brokers TWS / IB Gateway connection (ib_async)."""

    host: Str = Field(default="127.0.0.1", description="TWS / IB Gateway host.")
    port: Int = Field(default=7497, ge=1, le=65535,
                      description="TWS / IB Gateway API port (7497 = TWS paper, 7496 = TWS live).")
    client_id: Int = Field(default=17, ge=0, le=2**31 - 1,
                           description="API client id; unique per program connected to the same TWS.")
    account: Str = Field(default="",
                         description='Account id such as "DU1234567" ("" = the only managed account).')
    timeout_s: Float = Field(default=10.0, gt=0, le=600, description="Connect and request timeout, in seconds.")
    readonly_for_plan: Bool = Field(default=True,
                                    description="Connect read-only for commands that never place orders.")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value.strip() or any(c.isspace() for c in value):
            raise value_error("must be a host name or IP address without spaces", 'use e.g. "127.0.0.1"')
        return value


class BinanceSettings(_Strict):
    """Binance spot REST API (python-binance). API keys come from the environment, never from this file."""

    base_url: Str = Field(default="http://127.0.0.1:8765",
                          description="REST base URL (default: the loopback simulated gateway).")
    quote_asset: Str = Field(default="USDT", description="Quote asset that holds the cash, e.g. USDT.")
    recv_window_ms: Int = Field(default=5000, ge=1, le=60_000,
                                description="Signed-request validity window, in milliseconds.")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        rest = value.removeprefix("http://").removeprefix("https://")
        if rest == value or not rest.strip("/") or any(c.isspace() for c in value):
            raise value_error("must be an http:// or https:// URL", 'use e.g. "https://api.binance.com"')
        return value

    @field_validator("quote_asset")
    @classmethod
    def _asset(cls, value: str) -> str:
        if not (2 <= len(value) <= 10 and value.isascii() and value.isalnum() and value == value.upper()):
            raise value_error("must be 2-10 upper-case letters or digits", 'use e.g. "USDT"')
        return value


class NanobookConfig(_Strict):
    """The whole config.toml; every table is optional and defaults to safe paper-trading values."""

    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    cost: CostSettings = Field(default_factory=CostSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    kill: KillSettings = Field(default_factory=KillSettings)
    sim: SimSettings = Field(default_factory=SimSettings)
    ibkr: IbkrSettings = Field(default_factory=IbkrSettings)
    binance: BinanceSettings = Field(default_factory=BinanceSettings)


class BinanceCredentials(_Strict):
    """Binance API key pair, held as SecretStr so it never shows up in logs, reprs or the audit trail."""

    api_key: SecretStr
    api_secret: SecretStr


def binance_credentials(environ: Mapping[str, str] | None = None) -> BinanceCredentials:
    """Read the Binance key pair from NANOBOOK_BINANCE_API_KEY / NANOBOOK_BINANCE_API_SECRET.

    Raises ConfigError (listing every missing variable) when either is unset or blank.
    """
    env = os.environ if environ is None else environ
    missing = [name for name in SECRET_ENV_VARS if not env.get(name, "").strip()]
    if missing:
        issues = [f"{name} is not set → Binance needs an API key pair (fix: export {name}=…; keys are never "
                  "read from config.toml)" for name in missing]
        names = " and ".join(missing)
        verb = "are" if len(missing) > 1 else "is"
        headline = (f"{names} {verb} not set → Binance needs an API key pair (fix: export "
                    f"{'=… '.join(missing)}=…; keys are never read from config.toml)")
        raise ConfigError(headline, issues)
    return BinanceCredentials(api_key=SecretStr(env[API_KEY_ENV].strip()),
                              api_secret=SecretStr(env[API_SECRET_ENV].strip()))


def redacted_secrets(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Each secret environment variable → "**********" when set, None when not (safe to print)."""
    env = os.environ if environ is None else environ
    return {name: REDACTED if env.get(name, "").strip() else None for name in SECRET_ENV_VARS}
