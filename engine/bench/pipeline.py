"""Rebalancer-pipeline benchmarks: `nanobook plan` on a 500-symbol sim, reading + deciding on a 1M-line audit log.

See docs/benchmarks.md, "Pipeline".

`plan_500` lists N synthetic symbols (S0001…) on a fresh simulated venue in a temporary working directory, writes
a target.json of N weights summing to 0.95 and a config.toml that trades every difference, then times
`nanobook plan target.json` as a subprocess: the first run after the venue was created ("cold") and the runs
after it ("warm"). `audit_1m` writes a synthetic v1 audit log (`engine.bench.auditlog`), then times
`read_audit` + `reconstruct` + `decide_from_log` inside a fresh interpreter (`python -m engine.bench.decide LOG`,
"library") and `nanobook replay LOG --json` as a whole process ("cli"). Returns data only.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from time import perf_counter
from typing import Any, Final

from engine.bench.auditlog import DEFAULT_SEED, write_audit_log

PLAN_500: Final = "plan_500"
AUDIT_1M: Final = "audit_1m"
PIPELINE_WORKLOADS: Final = (PLAN_500, AUDIT_1M)
# Workload -> (default size, --quick size): symbols for plan_500, audit lines for audit_1m.
PIPELINE_SIZES: Final[dict[str, tuple[int, int]]] = {PLAN_500: (500, 20), AUDIT_1M: (1_000_000, 5_000)}
WARM_RUNS: Final = (3, 1)  # warm plan runs after each cold one (default, --quick)
TARGET_WEIGHT: Final = Decimal("0.95")
WEIGHT_UNITS: Final = 1_000_000  # weights are whole millionths, so they print exactly and sum to exactly 0.95
TARGET_TIMESTAMP: Final = "2026-11-02T21:00:00Z"
# Trade every difference (the default 25 bp band would skip 0.19 % positions) and allow one order per symbol.
PLAN_CONFIG: Final = """\
# nanobook bench plan_500: every symbol gets an order (no drift band), up to 1000 orders per run.
[execution]
tolerance_bps = 0
max_orders_per_run = 1000
"""
FAULTS_ENV: Final = "NANOBOOK_SIM_FAULTS"
Progress = Callable[[str], None]


def pipeline_size(name: str, quick: bool = False) -> int:
    """Symbols (plan_500) or audit lines (audit_1m) for a run."""
    full, small = PIPELINE_SIZES[name]
    return small if quick else full


@dataclass
class PipelineSample:
    """Wall-clock samples of one pipeline row (seconds), with what was checked and measured alongside."""

    workload: str
    variant: str
    size: int
    seconds: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    agree: bool | None = None
    agree_with: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        """Median of the samples, None when there are none."""
        return float(statistics.median(self.seconds)) if self.seconds else None


# ---------------------------------------------------------------- plan_500 inputs


def universe(n: int, seed: int = DEFAULT_SEED) -> dict[str, int]:
    """N synthetic tickers S0001… with seeded reference prices between $10 and $500 (in 0.01 ticks)."""
    rng = random.Random(f"universe-{seed}")
    return {f"S{i:04d}": rng.randint(1_000, 50_000) for i in range(1, n + 1)}


def target_weights(symbols: Sequence[str], seed: int = DEFAULT_SEED, total: Decimal = TARGET_WEIGHT
                   ) -> dict[str, Decimal]:
    """Seeded weights within ±40 % of equal weight, in whole millionths, summing exactly to `total`."""
    n = len(symbols)
    if n == 0:
        return {}
    units = int(total * WEIGHT_UNITS)
    rng = random.Random(f"weights-{seed}")
    mean = units // n
    raw = [rng.randint(mean * 6 // 10, mean * 14 // 10) for _ in range(n)]
    scale = units / sum(raw)
    parts = [max(1, int(r * scale)) for r in raw]
    parts[-1] += units - sum(parts)
    if parts[-1] <= 0:  # only when n is close to `units`; spread the difference instead
        parts = [units // n] * n
        parts[-1] += units - sum(parts)
    return {s: Decimal(p) / WEIGHT_UNITS for s, p in zip(symbols, parts, strict=True)}


def target_document(symbols: Sequence[str], seed: int = DEFAULT_SEED) -> str:
    """target.json text: the weights as exact JSON numbers (0.001874 …), summing to 0.95."""
    weights = target_weights(symbols, seed)
    rows = ",\n".join(f'    {{"symbol": "{s}", "weight": {format(w, "f")}}}' for s, w in weights.items())
    return (f'{{\n  "timestamp": "{TARGET_TIMESTAMP}",\n  "metadata": {{"id": "bench-plan-{len(symbols)}"}},\n'
            f'  "targets": [\n{rows}\n  ]\n}}\n')


def prepare_plan_dir(root: Path, n: int, seed: int = DEFAULT_SEED) -> float:
    """Create the venue with N listed symbols (no bundled table), target.json and config.toml; return seconds."""
    from engine.brokers.sim import SimVenue

    t0 = perf_counter()
    prices = universe(n, seed)
    venue = SimVenue(root)
    try:
        venue.init(prices=prices, bundled=False)
    finally:
        venue.close()
    (root / "target.json").write_text(target_document(list(prices), seed), encoding="utf-8")
    (root / "config.toml").write_text(PLAN_CONFIG, encoding="utf-8")
    return perf_counter() - t0


# ---------------------------------------------------------------- subprocess timing


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for timed commands: no injected sim faults, no colour, a fixed width, this repository."""
    repo_root = str(Path(__file__).resolve().parents[2])
    env = {k: v for k, v in os.environ.items() if k != FAULTS_ENV}
    env.update({"NO_COLOR": "1", "COLUMNS": "160", "PYTHONHASHSEED": "0",
                "PYTHONPATH": os.pathsep.join(p for p in (repo_root, os.environ.get("PYTHONPATH", "")) if p)})
    env.update(extra or {})
    return env


