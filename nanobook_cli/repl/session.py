"""One REPL session: runs parsed commands against an `Exchange` and prints their results.

Every failure becomes a one-line `error: …` on stderr and the session goes on; nothing here raises to the shell
except KeyboardInterrupt.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.text import Text

from engine.lob import Exchange
from nanobook_cli.output.book import book_table
from nanobook_cli.repl import render
from nanobook_cli.repl.parse import (
    COMMANDS,
    Book,
    Cancel,
    Command,
    Depth,
    Help,
    Limit,
    Load,
    Market,
    Modify,
    Quit,
    Save,
    Stop,
    Trades,
    Trail,
    parse_line,
)

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

# Engine refusals and bad files are the operator's input errors, not bugs: report them and carry on.
_EXPECTED = (ValueError, OverflowError, TypeError, OSError)


class Session:
    """The book, the output consoles and the failure tally that decides the exit code."""

    def __init__(self, out: Console, err: Console) -> None:
        self.exchange = Exchange()
        self.out = out
        self.err = err
        self.failures = 0
        self.internal_errors = 0

    def execute(self, line: str) -> bool:
        """Run one input line and print its result; False when the operator asked to quit."""
        try:
            command = parse_line(line)
            if isinstance(command, Quit):
                return False
            if command is not None:
                self._emit(self._run(command))
        except _EXPECTED as exc:
            self.fail(str(exc) or type(exc).__name__)
        except Exception as exc:
            # A bug in one command must not throw away an interactive session's book.
            self.internal_errors += 1
            self.fail(f"internal error: {type(exc).__name__}: {exc} (please report this bug)")
        return True

    def _emit(self, items: Iterator[RenderableType]) -> None:
        stream = self.out.file
        try:
            for item in items:
                if isinstance(item, str):
                    stream.write(item + "\n")  # plain lines bypass rich: `trades` after a big load prints 100k+
                else:
                    self.out.print(item)
        finally:
            stream.flush()  # whoever drives a piped session sees each result as soon as it exists

    def fail(self, message: str) -> None:
        """Print `error: <message>` on stderr and count it."""
        self.failures += 1
        self.err.print(Text("error: ", style="bold red") + Text(message), soft_wrap=True)

    # -------------------------------------------------------------------------------- dispatch

    def _run(self, command: Command) -> Iterator[RenderableType]:
        match command:
            case Limit() | Market():
                yield self._submit(command)
            case Stop() | Trail():
                yield self._stop(command)
            case Cancel(order_id):
                yield self._cancel(order_id)
            case Modify():
                yield self._modify(command)
            case Book():
                yield from self._book(None)
            case Depth(levels):
                yield from self._book(levels)
            case Trades(last):
                yield from self._trades(last)
            case Save(path):
                yield self._save(os.path.expanduser(path))
            case Load(path):
                yield self._load(os.path.expanduser(path))
            case Help(topic):
                yield from render.help_lines(COMMANDS, topic)

    def _counters(self) -> tuple[int, int]:
        return len(self.exchange.trades()), self.exchange.pending_stop_count()

    def _cascade(self, before: tuple[int, int], own_trades: int, stops_added: int) -> str:
        """Suffix for what the stops fired by this command did (their trades are not the order's own)."""
        trades_now, stops_now = self._counters()
        fired = before[1] + stops_added - stops_now
        return render.cascade(fired, trades_now - before[0] - own_trades)

    def _submit(self, command: Limit | Market) -> str:
        ex, before = self.exchange, self._counters()
        if isinstance(command, Limit):
            res = ex.try_submit_limit(command.side, command.price, command.qty, command.tif)
            price, tif = command.price, command.tif
        else:
            res = ex.try_submit_market(command.side, command.qty)
            price, tif = None, "market"
        text = render.submission(res.order_id, price, tif, res.trades, res.filled_quantity,
                                 res.resting_quantity, res.cancelled_quantity)
        return text + self._cascade(before, len(res.trades), 0)

    def _stop(self, c: Stop | Trail) -> str:
        ex, before = self.exchange, self._counters()
        if isinstance(c, Stop):
            res = (ex.submit_stop_market(c.side, c.stop, c.qty) if c.limit is None
                   else ex.submit_stop_limit(c.side, c.stop, c.limit, c.qty))
        elif c.limit is None:
            res = ex.submit_trailing_stop_market(c.side, c.stop, c.qty, c.method, c.value, c.period)
        else:
            res = ex.submit_trailing_stop_limit(c.side, c.stop, c.limit, c.qty, c.method, c.value,
                                                atr_period=c.period)
        return render.stop_order(res.order_id, c, res.status) + self._cascade(before, 0, 1)

    def _cancel(self, order_id: int) -> str:
        res = self.exchange.cancel(order_id)
        if not res.success:
            reason = "already filled or cancelled" if res.error == "OrderNotActive" else "no such order or pending stop"
            raise ValueError(f"cannot cancel O{order_id}: {reason}")
        return f"O{order_id} cancelled {res.cancelled_quantity:,}"

    def _modify(self, command: Modify) -> str:
        ex, before = self.exchange, self._counters()
        res = ex.modify(command.order_id, command.price, command.qty)
        if not res.success or res.new_order_id is None:
            reason = "already filled or cancelled" if res.error == "OrderNotActive" else "no such resting order"
            raise ValueError(f"cannot modify O{command.order_id}: {reason}")
        new = ex.get_order(res.new_order_id)
        resting = new.remaining_quantity if new is not None else 0
        filled = sum(t.quantity for t in res.trades)
        state = render.submission(res.new_order_id, command.price, "gtc", res.trades, filled, resting,
                                  command.qty - filled - resting)
        return f"O{command.order_id} replaced by O{res.new_order_id} · {state}" + self._cascade(
            before, len(res.trades), 0)

    # -------------------------------------------------------------------------------- views

    def _book(self, levels: int | None) -> Iterator[RenderableType]:
        ex = self.exchange
        snap = ex.full_book() if levels is None else ex.depth(levels)
        title = None if levels is None else f"best {render.plural(levels, 'level')} per side"
        yield book_table(snap.bids, snap.asks, title)
        bid, ask = ex.best_bid_ask()
        yield render.top_of_book(bid, ask, ex.last_trade_price(), ex.active_order_count(), ex.pending_stop_count())

    def _trades(self, last: int | None) -> Iterator[str]:
        trades = self.exchange.trades()
        if not trades:
            yield "no trades yet"
            return
        for t in trades if last is None else trades[-last:]:
            yield render.trade(t)

    # -------------------------------------------------------------------------------- files

    def _save(self, path: str) -> str:
        directory = os.path.dirname(os.path.abspath(path))
        try:
            # Write-then-rename: a failed save never truncates an earlier good file at `path`.
            fd, tmp = tempfile.mkstemp(prefix=".nanobook-save-", suffix=".tmp", dir=directory)
            os.close(fd)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a saved log is an ordinary file
            try:
                self.exchange.save(tmp)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as exc:
            raise OSError(f"cannot save to {path!r}: {exc.strerror or exc}") from None
        return f"saved {render.plural(len(self.exchange.events()), 'event')} to {path}"

    def _load(self, path: str) -> str:
        from engine.lob.replay import replay_file

        result = replay_file(path)  # EventLogError names the file and the bad line
        self.exchange = result.exchange  # only now: a failed load leaves the current book untouched
        ex = result.exchange
        counts = (render.plural(len(ex.trades()), "trade"), render.plural(ex.active_order_count(), "resting order"),
                  render.plural(ex.pending_stop_count(), "pending stop"))
        return f"loaded {render.plural(result.events, 'event')} ({result.dialect} dialect) from {path} · " + (
            " · ".join(counts))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
