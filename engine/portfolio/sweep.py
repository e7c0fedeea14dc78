"""Parameter sweeps: one picklable function over a grid of parameter dicts — serially, in processes or on Dask.

Owns the grid, the executor choice and the ordering (results always come back in grid order, whatever ran them),
plus a ready float-mode backtest task. Dask is optional and imported only on its code path; nothing here does I/O.
"""

from __future__ import annotations

import importlib
import itertools
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from configs.errors import NanobookError
from engine.errors import BacktestError
from engine.portfolio.arrays import backtest_arrays
from engine.portfolio.stops import STOP_KEYS

__all__ = [
    "DASK_HINT",
    "BacktestSummary",
    "FloatBacktestTask",
    "SweepError",
    "SweepPoint",
    "every_n",
    "grid",
    "sweep",
    "sweep_float",
]

Executor = Literal["process", "serial", "dask"]
EXECUTORS: Final = ("process", "serial", "dask")
DASK_HINT: Final = "pip install 'nanobook-cli[dask]'"
SweepFn = Callable[[Mapping[str, Any]], Any]
Progress = Callable[[int, int], None]


class SweepError(NanobookError):
    """A sweep could not run (bad executor, missing Dask) or one of its points failed (`index`, `params`)."""

    def __init__(self, message: str, index: int | None = None, params: Mapping[str, Any] | None = None) -> None:
        self.index = index
        self.params = dict(params) if params is not None else None
        super().__init__(message)


