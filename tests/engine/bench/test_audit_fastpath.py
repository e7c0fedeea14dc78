"""audit.reader's large-file path (envelope probe, payload decoded on first use) gives what the eager path gives.

The audit_1m benchmark motivated that path (docs/benchmarks.md, "Pipeline"); these tests pin its equivalence: the
same records, values, index, torn tail, repaired lines and errors, for real logs and for hostile lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import audit.reader as reader
from audit.errors import AuditCorrupt
from audit.reader import AuditLog, parse_audit
from engine.bench.auditlog import audit_log_lines
from engine.rebalance.recovery import audit_replay_summary, decide_from_log, reconstruct

V1 = '{"schema_version":"1","run_id":"r1","seq":%d,"ts":"2026-01-05T14:30:00.000000Z","event":"%s"%s}'

# Lines the probe and json.loads might disagree on; each is placed mid-file (corrupt or fine) and last (torn).
HOSTILE = [
    V1 % (2, "order_intent", ',"x":"\\ud800"'),              # lone surrogate: json accepts, the probe refuses
    V1 % (2, "order_intent", ',"x":"a\tb"'),                 # raw control character: both refuse
    V1 % (2, "order_intent", ',"x":NaN,"y":-Infinity,"z":1e400'),
    V1 % (2, "order_intent", ',"seq":7'),                     # duplicate key: the last one wins in both
    V1 % (2, "order_intent", ',"seq":-1'),                    # ... also when only the first one is valid
    V1 % (2, "order_intent", ',"schema_version":"2"'),
    V1 % (2, "order_intent", ',"run_id":""'),
    V1 % (2, "order_intent", ',"event":null'),
    '{"schema_version":"0","seq":-5,' + (V1 % (2, "order_intent", ""))[1:],  # ... or only the last one
    V1 % (2, "order_intent", "") + "\x0c",                    # trailing str.isspace() that is not JSON whitespace
    V1 % (2, "order_intent", "") + "\u2028",
    V1 % (2, "order_intent", "") + " \r",
    "  " + V1 % (2, "order_intent", ""),                      # leading whitespace
    V1 % (2, "order_intent", ',"x":' + "[" * 300 + "]" * 300),  # deeper than the probe's nesting limit
    V1 % (2, "order_intent", ',"x":' + "[" * 100_000 + "]" * 100_000),  # RecursionError in json
    "[" * 100_000,
    V1 % (2, "order_intent", ',"x":' + "9" * 5000),           # beyond int max str digits: both refuse
    V1 % (2, "order_intent", ',"x":' + "9" * 4000),
    V1 % (2, "order_intent", "") + " {}",                     # two values on one line
    V1 % (2, "order_intent", ',"x":01'),
    V1.replace('"seq":%d', '"seq":%d.0') % (2, "order_intent", ""),
    V1.replace('"seq":%d', '"seq":-%d') % (2, "order_intent", ""),
    V1.replace('"run_id":"r1"', '"run_id":""') % (2, "order_intent", ""),
    V1.replace('"schema_version":"1"', '"schema_version":"2"') % (2, "order_intent", ""),
    V1.replace('"schema_version":"1",', "") % (2, "order_intent", ""),  # reads as a seed line
    '{"event":"order_submitted","ts":"2024-01-15T10:00:00","sequence_number":2,"ibkr_id":42}',
    '["not", "an", "object"]',
    '"a string"',
    "",
    "   ",
    V1 % (2, "order_intent", ',"x":"\\ud83d\\ude00 é \\u0000"'),
    V1 % (2, "order_intent", ',"client_order_id":5'),
    V1 % (2, "torn_tail_repaired", ',"line":1,"reason":"x"'),
    '{"schema_version":"1","run_id":"r1","seq":2,"ts":"t","event":"order_intent",\n"x":1}',  # spans two lines
    '{"schema_version":"1","run_id":"r1","seq":2,"ts":"t","event":"order_int',                 # torn
]


def both(data: bytes) -> tuple[AuditLog | Exception, AuditLog | Exception]:
    """parse_audit on the eager path and on the probed path."""
    results: list[AuditLog | Exception] = []
    for threshold in (10**15, 0):
        saved = reader._DEFER_MIN_BYTES
        reader._DEFER_MIN_BYTES = threshold  # type: ignore[misc]
        try:
            results.append(parse_audit(data))
        except AuditCorrupt as exc:
            results.append(exc)
        finally:
            reader._DEFER_MIN_BYTES = saved  # type: ignore[misc]
    return results[0], results[1]


def facts(log: AuditLog | Exception) -> object:
    if isinstance(log, Exception):
        return type(log), str(log)
    return ([(r.line, r.format, r.raw, r.view, r.name, r.seq, r.run_id, r.client_order_id) for r in log.records],
            log.index, log.torn_tail, log.repaired, log.format, log.max_seq)


def assert_same(data: bytes) -> None:
    eager, probed = both(data)
    assert facts(probed) == facts(eager) or (repr(facts(probed)) == repr(facts(eager)))  # NaN != NaN


def files_with(line: str) -> Iterator[bytes]:
    tail = V1 % (3, "run_completed", "")
    # An all-ASCII file is probed as bytes, any other as decoded text: run both with an ASCII and a non-ASCII head.
    for head in (V1 % (1, "run_started", ""), V1 % (1, "run_started", ',"command":"é"')):
        yield f"{head}\n{line}\n{tail}\n".encode()          # mid-file
        yield f"{head}\n{line}\n".encode()                  # last line
        yield f"{head}\n{line}".encode()                    # last line, no newline
        yield f"{head}\r\n{line}\r\n{tail}\r\n".encode()    # CRLF


@pytest.mark.parametrize("line", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_lines_read_the_same_on_both_paths(line: str) -> None:
    for data in files_with(line):
        assert_same(data)


@pytest.mark.parametrize("ascii_only", [True, False])
def test_a_generated_log_reads_the_same_on_both_paths(ascii_only: bool) -> None:
    text = "".join("\n".join(chunk) + "\n" for chunk in audit_log_lines(3_000, 11))
    data = text.encode() if ascii_only else text.replace('"broker":"sim"', '"broker":"sïm"').encode()
    assert data.isascii() is ascii_only
    assert_same(data)
    assert_same(data[:-150])  # torn last line
    assert_same(b"\n\n" + data.replace(b"\n", b"\n\n", 40))  # blank lines shift line numbers
    eager, probed = both(data)
    assert isinstance(eager, AuditLog) and isinstance(probed, AuditLog)
    assert reconstruct(probed) == reconstruct(eager)
    assert decide_from_log(reconstruct(probed)) == decide_from_log(reconstruct(eager))
    assert json.dumps(audit_replay_summary(probed)) == json.dumps(audit_replay_summary(eager))


def test_deferred_records_decode_on_first_use_only() -> None:
    data = "".join("\n".join(chunk) + "\n" for chunk in audit_log_lines(200, 2)).encode()
    _, probed = both(data)
    assert isinstance(probed, AuditLog)
    first = probed.records[0]
    assert first._raw is None and first._src is not None
    assert first.raw["event"] == "run_started" and first.view is first.raw and first._src is None
    assert first.event is not None and first.event.event == "run_started"
