"""Order-book microbenchmarks and rebalancer-pipeline benchmarks (`plan_500`, `audit_1m`).

The order-book side is seeded workloads, a timing harness and a runner that compares implementations; the
pipeline side times whole processes (see `engine.bench.pipeline`). Returns data only (`run_bench` →
`BenchReport`); rendering lives in `nanobook_cli.commands.bench`.
"""

from engine.bench.pipeline import PIPELINE_WORKLOADS
from engine.bench.runner import (
    ALL_WORKLOADS,
    CLI_HELP,
    DEFAULT_WORKLOADS,
    BenchOptions,
    BenchReport,
    ResultRow,
    TargetRow,
    run_bench,
)
from engine.bench.workloads import WORKLOAD_NAMES, Workload, make

__all__ = [
    "ALL_WORKLOADS",
    "CLI_HELP",
    "DEFAULT_WORKLOADS",
    "PIPELINE_WORKLOADS",
    "WORKLOAD_NAMES",
    "BenchOptions",
    "BenchReport",
    "ResultRow",
    "TargetRow",
    "Workload",
    "make",
    "run_bench",
]
