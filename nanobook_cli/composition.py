"""Composition root: the only place that picks a broker implementation and the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from configs.models import NanobookConfig
    from engine.brokers.base import Broker


def system_clock() -> datetime:
    """Wall-clock time in UTC (the engine itself never reads the clock)."""
    return datetime.now(UTC)


def make_broker(config: NanobookConfig, *, readonly: bool = False, root: Path | None = None) -> Broker:
    """Build the configured broker adapter. `readonly` is passed to adapters that support it."""
    from engine.errors import BrokerUnavailable

    kind = config.broker.kind
    if kind == "sim":
        from engine.brokers.sim import SimBroker

        return SimBroker(root or Path.cwd(), clock=system_clock, initial_cash=config.sim.initial_cash,
                         seed=config.sim.seed)
    if kind == "binance":
        try:
            from engine.brokers.binance.adapter import BinanceBroker
        except ImportError as exc:
            raise BrokerUnavailable("broker kind \"binance\" needs python-binance: "
                                    "pip install 'nanobook-cli[binance]'") from exc
        return BinanceBroker.from_settings(config.binance)
    if kind == "ibkr":
        try:
            from engine.brokers.ibkr.adapter import IbkrBroker
        except ImportError as exc:
            raise BrokerUnavailable("broker kind \"ibkr\" needs ib_async: pip install 'nanobook-cli[ibkr]'") from exc
        _quiet_sdk_logger("ib_async")
        return IbkrBroker.from_settings(config.ibkr, readonly=readonly and config.ibkr.readonly_for_plan)
    raise BrokerUnavailable(f"broker kind {kind!r} is not available in this build yet (use kind = \"sim\")")


def _quiet_sdk_logger(name: str) -> None:
    """Keep an SDK's own log lines (ib_async logs every normal cancel as ERROR) off stderr.

    The adapter turns what matters into our errors and audit events; stderr stays one clear line per problem.
    """
    import logging

    logger = logging.getLogger(name)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    logger.propagate = False
