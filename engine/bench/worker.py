"""Subprocess entry point: `python -m engine.bench.worker SPEC OUT` runs one implementation's workloads.

SPEC is a pickle written by the runner; each result is appended to OUT as one JSON line as soon as it is known.
"""

from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Callable, Sequence

from engine.bench.harness import RunResult, run_workload, timer_overhead_ns
from engine.bench.workloads import Workload


def run_implementation(implementation: str, workloads: Sequence[Workload],
                       sink: Callable[[RunResult], None]) -> None:
    """Run every workload once for `implementation`, handing each result to `sink` as it completes."""
    overhead = timer_overhead_ns()
    for workload in workloads:
        sink(run_workload(implementation, workload, overhead))


def main(argv: Sequence[str]) -> int:
    """Read the spec, stream results to the output file; return the process exit status."""
    spec_path, out_path = argv
    with open(spec_path, "rb") as fh:
        spec = pickle.load(fh)
    with open(out_path, "a", encoding="utf-8") as out:

        def sink(result: RunResult) -> None:
            out.write(json.dumps(result.to_json()) + "\n")
            out.flush()

        run_implementation(spec["implementation"], spec["workloads"], sink)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
