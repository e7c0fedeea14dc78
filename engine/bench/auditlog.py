"""Deterministic synthetic v1 audit logs for the `audit_1m` benchmark, written line by line at generator speed.

Every line has exactly the bytes `audit.writer.AuditWriter.append` would write for the same event: the envelope
keys, then the model's fields in declaration order, Decimals as plain text, timestamps as RFC3339 with
microseconds and `Z`, compact separators (a test round-trips lines through `audit.events.parse_event`). The lines
are formatted directly instead of going through pydantic, so a million of them take seconds, not minutes.

The log is a sequence of `nanobook run` sessions as `engine.rebalance.session` writes them (run_started, the
audited reads, diff_computed, risk_check, user_confirmed, per order intent → submitted → filled — with occasional
rejections, retries and timeout cancels — then run_completed), every fifteen minutes; some runs end risk-rejected
or with nothing to do. The last run is cut off mid-execution (a crash after writing an order intent), so the
log-only recovery decision has an order in flight. Same (lines, seed) → the same bytes.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

DEFAULT_SEED: Final = 20_240_601
START_US: Final = int(datetime(2026, 1, 5, 14, 30, tzinfo=UTC).timestamp()) * 1_000_000
RUN_EVERY_US: Final = 15 * 60 * 1_000_000
HEADER_LINES: Final = 10  # run_started … user_confirmed
MIN_TAIL_RUN: Final = HEADER_LINES + 1  # the cut-off last run: header + at least one order intent
MAX_TAIL_RUN: Final = 40
PORTFOLIO: Final = 12  # symbols in the target (the example target.json has 8)
MAX_ORDERS: Final = 10  # orders per run: 1..MAX_ORDERS

# A fixed universe (symbol, reference price in cents) so the log does not depend on any price table.
UNIVERSE: Final[tuple[tuple[str, int], ...]] = (
    ("AAPL", 18525), ("MSFT", 41050), ("AMZN", 17830), ("GOOGL", 15240), ("META", 48710), ("NVDA", 87560),
    ("TSLA", 19880), ("JPM", 19620), ("V", 27640), ("XOM", 11720), ("JNJ", 15830), ("PG", 16410),
    ("UNH", 52260), ("HD", 36240), ("MA", 46180), ("CVX", 15910), ("ABBV", 17020), ("KO", 6040),
    ("PEP", 16930), ("MRK", 12580), ("COST", 72650), ("AVGO", 131240), ("WMT", 6030), ("BAC", 3810),
    ("CSCO", 4860), ("ADBE", 57230), ("CRM", 28710), ("NFLX", 61950), ("AMD", 16780), ("INTC", 3110),
    ("ORCL", 12530), ("DIS", 11140), ("MCD", 29370), ("NKE", 9420), ("T", 1710), ("VZ", 4020),
    ("PFE", 2890), ("BRK.B", 40860), ("LLY", 77230), ("SPY", 51020),
)
_RISK_NAMES: Final = ("Max position", "Leverage", "Short selling", "Max trade size", "Min trade size",
                      "Order value", "Batch value", "Buying power", "Order count", "Weight allocation")


@dataclass(frozen=True, slots=True)
class AuditLogInfo:
    """What `write_audit_log` wrote: line and byte counts, complete runs, the SHA-256 of the file."""

    path: Path
    lines: int
    bytes: int
    runs: int
    sha256: str


def _cents(value: int) -> str:
    """Integer cents as the writer renders a two-place Decimal ("185.30")."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    return f"{sign}{value // 100}.{value % 100:02d}"


def _money(cents: int) -> str:
    """`$1,234.56` as the risk report prints it."""
    return f"${cents // 100:,}.{cents % 100:02d}"


class _Clock:
    """Microsecond clock rendering `%Y-%m-%dT%H:%M:%S.%fZ`, formatting each whole second only once."""

    def __init__(self, start_us: int) -> None:
        self.us = start_us
        self._second = -1
        self._text = ""

    def text(self) -> str:
        second, micro = divmod(self.us, 1_000_000)
        if second != self._second:
            self._second = second
            self._text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._text}.{micro:06d}Z"


class _Order:
    __slots__ = ("cid", "current", "limit", "mid", "qty", "side", "symbol", "target")

    def __init__(self, cid: str, symbol: str, side: str, qty: int, limit: int, mid: int, current: int,
                 target: int) -> None:
        self.cid, self.symbol, self.side, self.qty = cid, symbol, side, qty
        self.limit, self.mid, self.current, self.target = limit, mid, current, target


