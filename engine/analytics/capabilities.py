"""`capabilities()`: the feature names the reference advertises (spec §6.6), for callers that probe support.

A static list; it never imports the features it names.
"""

from __future__ import annotations

__all__ = ["CAPABILITIES", "capabilities"]

# Exactly the reference's eight; HRP exists (optimize_hrp) but, as in the reference, is not advertised.
CAPABILITIES: tuple[str, ...] = (
    "backtest_stops",
    "garch_ewma_forecast",
    "optimize_min_variance",
    "optimize_max_sharpe",
    "optimize_risk_parity",
    "inverse_cvar_weights",
    "inverse_cdar_weights",
    "backtest_holdings",
)


def capabilities() -> list[str]:
    """A fresh list of the advertised capability names, in the reference's order."""
    return list(CAPABILITIES)