def timed_run(argv: Sequence[str], *, cwd: Path | None = None, timeout_s: float = 180.0,
              stdout_path: Path | None = None, ok_codes: Sequence[int] = (0,)) -> float:
    """Wall seconds of one run; RuntimeError naming the exit code and last stderr line when it fails."""
    env = _env()
    out = stdout_path.open("wb") if stdout_path is not None else subprocess.DEVNULL
    try:
        t0 = perf_counter()
        proc = subprocess.run(list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE,
                              env=env, timeout=timeout_s, check=False)
        elapsed = perf_counter() - t0
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(argv[-3:])}: timed out after {timeout_s:g} s (killed)") from None
    finally:
        if stdout_path is not None and not isinstance(out, int):
            out.close()
    if proc.returncode not in ok_codes:
        lines = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        raise RuntimeError(f"{' '.join(argv[-3:])}: exit {proc.returncode}: {lines[-1] if lines else 'no message'}")
    return elapsed


# ---------------------------------------------------------------- plan_500


def measure_plan(n: int, *, seed: int, repeat: int, warm_runs: int, cli: Sequence[str], timeout_s: float,
                 progress: Progress | None = None) -> list[PipelineSample]:
    """Cold and warm `nanobook plan target.json` wall times over `repeat` fresh working directories."""
    cold = PipelineSample(PLAN_500, "cold", n)
    warm = PipelineSample(PLAN_500, "warm", n)
    setups: list[float] = []
    try:
        for rep in range(repeat):
            with tempfile.TemporaryDirectory(prefix="nanobook-bench-plan-") as tmp:
                root = Path(tmp)
                setups.append(prepare_plan_dir(root, n, seed))
                argv = [*cli, "plan", "target.json"]
                if progress:
                    progress(f"plan_500 run {rep + 1}/{repeat}")
                cold.seconds.append(timed_run(argv, cwd=root, timeout_s=timeout_s))
                for _ in range(warm_runs):
                    warm.seconds.append(timed_run(argv, cwd=root, timeout_s=timeout_s))
                if rep == 0:
                    check = root / "plan.json"
                    timed_run([*argv, "--json"], cwd=root, timeout_s=timeout_s, stdout_path=check)
                    doc = json.loads(check.read_text(encoding="utf-8"))
                    orders, status = len(doc["data"].get("orders", [])), doc.get("status")
                    for sample in (cold, warm):
                        sample.details.update(orders=orders, status=status)
                        sample.agree = orders == n and status == "changes"  # "risk_rejected" when a check failed
                        sample.agree_with = [f"plan --json: {n} orders, risk checks passed"]
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        for sample in (cold, warm):
            sample.error = sample.error or str(exc)
    for sample in (cold, warm):
        sample.details.update(symbols=n, setup_seconds=round(statistics.median(setups), 4) if setups else None,
                              command="nanobook plan target.json", samples=[round(s, 4) for s in sample.seconds])
    cold.details["what"] = "first plan after the venue was created (one per fresh directory)"
    warm.details["what"] = f"the {warm_runs} plan run(s) after the cold one, same directory"
    return [cold, warm]