class _Builder:
    """Writes runs as lines; holds the account (cash in cents, positions) and prices between runs."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = _Clock(START_US)
        self.seq = 0
        self.run_id = ""
        self.run_no = 0
        self.venue_ids = 0
        self.prices = dict(UNIVERSE)
        rng = self.rng
        self.portfolio = sorted(rng.sample([s for s, _ in UNIVERSE], PORTFOLIO))
        self.positions = {s: rng.randint(5, 400) for s in self.portfolio if rng.random() < 0.8}
        # Average costs in 1/100 cent (four decimal places, as fills at different prices average out).
        self.avg_cost = {s: self.prices[s] * 100 + rng.randint(-900, 900) for s in self.positions}
        self.cash = 25_000_000  # cents
        self.target_sha = hashlib.sha256(f"target-{seed}".encode()).hexdigest()
        self.config_sha = hashlib.sha256(f"config-{seed}".encode()).hexdigest()

    # ---------------------------------------------------------------- envelope

    def _line(self, event: str, body: str, step_us: int = 1_500) -> str:
        self.seq += 1
        self.clock.us += step_us + self.rng.randint(0, step_us)
        tail = f",{body}" if body else ""
        return (f'{{"schema_version":"1","run_id":"{self.run_id}","seq":{self.seq},"ts":"{self.clock.text()}",'
                f'"event":"{event}"{tail}}}')

    # ---------------------------------------------------------------- runs

    def plan_run(self) -> tuple[str, list[str]]:
        """Decide the next run's shape: its status and the outcome of each order (in execution order)."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            return "risk_rejected", []
        if roll < 0.10:
            return "no_changes", []
        outcomes = []
        for _ in range(rng.randint(1, MAX_ORDERS)):
            r = rng.random()
            outcomes.append("filled" if r < 0.86 else "retried" if r < 0.89 else "rejected" if r < 0.93
                            else "cancelled")
        return ("ok" if all(o in ("filled", "retried") for o in outcomes) else "partial"), outcomes

    @staticmethod
    def run_size(status: str, outcomes: list[str]) -> int:
        """Lines a complete run of this shape writes."""
        if status in ("risk_rejected", "no_changes"):
            return HEADER_LINES  # header without user_confirmed, plus run_completed
        per = {"filled": 3, "retried": 4, "rejected": 2, "cancelled": 5, "intent": 1, "acknowledged": 2}
        return HEADER_LINES + sum(per[o] for o in outcomes) + 1

    def run(self, status: str, outcomes: list[str], planned_extra: int = 0) -> list[str]:
        """All lines of one run; `status` "crashed" stops after the last outcome (no run_completed)."""
        rng = self.rng
        self.run_no += 1
        self.clock.us = START_US + self.run_no * RUN_EVERY_US + rng.randint(0, 20_000_000)
        stamp = datetime.fromtimestamp(self.clock.us // 1_000_000, UTC).strftime("%Y%m%dT%H%M%SZ")
        self.run_id = f"{stamp}-{rng.getrandbits(32):08x}"
        for symbol in self.prices:  # the market moved since the last run (≈ ±0.3 %)
            self.prices[symbol] = max(100, self.prices[symbol] + round(self.prices[symbol] * rng.uniform(-3, 3)
                                                                        / 1000))
        lines = [self._line("run_started", f'"command":"run","target_path":"target.json","target_sha256":'
                                           f'"{self.target_sha}","config_sha256":"{self.config_sha}",'
                                           f'"broker":"sim","account_id":"","dry_run":false', 300)]
        equity = self.cash + sum(self.prices[s] * q for s, q in self.positions.items())
        lines.append(self._line("account_summary_intent", ""))
        lines.append(self._line("account_summary_result",
                                f'"cash":"{_cents(self.cash)}","equity":"{_cents(equity)}",'
                                f'"buying_power":"{_cents(self.cash)}","currency":"USD"', 4_000))
        lines.append(self._line("positions_intent", ""))
        held = ",".join(f'{{"symbol":"{s}","quantity":"{q}","avg_cost":"{self.avg_cost[s] // 10_000}.'
                        f'{self.avg_cost[s] % 10_000:04d}"}}' for s, q in sorted(self.positions.items()))
        lines.append(self._line("positions_result", f'"positions":[{held}]', 4_000))
        universe = ",".join(f'"{s}"' for s in self.portfolio)  # target ∪ held, sorted (positions ⊆ portfolio)
        lines.append(self._line("quotes_intent", f'"symbols":[{universe}]'))
        quote_ts = self.clock.text()
        quotes = []
        for s in self.portfolio:
            mid = self.prices[s]
            half = max(1, mid // 4000)
            quotes.append(f'{{"symbol":"{s}","bid":"{_cents(mid - half)}","ask":"{_cents(mid + half)}",'
                          f'"last":"{_cents(mid)}","ts":"{quote_ts}","live":true}}')
        lines.append(self._line("quotes_result", f'"quotes":[{",".join(quotes)}]', 6_000))

        n_orders = len(outcomes) + planned_extra
        orders = self._orders(n_orders, equity)
        diff = ",".join(self._diff_order(o, equity) for o in orders)
        traded = {o.symbol for o in orders}
        skipped = ",".join(f'{{"symbol":"{s}","reason":"within_tolerance"}}' for s in self.portfolio
                           if s not in traded)
        lines.append(self._line("diff_computed", f'"orders":[{diff}],"skipped":[{skipped}]', 800))
        passed = status != "risk_rejected"
        lines.append(self._line("risk_check", f'"passed":{"true" if passed else "false"},'
                                              f'"checks":[{self._checks(orders, equity, passed)}]'))
        if status in ("risk_rejected", "no_changes"):
            lines.append(self._line("run_completed", f'"status":"{status}","submitted":0,"filled":0,"failed":0'))
            return lines
        lines.append(self._line("user_confirmed", f'"approved":true,"plan_sha256":'
                                                  f'"{rng.getrandbits(256):064x}","method":"flag"'))
        submitted = filled = failed = 0
        for order, outcome in zip(orders, outcomes, strict=False):
            lines += self._execute(order, outcome)
            if outcome in ("filled", "retried", "cancelled"):
                submitted += 1
                filled += outcome != "cancelled"
            elif outcome == "rejected":
                failed += 1
        if status != "crashed":
            lines.append(self._line("run_completed", f'"status":"{status}","submitted":{submitted},'
                                                     f'"filled":{filled},"failed":{failed}', 500))
        return lines

    def _orders(self, n: int, equity: int) -> list[_Order]:
        rng = self.rng
        out = []
        for symbol in sorted(rng.sample(self.portfolio, min(n, len(self.portfolio)))):
            mid = self.prices[symbol]
            current = self.positions.get(symbol, 0)
            if current and rng.random() < 0.4:
                side, qty = "sell", rng.randint(1, current)
                target = current - qty
                limit = mid - max(1, mid // 1000)
            else:
                side, qty = "buy", rng.randint(1, max(1, min(120, self.cash // (mid * 16))))
                target = current + qty
                limit = mid + max(1, mid // 1000)
            cid = "nb" + hashlib.sha256(f"{self.run_id}|{symbol}|{side}|{qty}".encode()).hexdigest()[:30]
            out.append(_Order(cid, symbol, side, qty, limit, mid, current, target))
        out.sort(key=lambda o: o.side != "sell")  # sells first, as the planner orders them
        return out

    def _diff_order(self, o: _Order, equity: int) -> str:
        notional = o.qty * o.mid
        current_w = f"{o.current * o.mid / equity:.4f}" if o.current else "0"
        target_w = f"{o.target * o.mid / equity:.4f}"
        action = "BUY" if o.side == "buy" else "SELL"
        reason = "open" if o.current == 0 else ("increase" if o.side == "buy" else "decrease")
        return (f'{{"client_order_id":"{o.cid}","symbol":"{o.symbol}","side":"{o.side}","quantity":"{o.qty}",'
                f'"limit_price":"{_cents(o.limit)}","action":"{action}","reason":"{reason}",'
                f'"reference_price":"{_cents(o.mid)}","notional":"{_cents(notional)}",'
                f'"current_quantity":"{o.current}","target_quantity":"{o.target}","current_weight":"{current_w}",'
                f'"target_weight":"{target_w}","leg":"single"}}')

    @staticmethod
    def _checks(orders: list[_Order], equity: int, passed: bool) -> str:
        notionals = [o.qty * o.mid for o in orders] or [0]
        batch = sum(notionals)
        rows = []
        for name in _RISK_NAMES:
            status = "PASS"
            if name == "Max trade size":
                detail, limit, value = (f"largest order {_money(max(notionals))} <= $250,000.00 max trade",
                                        "$250,000.00", _money(max(notionals)))
            elif name == "Batch value":
                detail, limit, value = (f"{_money(batch)} <= $2,000,000.00 batch value", "$2,000,000.00",
                                        _money(batch))
            elif name == "Order count":
                detail, limit, value = f"{len(orders)} orders", "n/a", str(len(orders))
            elif name == "Max position" and not passed:
                status = "FAIL"
                detail, limit, value = "27.31% (NVDA) > 25.00% limit", "25.00%", "27.31%"
            else:
                detail, limit, value = f"{name.lower()} within limit (equity {_money(equity)})", "n/a", "ok"
            rows.append(f'{{"name":"{name}","status":"{status}","detail":"{detail}","limit":"{limit}",'
                        f'"value":"{value}"}}')
        return ",".join(rows)

    def _execute(self, o: _Order, outcome: str) -> list[str]:
        rng = self.rng
        ids = f'"client_order_id":"{o.cid}","symbol":"{o.symbol}"'
        intent = (f'{ids},"side":"{o.side}","quantity":"{o.qty}","limit_price":"{_cents(o.limit)}"')
        lines = [self._line("order_intent", f'{intent},"attempt":1', 100_000)]
        if outcome == "intent":
            return lines
        if outcome == "rejected":
            lines.append(self._line("order_failed", f'{ids},"error_type":"rejected","error_message":'
                                                    f'"insufficient cash for {o.qty} {o.symbol}","retryable":false',
                                    20_000))
            return lines
        if outcome == "retried":
            lines.append(self._line("order_intent", f'{intent},"attempt":2', 250_000))
        self.venue_ids += 1
        venue = f"SIM-{self.venue_ids:06d}"
        resting = outcome in ("cancelled", "acknowledged") or rng.random() < 0.15
        lines.append(self._line("order_submitted", f'{ids},"order_id":"{venue}","state":'
                                                   f'"{"submitted" if resting else "filled"}"', 20_000))
        if outcome == "acknowledged":
            return lines
        fill_qty = o.qty
        if outcome == "cancelled":
            fill_qty = rng.randint(0, o.qty - 1)
            lines.append(self._line("cancel_intent", f'{ids},"order_id":"{venue}","reason":"timeout"', 30_000_000))
            lines.append(self._line("cancel_result", f'{ids},"order_id":"{venue}","success":true,'
                                                     f'"state":"cancelled","error_message":null', 200_000))
        avg = f'"{_cents(o.mid)}"' if fill_qty else "null"
        state = "filled" if outcome != "cancelled" else "cancelled"
        lines.append(self._line("order_filled", f'{ids},"order_id":"{venue}","state":"{state}",'
                                                f'"filled_quantity":"{fill_qty}","avg_fill_price":{avg}', 50_000))
        self._book(o, fill_qty)
        return lines

    def _book(self, o: _Order, qty: int) -> None:
        if not qty:
            return
        held = self.positions.get(o.symbol, 0)
        if o.side == "buy":
            self.cash -= qty * o.mid
            self.avg_cost[o.symbol] = ((self.avg_cost.get(o.symbol, 0) * held + o.mid * 100 * qty)
                                       // (held + qty))
            self.positions[o.symbol] = held + qty
        else:
            self.cash += qty * o.mid
            if held - qty:
                self.positions[o.symbol] = held - qty
            else:
                del self.positions[o.symbol]
                del self.avg_cost[o.symbol]

    def tail_run(self, lines: int) -> list[str]:
        """The cut-off last run: exactly `lines` lines, ending in an order in flight (intent, or acknowledged)."""
        if lines < MIN_TAIL_RUN:
            return self.run("crashed", ["intent"])[:lines]
        budget = lines - HEADER_LINES  # ≥ 1: complete orders (2–5 lines each) plus the in-flight one (1 or 2)
        last = "acknowledged" if budget == 2 else "intent"
        budget -= 2 if last == "acknowledged" else 1
        outcomes: list[str] = []
        while budget:  # never 1 here: 3-line fills, and 2-line rejections for what a fill cannot cover
            take = "rejected" if budget in (2, 4) else "filled"
            outcomes.append(take)
            budget -= 2 if take == "rejected" else 3
        outcomes.append(last)
        return self.run("crashed", outcomes, planned_extra=self.rng.randint(0, 3))


def audit_log_lines(n_lines: int, seed: int = DEFAULT_SEED) -> Iterator[list[str]]:
    """Chunks (one run each) of exactly `n_lines` lines in total, without newlines."""
    builder = _Builder(seed)
    remaining = n_lines
    while remaining > 0:
        status, outcomes = builder.plan_run()
        size = builder.run_size(status, outcomes)
        if remaining - size >= MIN_TAIL_RUN:
            chunk = builder.run(status, outcomes)
        elif remaining > MAX_TAIL_RUN:
            chunk = builder.run("no_changes", [])  # 10 lines: brings the rest down to a short last run
        else:
            chunk = builder.tail_run(remaining)
        remaining -= len(chunk)
        yield chunk


def write_audit_log(path: Path, n_lines: int, seed: int = DEFAULT_SEED) -> AuditLogInfo:
    """Write the synthetic log to `path` (newline-terminated lines) and describe it."""
    digest = hashlib.sha256()
    size = runs = count = 0
    with path.open("wb") as fh:
        for chunk in audit_log_lines(n_lines, seed):
            data = ("\n".join(chunk) + "\n").encode()
            fh.write(data)
            digest.update(data)
            size += len(data)
            count += len(chunk)
            runs += 1
    return AuditLogInfo(path, count, size, runs, digest.hexdigest())
