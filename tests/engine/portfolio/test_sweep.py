"""Sweeps: the grid, and identical results in identical order on serial, process and Dask (127.0.0.1) executors."""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest

from engine.errors import BacktestError, NanobookError
from engine.portfolio.arrays import backtest_arrays
from engine.portfolio.sweep import (
    DASK_HINT,
    BacktestSummary,
    FloatBacktestTask,
    SweepError,
    every_n,
    grid,
    sweep,
    sweep_float,
)


def market(t: int = 300, n: int = 8, seed: int = 11) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    prices = np.round(50.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, (t, n)), axis=0)), 2)
    raw = np.exp(rng.normal(size=(t, n)))
    return 0.98 * raw / raw.sum(axis=1, keepdims=True), prices


GRID = grid(cost_bps=[0.0, 10.0], rebalance_every=[1, 21], fixed_stop_pct=[None, 0.08])


def square_or_fail(params: Mapping[str, Any]) -> int:
    if params["x"] == 3:
        raise ValueError("three is refused")
    return int(params["x"]) ** 2


def test_grid_is_the_cartesian_product_last_axis_fastest() -> None:
    assert grid(a=[1, 2], b="xy") == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"},
                                      {"a": 2, "b": "y"}]
    assert len(GRID) == 8
    with pytest.raises(SweepError, match="no values"):
        grid(a=[])


def test_every_n_keeps_every_nth_row_from_the_offset() -> None:
    w = np.ones((7, 2))
    kept = ~np.isnan(every_n(w, 3, offset=1)[:, 0])
    assert kept.tolist() == [False, True, False, False, True, False, False]
    with pytest.raises(BacktestError, match="rebalance_every"):
        every_n(w, 0)


def test_float_task_equals_a_direct_backtest() -> None:
    w, p = market()
    task = FloatBacktestTask(w, p)
    got = task({"cost_bps": 10.0, "rebalance_every": 21, "trailing_stop_pct": 0.1})
    direct = backtest_arrays(every_n(w, 21), p, cost_bps=10.0, stop_cfg={"trailing_stop_pct": 0.1})
    assert isinstance(got, BacktestSummary)
    assert got.final_equity == direct.final_equity
    assert got.rebalances == direct.rebalances == math.ceil(300 / 21)
    assert got.stop_exits == len(direct.stop_exits)
    assert direct.metrics is not None and got.metrics == direct.metrics.to_dict()
    with pytest.raises(BacktestError, match="unknown sweep parameter"):
        task({"cost": 1.0})


def test_serial_and_process_sweeps_agree_in_grid_order() -> None:
    w, p = market()
    serial = sweep_float(w, p, GRID, executor="serial")
    processes = sweep_float(w, p, GRID, executor="process", workers=2)
    assert [pt.index for pt in serial] == list(range(len(GRID)))
    assert [pt.params for pt in serial] == GRID
    assert serial == processes
    finals = {pt.value.final_equity for pt in serial}
    assert len(finals) == len(GRID)  # every parameter changes the outcome: the sweep really swept


def test_failing_points_raise_in_grid_order_or_are_recorded() -> None:
    points = grid(x=[1, 2, 3, 4])
    with pytest.raises(SweepError, match=r"point 2 .*ValueError: three is refused") as info:
        sweep(square_or_fail, points, executor="process", workers=2)
    assert info.value.index == 2 and isinstance(info.value, NanobookError)
    recorded = sweep(square_or_fail, points, executor="serial", errors="record")
    assert [pt.value for pt in recorded] == [1, 4, None, 16]
    assert [pt.ok for pt in recorded] == [True, True, False, True]


class Unpicklable:
    """A sweep function that cannot travel to another process."""

    def __call__(self, params: Mapping[str, Any]) -> int:
        return 1

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle this task")


def test_an_unpicklable_function_is_a_clear_error_not_a_traceback() -> None:
    assert sweep(Unpicklable(), grid(x=[1, 2]), executor="serial")[1].value == 1
    try:  # forked workers inherit the function; spawned ones would need to unpickle it
        got = sweep(Unpicklable(), grid(x=[1, 2]), executor="process", workers=1)
    except SweepError as exc:
        assert "must be picklable" in str(exc)
    else:
        assert [pt.value for pt in got] == [1, 1]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"executor": "threads"}, "unknown executor"),
    ({"executor": "dask"}, "needs scheduler"),
    ({"executor": "serial", "scheduler": "tcp://127.0.0.1:1"}, "only used by executor 'dask'"),
    ({"workers": 0}, "workers"),
    ({"scheduler": 8786}, "address"),
    ({"errors": "ignore"}, "errors must be"),
])
def test_bad_executor_choices_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(SweepError, match=match):
        sweep(square_or_fail, grid(x=[1]), **kwargs)


def test_points_must_be_mappings() -> None:
    with pytest.raises(SweepError, match="point 1 must be a mapping"):
        sweep(square_or_fail, [{"x": 1}, 2], executor="serial")  # type: ignore[list-item]


def test_dask_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def no_dask(name: str, package: str | None = None) -> Any:
        if name.split(".", maxsplit=1)[0] in ("distributed", "dask"):
            raise ImportError(f"No module named {name!r}")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", no_dask)
    with pytest.raises(SweepError, match=re.escape(DASK_HINT)):
        sweep(square_or_fail, grid(x=[1]), scheduler="tcp://127.0.0.1:8786")


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                       host="127.0.0.1", dashboard_address=None)
    try:
        yield cluster
    finally:
        cluster.close()


def test_dask_by_address_and_by_client_match_serial(dask_cluster: Any) -> None:
    distributed = pytest.importorskip("distributed")
    address = dask_cluster.scheduler_address
    assert address.startswith("tcp://127.0.0.1:")
    w, p = market()
    serial = sweep_float(w, p, GRID, executor="serial")
    by_address = sweep_float(w, p, GRID, scheduler=address)
    with distributed.Client(dask_cluster, set_as_default=False) as client:
        by_client = sweep_float(w, p, GRID, scheduler=client)
        assert client.status == "running"  # a client we were handed stays open
    assert by_address == serial
    assert by_client == serial
    recorded = sweep(square_or_fail, grid(x=[1, 2, 3, 4]), scheduler=address, errors="record")
    assert [pt.value for pt in recorded] == [1, 4, None, 16] and recorded[2].error is not None
    with pytest.raises(SweepError, match="Dask run failed"):
        sweep(Unpicklable(), grid(x=[1]), scheduler=address)


def test_unreachable_scheduler_is_a_clear_error() -> None:
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SweepError, match="cannot reach the Dask scheduler"):
        sweep(square_or_fail, grid(x=[1]), scheduler=f"tcp://127.0.0.1:{port}", connect_timeout_s=1.0)


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_progress_counts_every_point_once(executor: str) -> None:
    seen: list[tuple[int, int]] = []
    points = sweep(_square_point, [{"x": i} for i in range(5)], executor=executor,  # type: ignore[arg-type]
                   workers=2, progress=lambda done, total: seen.append((done, total)))
    assert [p.value for p in points] == [i * i for i in range(5)]
    assert seen == [(i, 5) for i in range(1, 6)]


def _square_point(params: dict[str, int]) -> int:
    return params["x"] ** 2
