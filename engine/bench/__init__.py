"""Order-book microbenchmarks: seeded workloads, a timing harness and a runner that compares implementations.

Returns data only (`run_bench` → `BenchReport`); rendering lives in `nanobook_cli.commands.bench`.
"""

from engine.bench.runner import ALL_WORKLOADS, CLI_HELP, BenchOptions, BenchReport, ResultRow, TargetRow, run_bench
from engine.bench.workloads import WORKLOAD_NAMES, Workload, make

__all__ = [
    "ALL_WORKLOADS",
    "CLI_HELP",
    "WORKLOAD_NAMES",
    "BenchOptions",
    "BenchReport",
    "ResultRow",
    "TargetRow",
    "Workload",
    "make",
    "run_bench",
]
