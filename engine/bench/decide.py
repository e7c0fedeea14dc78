"""`python -m engine.bench.decide LOG`: read_audit + reconstruct + decide_from_log, timed, as one JSON line.

The audit_1m "library" row (engine.bench.pipeline) runs this in a fresh interpreter. Not imported by the package,
so running it with -m loads it once.
"""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import Sequence
from pathlib import Path
from time import perf_counter
from typing import Any


def decide(path: Path) -> dict[str, Any]:
    """read_audit + reconstruct + decide_from_log on `path`, timed phase by phase (run in a fresh interpreter)."""
    t0 = perf_counter()
    from audit.reader import read_audit
    from engine.rebalance.recovery import decide_from_log, reconstruct

    t1 = perf_counter()
    log = read_audit(path)
    t2 = perf_counter()
    run = reconstruct(log)
    t3 = perf_counter()
    decision = decide_from_log(run)
    t4 = perf_counter()
    return {"seconds": t4 - t1, "import_s": t1 - t0, "read_s": t2 - t1, "reconstruct_s": t3 - t2,
            "decide_s": t4 - t3, "records": len(log.records), "runs": run.runs, "action": decision.action,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def main(argv: Sequence[str]) -> int:
    """Print the timed decision for the log named in argv as one JSON object; 2 on a usage error."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m engine.bench.decide LOG\n")
        return 2
    sys.stdout.write(json.dumps(decide(Path(argv[0]))) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