@dataclass(frozen=True)
class SweepPoint:
    """One grid point: its position in the grid, its parameters, and the function's value or the error text."""

    index: int
    params: Mapping[str, Any]
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the function returned (no error)."""
        return self.error is None


def grid(**axes: Iterable[Any]) -> list[dict[str, Any]]:
    """Cartesian product of the axes as parameter dicts, in keyword order, the last axis varying fastest."""
    names = list(axes)
    values = [list(v) for v in axes.values()]
    for name, options in zip(names, values, strict=True):
        if not options:
            raise SweepError(f"grid axis {name!r} has no values")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


# ---------------------------------------------------------------- running


def sweep(fn: SweepFn, params: Iterable[Mapping[str, Any]], *, executor: Executor | None = None,
          workers: int | None = None, scheduler: Any = None, errors: Literal["raise", "record"] = "raise",
          connect_timeout_s: float = 10.0, progress: Progress | None = None) -> list[SweepPoint]:
    """Run `fn(params)` for every parameter dict and return the points in input order.

    executor: "process" (default; a ProcessPoolExecutor of `workers` processes, the CPU count by default),
    "serial" (this process), or "dask" (a `distributed` scheduler: `scheduler="tcp://host:8786"` or a
    `distributed.Client`; passing `scheduler` alone selects Dask). `fn` must be picklable (a module-level function
    or an object such as FloatBacktestTask) for anything but "serial". errors="raise" raises SweepError for the
    first failing point (in grid order) after all ran; "record" keeps the error text in that point instead.
    `connect_timeout_s` bounds the wait for a Dask scheduler given by address. `progress(done, total)` is called
    as points finish (in grid order for processes, completion order on Dask).
    """
    points = _points(params)
    chosen = _choose(executor, scheduler, workers)
    if errors not in ("raise", "record"):
        raise SweepError(f"errors must be 'raise' or 'record', got {errors!r}")
    if not points:
        return []
    tick = _counter(len(points), progress)
    if chosen == "serial":
        results = [tick(_call(fn, i, p)) for i, p in enumerate(points)]
    elif chosen == "process":
        results = _run_processes(fn, points, workers, tick)
    else:
        results = _run_dask(fn, points, scheduler, connect_timeout_s, tick)
    if errors == "raise":
        failed = next((r for r in results if r.error is not None), None)
        if failed is not None:
            raise SweepError(f"sweep point {failed.index} {failed.params} failed: {failed.error}", failed.index,
                             failed.params)
    return results


def _points(params: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    points = []
    for i, p in enumerate(params):
        if not isinstance(p, Mapping):
            raise SweepError(f"sweep point {i} must be a mapping of parameter names to values, got {p!r}")
        points.append(dict(p))
    return points


def _choose(executor: Executor | None, scheduler: Any, workers: int | None) -> Executor:
    chosen: Executor = executor if executor is not None else ("dask" if scheduler is not None else "process")
    if chosen not in EXECUTORS:
        raise SweepError(f"unknown executor {chosen!r}; choose one of {', '.join(EXECUTORS)}")
    if chosen == "dask" and scheduler is None:
        raise SweepError("executor 'dask' needs scheduler='tcp://HOST:8786' or a distributed.Client")
    if chosen != "dask" and scheduler is not None:
        raise SweepError(f"scheduler= is only used by executor 'dask', not {chosen!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SweepError(f"workers must be a whole number >= 1, got {workers!r}")
    return chosen


def _counter(total: int, progress: Progress | None) -> Callable[[SweepPoint], SweepPoint]:
    """A pass-through that reports (done, total) to `progress` once per finished point."""
    done = [0]

    def tick(point: SweepPoint) -> SweepPoint:
        done[0] += 1
        if progress is not None:
            progress(done[0], total)
        return point

    return tick


def _call(fn: SweepFn, index: int, params: Mapping[str, Any]) -> SweepPoint:
    """Run one point; any exception becomes text so that every executor reports it the same way."""
    try:
        return SweepPoint(index, params, fn(params))
    except Exception as exc:  # a failing point must not lose the others; the caller decides whether to raise
        return SweepPoint(index, params, None, f"{type(exc).__name__}: {exc}")


_INSTALLED: list[SweepFn] = []  # the sweep function inside a worker process, sent once by the initializer


def _install(fn: SweepFn) -> None:
    _INSTALLED[:] = [fn]


def _call_installed(item: tuple[int, Mapping[str, Any]]) -> SweepPoint:
    return _call(_INSTALLED[0], item[0], item[1])


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _run_processes(fn: SweepFn, points: list[dict[str, Any]], workers: int | None,
                   tick: Callable[[SweepPoint], SweepPoint]) -> list[SweepPoint]:
    count = min(workers or _default_workers(), len(points))
    chunk = max(1, math.ceil(len(points) / (4 * count)))
    # The function (which may hold large arrays) travels once per worker, not once per point.
    try:
        with ProcessPoolExecutor(max_workers=count, initializer=_install, initargs=(fn,)) as pool:
            return [tick(p) for p in pool.map(_call_installed, enumerate(points), chunksize=chunk)]
    except Exception as exc:  # point errors are caught in _call: this is the pool itself (pickling, a dead worker)
        raise SweepError(f"the process pool failed ({type(exc).__name__}: {exc}); the sweep function must be "
                         "picklable (a module-level function or object), or use executor='serial'") from exc


def _distributed() -> Any:
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise SweepError(f"executor 'dask' needs the optional Dask dependency: {DASK_HINT}") from None


def _run_dask(fn: SweepFn, points: list[dict[str, Any]], scheduler: Any, timeout_s: float,
              tick: Callable[[SweepPoint], SweepPoint]) -> list[SweepPoint]:
    distributed = _distributed()
    owned = not isinstance(scheduler, distributed.Client)
    if owned and not isinstance(scheduler, str):
        raise SweepError(f"scheduler must be an address such as 'tcp://HOST:8786' or a distributed.Client, "
                         f"got {type(scheduler).__name__}")
    try:
        client = distributed.Client(scheduler, set_as_default=False, timeout=timeout_s) if owned else scheduler
    except (OSError, TimeoutError) as exc:
        raise SweepError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        shared = client.scatter(fn, broadcast=True, hash=False)
        futures = client.map(_call, [shared] * len(points), range(len(points)), points, pure=False)
        done = distributed.as_completed(futures, loop=client.loop)  # not the default client: we may not own it
        results: list[SweepPoint] = [tick(client.gather(f)) for f in done]
    except Exception as exc:  # e.g. workers without nanobook installed cannot unpickle the task
        raise SweepError(f"the Dask run failed ({type(exc).__name__}: {exc}); the workers need nanobook-cli "
                         "installed, at the same version") from exc
    finally:
        if owned:
            client.close()
    return sorted(results, key=lambda r: r.index)


# ---------------------------------------------------------------- a ready float-mode backtest task


FloatArray = NDArray[np.float64]
TASK_KEYS: Final = ("cost_bps", "rebalance_every", "offset", "initial_cash", *STOP_KEYS)


def every_n(weights: ArrayLike, every: int, offset: int = 0) -> FloatArray:
    """Keep the weight rows t = offset, offset + every, …; every other row becomes NaN (hold)."""
    if isinstance(every, bool) or not isinstance(every, int | np.integer) or every < 1:
        raise BacktestError(f"rebalance_every must be a whole number >= 1, got {every!r}")
    if isinstance(offset, bool) or not isinstance(offset, int | np.integer) or offset < 0:
        raise BacktestError(f"offset must be a whole number >= 0, got {offset!r}")
    out = np.array(weights, dtype=np.float64)
    if out.ndim != 2:
        raise BacktestError(f"weights must be 2-D [periods, symbols], got shape {out.shape}")
    t = np.arange(out.shape[0])
    out[(t < offset) | ((t - offset) % every != 0)] = np.nan
    return out


@dataclass(frozen=True)
class BacktestSummary:
    """What a sweep point keeps of a float backtest: final figures and the metrics as a plain dict."""

    final_equity: float
    total_costs: float
    mean_turnover: float
    rebalances: int
    stop_exits: int
    metrics: Mapping[str, float | int] | None


@dataclass(frozen=True, eq=False)
class FloatBacktestTask:
    """Picklable sweep function: `backtest_arrays` of one daily weight signal under a parameter dict.

    Keys (all optional): cost_bps, rebalance_every (keep every n-th weight row, default 1), offset (first kept
    row), initial_cash, and the stop_cfg keys (fixed_stop_pct, trailing_stop_pct, atr_multiple, atr_period).
    `defaults` fills keys a point leaves out. Unknown keys are refused (a typo would silently sweep nothing).
    """

    weights: FloatArray
    prices: FloatArray
    periods_per_year: float = 252.0
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, params: Mapping[str, Any]) -> BacktestSummary:
        merged = {**self.defaults, **params}
        unknown = sorted(set(merged) - set(TASK_KEYS))
        if unknown:
            raise BacktestError(f"unknown sweep parameter(s) {', '.join(unknown)}; allowed: {', '.join(TASK_KEYS)}")
        weights = self.weights
        if merged.get("rebalance_every", 1) != 1 or merged.get("offset", 0) != 0:
            weights = every_n(weights, merged.get("rebalance_every", 1), merged.get("offset", 0))
        stops = {k: merged[k] for k in STOP_KEYS if merged.get(k) is not None}
        result = backtest_arrays(weights, self.prices, initial_cash=merged.get("initial_cash", 1_000_000.0),
                                 cost_bps=merged.get("cost_bps", 0.0), periods_per_year=self.periods_per_year,
                                 stop_cfg=stops or None)
        turnover = result.turnover[result.turnover > 0]
        return BacktestSummary(
            final_equity=result.final_equity, total_costs=float(result.costs.sum()),
            mean_turnover=float(turnover.mean()) if turnover.size else 0.0, rebalances=result.rebalances,
            stop_exits=len(result.stop_exits),
            metrics=result.metrics.to_dict() if result.metrics is not None else None)


def sweep_float(weights: ArrayLike, prices: ArrayLike, params: Sequence[Mapping[str, Any]], *,
                periods_per_year: float = 252.0, executor: Executor | None = None, workers: int | None = None,
                scheduler: Any = None, errors: Literal["raise", "record"] = "raise", connect_timeout_s: float = 10.0
                ) -> list[SweepPoint]:
    """`sweep` of a FloatBacktestTask over `params` (see FloatBacktestTask for the keys)."""
    task = FloatBacktestTask(np.asarray(weights, dtype=np.float64), np.asarray(prices, dtype=np.float64),
                             periods_per_year)
    return sweep(task, params, executor=executor, workers=workers, scheduler=scheduler, errors=errors,
                 connect_timeout_s=connect_timeout_s)
