"""Analytics library (spec §8): GARCH-style forecast, optimizers, indicators, statistics, validation, capabilities.

Exports resolve lazily so `import engine.analytics` stays cheap; everything here is pure numpy, no I/O.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.analytics._inputs import AnalyticsInputError
    from engine.analytics.capabilities import capabilities
    from engine.analytics.garch import garch_ewma_forecast
    from engine.analytics.indicators import atr, bbands, bollinger, ema, macd, rsi, sma, wilder_atr
    from engine.analytics.optimizers import (
        inverse_cdar_weights,
        inverse_cvar_weights,
        optimize_hrp,
        optimize_max_sharpe,
        optimize_min_variance,
        optimize_risk_parity,
    )
    from engine.analytics.stats import deflated_sharpe, quintile_spread, spearman
    from engine.analytics.validation import realized_vol, time_series_split, walkforward

_EXPORTS: dict[str, str] = {
    "AnalyticsInputError": "_inputs",
    "capabilities": "capabilities",
    "garch_ewma_forecast": "garch",
    "atr": "indicators",
    "bbands": "indicators",
    "bollinger": "indicators",
    "ema": "indicators",
    "macd": "indicators",
    "rsi": "indicators",
    "sma": "indicators",
    "wilder_atr": "indicators",
    "inverse_cdar_weights": "optimizers",
    "inverse_cvar_weights": "optimizers",
    "optimize_hrp": "optimizers",
    "optimize_max_sharpe": "optimizers",
    "optimize_min_variance": "optimizers",
    "optimize_risk_parity": "optimizers",
    "deflated_sharpe": "stats",
    "quintile_spread": "stats",
    "spearman": "stats",
    "realized_vol": "validation",
    "time_series_split": "validation",
    "walkforward": "validation",
}

__all__ = [
    "AnalyticsInputError",
    "atr",
    "bbands",
    "bollinger",
    "capabilities",
    "deflated_sharpe",
    "ema",
    "garch_ewma_forecast",
    "inverse_cdar_weights",
    "inverse_cvar_weights",
    "macd",
    "optimize_hrp",
    "optimize_max_sharpe",
    "optimize_min_variance",
    "optimize_risk_parity",
    "quintile_spread",
    "realized_vol",
    "rsi",
    "sma",
    "spearman",
    "time_series_split",
    "walkforward",
    "wilder_atr",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine.analytics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"engine.analytics.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