# ---------------------------------------------------------------- audit_1m


def measure_audit(n_lines: int, *, seed: int, repeat: int, cli: Sequence[str], timeout_s: float,
                  progress: Progress | None = None) -> list[PipelineSample]:
    """Library (fresh interpreter, in-process timing) and CLI (`replay --json`, wall) rows on one generated log."""
    library = PipelineSample(AUDIT_1M, "library", n_lines)
    cli_row = PipelineSample(AUDIT_1M, "cli", n_lines)
    try:
        with tempfile.TemporaryDirectory(prefix="nanobook-bench-audit-") as tmp:
            root = Path(tmp)
            if progress:
                progress(f"audit_1m: writing {n_lines:,} lines")
            t0 = perf_counter()
            info = write_audit_log(root / "audit.jsonl", n_lines, seed)
            facts = {"lines": info.lines, "bytes": info.bytes, "runs": info.runs, "sha256": info.sha256,
                     "generate_seconds": round(perf_counter() - t0, 3)}
            library.details.update(facts)
            cli_row.details.update(facts)
            actions: set[str] = set()
            phases: list[dict[str, Any]] = []
            for rep in range(repeat):
                if progress:
                    progress(f"audit_1m run {rep + 1}/{repeat}")
                out = root / "decide.json"
                wall = timed_run([sys.executable, "-m", "engine.bench.decide", str(info.path)],
                                 timeout_s=timeout_s, stdout_path=out)
                result = json.loads(out.read_text(encoding="utf-8"))
                result["process_s"] = wall
                phases.append(result)
                library.seconds.append(float(result["seconds"]))
                actions.add(f"library:{result['action']}:{result['records']}")
                replay = root / "replay.json"
                cli_row.seconds.append(timed_run([*cli, "replay", str(info.path), "--json"], timeout_s=timeout_s,
                                                 stdout_path=replay))
                data = json.loads(replay.read_text(encoding="utf-8"))["data"]
                actions.add(f"cli:{data['recovery']['action']}:{data['events']}")
                cli_row.details["validation_ok"] = data["validation"]["ok"]
                replay.unlink()
            library.details.update(_phase_medians(phases))
            decided = {a.split(":", 1)[1] for a in actions}
            agree = len(decided) == 1 and next(iter(decided)).endswith(f":{n_lines}")
            for sample in (library, cli_row):
                sample.agree = agree
                sample.agree_with = ["library and replay --json: same decision, every line read"]
                sample.details["decisions"] = sorted(actions)
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        for sample in (library, cli_row):
            sample.error = sample.error or str(exc)
    library.details.update(command="python -m engine.bench.decide LOG",
                           what="read_audit + reconstruct + decide_from_log, timed inside a fresh interpreter",
                           samples=[round(s, 4) for s in library.seconds])
    cli_row.details.update(command="nanobook replay LOG --json",
                           what="whole process: read, reconstruct, decide, validate every line, JSON out",
                           samples=[round(s, 4) for s in cli_row.seconds])
    return [library, cli_row]


def _phase_medians(phases: list[dict[str, Any]]) -> dict[str, Any]:
    if not phases:
        return {}
    keys = ("import_s", "read_s", "reconstruct_s", "decide_s", "process_s", "max_rss_mb")
    out: dict[str, Any] = {k: round(float(statistics.median(p[k] for p in phases)), 4) for k in keys}
    out["action"] = phases[0]["action"]
    return out
