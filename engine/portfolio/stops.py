"""Stop rules of the weight-schedule backtests (engine-spec §6.3–6.4): `stop_cfg` parsing, trackers, trigger levels.

Pure decision logic shared by the cents reference mode and the float mode; it never trades or values anything —
callers close the positions it reports, at the bar price.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

from engine.errors import BacktestError

__all__ = [
    "STOP_KEYS",
    "StopBook",
    "StopConfig",
    "StopHit",
    "StopTracker",
    "cents_level",
    "parse_stop_cfg",
]

STOP_KEYS = ("fixed_stop_pct", "trailing_stop_pct", "atr_multiple", "atr_period")
# Candidate order matters for tie-breaking (longs report the last tied candidate, shorts the first).
REASONS = ("fixed", "trailing", "atr")

Quantize = Callable[[float], float]


def cents_level(x: float) -> float:
    """Reference rounding of a level to cents: half away from zero, floored at 1 cent (returned as an exact float)."""
    return float(max(1, math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)))


@dataclass(frozen=True, slots=True)
class StopConfig:
    """Validated stops; a value of 0.0 means that rule is off. `history` caps the |Δp| list (6·atr_period)."""

    fixed_stop_pct: float = 0.0
    trailing_stop_pct: float = 0.0
    atr_multiple: float = 0.0
    atr_period: int = 14

    @property
    def active(self) -> bool:
        return self.fixed_stop_pct > 0.0 or self.trailing_stop_pct > 0.0 or self.atr_multiple > 0.0

    @property
    def history(self) -> int:
        return 6 * self.atr_period


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise BacktestError(f"stop_cfg[{key!r}] must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise BacktestError(f"stop_cfg[{key!r}] must be finite, got {value!r}")
    return number


def _pct(key: str, value: Any) -> float:
    pct = _number(key, value)
    if not 0.0 <= pct < 1.0:
        raise BacktestError(f"stop_cfg[{key!r}] must be in [0, 1) (0 = off), got {value!r}")
    return pct


def _period(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise BacktestError(f"stop_cfg['atr_period'] must be an integer >= 1, got {value!r}")
    if int(value) < 1:
        raise BacktestError(f"stop_cfg['atr_period'] must be >= 1, got {value!r}")
    return int(value)


def parse_stop_cfg(stop_cfg: Mapping[str, Any] | None) -> StopConfig | None:
    """Validate a `stop_cfg` mapping; None when absent or when every rule is off.

    Stricter than the reference on purpose: unknown keys (typos) and non-numbers are errors; a key set to None or a
    pct of 0.0 means "off" (the reference silently ignores 0.0 too).
    """
    if stop_cfg is None:
        return None
    if not isinstance(stop_cfg, Mapping):
        raise BacktestError(f"stop_cfg must be a mapping of {', '.join(STOP_KEYS)}, got {type(stop_cfg).__name__}")
    unknown = sorted(str(k) for k in stop_cfg if k not in STOP_KEYS)
    if unknown:
        raise BacktestError(f"stop_cfg has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(STOP_KEYS)}")
    cfg = {k: v for k, v in stop_cfg.items() if v is not None}
    multiple = _number("atr_multiple", cfg["atr_multiple"]) if "atr_multiple" in cfg else 0.0
    if "atr_multiple" in cfg and multiple <= 0.0:
        raise BacktestError(f"stop_cfg['atr_multiple'] must be > 0, got {cfg['atr_multiple']!r}")
    parsed = StopConfig(
        fixed_stop_pct=_pct("fixed_stop_pct", cfg["fixed_stop_pct"]) if "fixed_stop_pct" in cfg else 0.0,
        trailing_stop_pct=_pct("trailing_stop_pct", cfg["trailing_stop_pct"]) if "trailing_stop_pct" in cfg else 0.0,
        atr_multiple=multiple,
        atr_period=_period(cfg["atr_period"]) if "atr_period" in cfg else 14,
    )
    return parsed if parsed.active else None


@dataclass(slots=True)
class StopTracker:
    """Per-symbol stop state while a position is open; created at the first bar it is seen on (or after a flip)."""

    side: int
    entry: float
    reference: float
    last: float
    changes: deque[float] = field(default_factory=deque)

    @classmethod
    def open(cls, side: int, price: float, cfg: StopConfig) -> StopTracker:
        return cls(side, price, price, price, deque(maxlen=cfg.history))

    def observe(self, price: float) -> None:
        """A later bar: record |Δp| and ratchet the reference (the high for longs, the low for shorts)."""
        self.changes.append(abs(price - self.last))
        self.last = price
        self.reference = max(self.reference, price) if self.side > 0 else min(self.reference, price)

    def candidates(self, cfg: StopConfig) -> list[tuple[str, float]]:
        """Raw (unrounded) levels of the enabled rules, in tie-break order."""
        sign = -float(self.side)
        out: list[tuple[str, float]] = []
        if cfg.fixed_stop_pct > 0.0:
            out.append(("fixed", self.entry * (1.0 + sign * cfg.fixed_stop_pct)))
        if cfg.trailing_stop_pct > 0.0:
            out.append(("trailing", self.reference * (1.0 + sign * cfg.trailing_stop_pct)))
        if cfg.atr_multiple > 0.0 and self.changes:
            k = min(cfg.atr_period, len(self.changes))
            recent = list(self.changes)[-k:]
            out.append(("atr", self.reference + sign * cfg.atr_multiple * (math.fsum(recent) / k)))
        return out

    def level(self, cfg: StopConfig, quantize: Quantize | None = None) -> tuple[str, float] | None:
        """The effective level: the highest candidate for longs (last tie wins), the lowest for shorts (first)."""
        best: tuple[str, float] | None = None
        for reason, raw in self.candidates(cfg):
            lvl = quantize(raw) if quantize is not None else raw
            if best is None or (lvl >= best[1] if self.side > 0 else lvl < best[1]):
                best = (reason, lvl)
        return best

    def breached(self, price: float, level: float) -> bool:
        """Equality triggers: longs at p <= level, shorts at p >= level."""
        return price <= level if self.side > 0 else price >= level


@dataclass(frozen=True, slots=True)
class StopHit:
    """One triggered stop: close `symbol` at `exit_price` (the bar price, not the level)."""

    symbol: str
    trigger_price: float
    exit_price: float
    reason: str


class StopBook:
    """Trackers keyed by symbol; call `step` once per period, after the rebalance, with the open positions' sides."""

    __slots__ = ("_trackers", "cfg", "quantize")

    def __init__(self, cfg: StopConfig, quantize: Quantize | None = None) -> None:
        self.cfg = cfg
        self.quantize = quantize
        self._trackers: dict[str, StopTracker] = {}

    def step(self, open_sides: Iterable[tuple[str, int]], prices: Mapping[str, float]) -> list[StopHit]:
        """Update trackers for open (symbol, side) pairs at this bar's prices and return the breaches, in input order.

        Trackers of symbols not listed (closed) or without a finite positive price are dropped; a triggered
        tracker is dropped too, so a re-opened position starts fresh on a later bar.
        """
        previous, self._trackers = self._trackers, {}
        hits: list[StopHit] = []
        for symbol, side in open_sides:
            price = prices.get(symbol)
            if price is None or not price > 0.0 or not math.isfinite(price):
                continue
            tracker = previous.get(symbol)
            if tracker is None or tracker.side != side:
                tracker = StopTracker.open(side, price, self.cfg)
            else:
                tracker.observe(price)
            found = tracker.level(self.cfg, self.quantize)
            if found is not None and tracker.breached(price, found[1]):
                hits.append(StopHit(symbol, found[1], price, found[0]))
            else:
                self._trackers[symbol] = tracker
        return hits
