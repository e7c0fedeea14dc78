"""Subprocess worker: run op streams on the reference `nanobook.Exchange`, one JSON line per stream."""

# Usage: python -m tests.engine.lob.ref_worker STREAMS.json START. The parent kills it when a stream hangs (the
# reference's B1 bug can loop forever) and restarts it at the next stream.

from __future__ import annotations

import json
import sys


def main() -> None:
    import nanobook

    from tests.engine.lob.opstream import run_stream

    with open(sys.argv[1], encoding="utf-8") as fh:
        streams = json.load(fh)
    for i in range(int(sys.argv[2]), len(streams)):
        try:
            out = {"i": i, "ok": run_stream(nanobook.Exchange(), streams[i])}
        except Exception as exc:  # report, never die: the parent decides
            out = {"i": i, "error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
