"""engine.analytics.capabilities: exactly the eight names of spec §6.6, all advertised by the reference too."""

from __future__ import annotations

import nanobook

from engine.analytics.capabilities import capabilities

SPEC = {
    "backtest_stops",
    "garch_ewma_forecast",
    "optimize_min_variance",
    "optimize_max_sharpe",
    "optimize_risk_parity",
    "inverse_cvar_weights",
    "inverse_cdar_weights",
    "backtest_holdings",
}


def test_exactly_the_spec_names() -> None:
    caps = capabilities()
    assert set(caps) == SPEC and len(caps) == 8
    assert "optimize_hrp" not in caps  # exists but is not advertised, as in the reference
    assert set(nanobook.py_capabilities()) >= SPEC


def test_returns_a_fresh_list() -> None:
    caps = capabilities()
    caps.clear()
    assert len(capabilities()) == 8
