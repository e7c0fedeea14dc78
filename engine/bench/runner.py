"""Benchmark orchestration: build workloads once, run each implementation × repeat in a fresh interpreter, aggregate.

Medians over runs, ratios against the reference and pyorderbook, targets, and correctness checks of final books.
The pipeline workloads (`plan_500`, `audit_1m`, see `engine.bench.pipeline`) time whole processes instead; they,
the backtest and the ITCH ones (`engine.bench.itch`) are selectable like the others but not part of the default run.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from engine.bench.adapters import IMPLEMENTATIONS, LOOP, OURS, PYORDERBOOK, REFERENCE, SLOW, SUPPORTS
from engine.bench.harness import RunResult, time_command
from engine.bench.pipeline import (
    AUDIT_1M,
    PIPELINE_WORKLOADS,
    PLAN_500,
    WARM_RUNS,
    PipelineSample,
    measure_audit,
    measure_plan,
    pipeline_size,
)
from engine.bench.worker import run_implementation
from engine.bench.workloads import DEFAULT_SEED, WORKLOAD_NAMES, Expected, Workload, make, size

CLI_HELP: Final = "cli_help"
DEFAULT_WORKLOADS: Final = (*WORKLOAD_NAMES, CLI_HELP)
BACKTEST_WORKLOADS: Final = ("backtest_monthly", "backtest_daily")  # engine/bench/backtest.py
ITCH_WORKLOADS: Final = ("itch_decode", "itch_replay")  # engine/bench/itch.py
ALL_WORKLOADS: Final = (*DEFAULT_WORKLOADS, *PIPELINE_WORKLOADS, *BACKTEST_WORKLOADS, *ITCH_WORKLOADS)
# Workloads that run in this process on sizes of their own; --quick shrinks them and their targets are not judged.
_IN_PROCESS: Final = (*PIPELINE_WORKLOADS, *BACKTEST_WORKLOADS, *ITCH_WORKLOADS)
# Backtest rows name the implementation in `variant`; peers are shown under their own implementation.
_BACKTEST_IMPL: Final = {"float": OURS, "reference": OURS, "vectorbt": "vectorbt", "nanobook": REFERENCE}
Progress = Callable[[str, int, int], None]

# (workload, kind, threshold, label, variant): kinds compare ours against the reference, pyorderbook or an
# absolute bar; `variant` picks one of a pipeline workload's rows (None for the others).
TARGETS: Final[tuple[tuple[str, str, float, str, str | None], ...]] = (
    ("submit_no_match", "ratio_vs_reference", 0.8, "≥ 0.8× reference", None),
    ("submit_match_1", "ratio_vs_reference", 0.7, "≥ 0.7× reference", None),
    ("cancel_deep", "ratio_vs_reference", 1.0, "≥ 1.0× reference", None),
    ("mixed_safe", "ratio_vs_reference", 0.7, "≥ 0.7× reference", None),
    ("bbo", "min_ops_per_s", 10e6, "≥ 10 M ops/s", None),
    ("l2_top10", "min_ops_per_s", 0.6e6, "≥ 0.6 M ops/s", None),
    ("mixed", "ratio_vs_pyorderbook", 5.0, "≥ 5× pyorderbook", None),
    (CLI_HELP, "max_seconds", 0.4, "≤ 0.4 s", None),
    (PLAN_500, "max_seconds", 1.5, "≤ 1.5 s", "cold"),
    (PLAN_500, "max_seconds", 1.5, "≤ 1.5 s", "warm"),
    (AUDIT_1M, "max_seconds", 5.0, "≤ 5 s", "library"),
    ("backtest_monthly", "max_seconds", 0.002, "≤ 2 ms", "float"),
    ("backtest_daily", "max_seconds", 0.005, "≤ 5 ms", "float"),
    ("backtest_monthly", "detail:ratio_vs_vectorbt", 25.0, "≥ 25× vectorbt", "float"),
    ("backtest_daily", "detail:ratio_vs_vectorbt", 25.0, "≥ 25× vectorbt", "float"),
    ("backtest_monthly", "detail:ratio_vs_nanobook", 2.0, "≥ 2× nanobook", "reference"),
    ("backtest_daily", "detail:ratio_vs_nanobook", 2.0, "≥ 2× nanobook", "reference"),
    ("itch_decode", "min_ops_per_s", 5e6, "≥ 5 M msg/s", "bulk"),
    ("itch_replay", "min_ops_per_s", 0.5e6, "≥ 0.5 M msg/s", "exchange"),
)


@dataclass(frozen=True)
class BenchOptions:
    """What to run. `isolate` runs ours in fresh interpreters too (the reference and peers always are)."""

    workloads: Sequence[str] = DEFAULT_WORKLOADS
    vs_reference: bool = False
    vs_peers: bool = False
    quick: bool = False
    repeat: int = 1
    seed: int = DEFAULT_SEED
    timeout_s: float | None = None
    isolate: bool = True
    help_argv: Sequence[str] | None = None
    cli_argv: Sequence[str] | None = None  # how to start `nanobook` (pipeline workloads); default python -m

    def cli(self) -> list[str]:
        """The command prefix that runs `nanobook` (the console script when the CLI passes it)."""
        if not self.cli_argv:
            return [sys.executable, "-m", "nanobook_cli"]
        first, *rest = self.cli_argv
        # Absolute, because the pipeline workloads run it from temporary working directories.
        return [os.path.abspath(first) if os.sep in first else first, *rest]

    def implementations(self) -> list[str]:
        """Implementations in table order."""
        chosen = {LOOP, OURS} | ({REFERENCE} if self.vs_reference else set()) | ({PYORDERBOOK} if self.vs_peers
                                                                                  else set())
        return [name for name in IMPLEMENTATIONS if name in chosen]

    def worker_timeout(self) -> float:
        """Seconds before a worker (one implementation, one run) is killed."""
        if self.timeout_s is not None:
            return self.timeout_s
        return 60.0 if self.quick else 180.0


@dataclass
class ResultRow:
    """One table row: medians over the runs of one implementation on one workload."""

    workload: str
    implementation: str
    ops: int
    runs: int
    ops_per_s: float | None
    ns_per_op: float | None
    net_ns_per_op: float | None
    p50_ns: int | None
    p99_ns: int | None
    spread_pct: float | None
    agree: bool | None = None
    agree_with: list[str] = field(default_factory=list)
    ratio_vs_reference: float | None = None
    ratio_vs_pyorderbook: float | None = None
    seconds: float | None = None
    error: str | None = None
    variant: str | None = None  # pipeline rows: cold / warm (plan_500), library / cli (audit_1m)
    details: dict[str, Any] | None = None  # pipeline rows: samples, phases, sizes, the command timed


@dataclass
class TargetRow:
    """One target: `measured` is None (and `met` None) when its comparison was not run."""

    workload: str
    kind: str
    threshold: float
    label: str
    measured: float | None
    met: bool | None
    variant: str | None = None


@dataclass
class BenchReport:
    """Everything `nanobook bench` shows; `to_json` gives the `data` of the --json envelope."""

    results: list[ResultRow]
    targets: list[TargetRow]
    environment: dict[str, Any]
    config: dict[str, Any]
    warnings: list[str]

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {"results": [_rounded(asdict(r)) for r in self.results],
                "targets": [_rounded(asdict(t)) for t in self.targets],
                "environment": self.environment, "config": self.config, "warnings": list(self.warnings)}

    def row(self, workload: str, implementation: str, variant: str | None = None) -> ResultRow | None:
        """The row for (workload, implementation[, variant]), if any."""
        for r in self.results:
            if r.workload == workload and r.implementation == implementation and (
                    variant is None or r.variant == variant):
                return r
        return None


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    """Floats to 4 significant decimals of useful precision (ratios 4 places, rates and ns 1 place).

    `details` (pipeline rows) is passed through; its floats are rounded where they are made.
    """
    return {k: (round(v, 4) if abs(v) < 100 else round(v, 1)) if isinstance(v, float) else v
            for k, v in row.items()}


def validate_workloads(names: Sequence[str]) -> list[str]:
    """Deduplicated names in canonical order; ValueError naming the first unknown one."""
    for name in names:
        if name not in ALL_WORKLOADS:
            raise ValueError(f"unknown workload {name!r} (choose from {', '.join(ALL_WORKLOADS)})")
    return [name for name in ALL_WORKLOADS if name in names]


def package_version(dist: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Interpreter, CPU and package versions (no wall-clock time: the caller stamps the date)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_build": " ".join(platform.python_build()),
        "python_compiler": platform.python_compiler(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "packages": {name: package_version(name) for name in ("nanobook-cli", "nanobook", "pyorderbook")},
    }


def _strip(workload: Workload) -> Workload:
    """The workload without its expected outcome (workers do not need it)."""
    return replace(workload, expected=Expected(([], []), []))


def _run_isolated(implementation: str, spec_path: Path, out_path: Path, timeout_s: float) -> str | None:
    """Run one worker; return an error message or None. Partial results stay in out_path."""
    repo_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PYTHONPATH": os.pathsep.join(p for p in (repo_root, os.environ.get("PYTHONPATH", "")) if p)}
    try:
        proc = subprocess.run([sys.executable, "-m", "engine.bench.worker", str(spec_path), str(out_path)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env=env, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout_s:g} s (worker killed)"
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        return f"worker exited {proc.returncode}: {lines[-1] if lines else 'no message'}"
    return None


def _read_results(out_path: Path) -> list[RunResult]:
    if not out_path.exists():
        return []
    results = []
    for line in out_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            results.append(RunResult.from_json(json.loads(line)))
    return results


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def _aggregate(workload: str, implementation: str, ops: int, runs: list[RunResult], errors: list[str],
               loop_ns: float | None) -> ResultRow:
    if not runs:
        return ResultRow(workload, implementation, ops, 0, None, None, None, None, None, None,
                         error=errors[0] if errors else "no result")
    rates = [r.ops_per_s for r in runs]
    med = _median(rates)
    ns = 1e9 / med if med else None
    net = ns - loop_ns if ns is not None and loop_ns is not None and implementation != LOOP else None
    spread = (max(rates) - min(rates)) / 2 / med * 100 if med and len(rates) > 1 else None
    return ResultRow(workload, implementation, runs[0].ops, len(runs), med, ns, net,
                     int(_median([r.p50_ns for r in runs])), int(_median([r.p99_ns for r in runs])), spread,
                     error=errors[0] if errors else None)


def _check(runs: list[RunResult], expected: Expected, against: list[RunResult] | None) -> tuple[bool, list[str]]:
    """Final books (and trade lists, when both sides keep them) equal the model's and the reference's."""
    basis = ["model"]
    ok = True
    for run in runs:
        ok = ok and run.book == expected.book
        if run.trades_digest is not None:
            ok = ok and run.trades_digest == expected.trades_digest
    if against:
        basis.append(REFERENCE)
        for run in runs:
            for ref in against:
                ok = ok and run.book == ref.book
                if run.trades_digest is not None and ref.trades_digest is not None:
                    ok = ok and run.trades_digest == ref.trades_digest
    return ok, basis


def run_bench(options: BenchOptions, progress: Progress | None = None) -> BenchReport:
    """Run the selected workloads on the selected implementations `options.repeat` times and aggregate."""
    names = validate_workloads(options.workloads)
    backtest_names = [n for n in names if n in BACKTEST_WORKLOADS]
    itch_names = [n for n in names if n in ITCH_WORKLOADS]
    lob_names = [n for n in names if n != CLI_HELP and n not in _IN_PROCESS]
    pipeline_names = [n for n in names if n in PIPELINE_WORKLOADS]
    impls = options.implementations()
    warnings: list[str] = []
    plan: dict[str, list[Workload]] = {}
    built: dict[tuple[str, int], Workload] = {}
    for impl in impls:
        chosen = []
        for name in lob_names:
            if name not in SUPPORTS[impl]:
                continue
            n = size(name, options.quick, peer=impl in SLOW)
            if (name, n) not in built:
                built[(name, n)] = make(name, n, options.seed)
            chosen.append(built[(name, n)])
        if chosen:
            plan[impl] = chosen
    run_impls = list(plan)
    total = (len(run_impls) * options.repeat + (1 if CLI_HELP in names else 0)
             + sum(_pipeline_steps(n, options) for n in pipeline_names) + (1 if backtest_names else 0)
             + (1 if itch_names else 0))
    done = 0
    runs: dict[tuple[str, str], list[RunResult]] = {}
    errors: dict[tuple[str, str], list[str]] = {}

    with tempfile.TemporaryDirectory(prefix="nanobook-bench-") as tmp:
        specs: dict[str, Path] = {}
        for impl, wls in plan.items():
            specs[impl] = Path(tmp) / f"{impl}.pickle"
            with open(specs[impl], "wb") as fh:
                pickle.dump({"implementation": impl, "workloads": [_strip(w) for w in wls]}, fh)
        for rep in range(options.repeat):
            order = run_impls[rep % len(run_impls):] + run_impls[:rep % len(run_impls)] if run_impls else []
            for impl in order:
                if progress:
                    progress(f"{impl} run {rep + 1}/{options.repeat}", done, total)
                got: list[RunResult] = []
                error: str | None = None
                if options.isolate or impl in (REFERENCE, PYORDERBOOK):
                    out = Path(tmp) / f"{impl}-{rep}.jsonl"
                    error = _run_isolated(impl, specs[impl], out, options.worker_timeout())
                    got = _read_results(out)
                else:
                    run_implementation(impl, plan[impl], got.append)
                for r in got:
                    runs.setdefault((r.workload, impl), []).append(r)
                if error is not None:
                    finished = {r.workload for r in got}
                    missing = [w.name for w in plan[impl] if w.name not in finished]
                    where = missing[0] if missing else "after the last workload"
                    warnings.append(f"{impl} run {rep + 1}: {error} during {where}")
                    for name in missing:
                        errors.setdefault((name, impl), []).append(error)
                done += 1

    results: list[ResultRow] = []
    for name in lob_names:
        loop_runs = runs.get((name, LOOP), [])
        loop_ns = 1e9 / _median([r.ops_per_s for r in loop_runs]) if loop_runs else None
        for impl in impls:
            if impl not in plan or name not in SUPPORTS[impl]:
                continue
            key = (name, impl)
            n = size(name, options.quick, peer=impl in SLOW)
            row = _aggregate(name, impl, n, runs.get(key, []), errors.get(key, []), loop_ns)
            if impl != LOOP and runs.get(key):
                against = runs.get((name, REFERENCE)) if impl == OURS else None
                row.agree, row.agree_with = _check(runs[key], built[(name, n)].expected, against)
                if row.agree is False:
                    warnings.append(f"{impl} on {name}: final book or trades differ from "
                                    f"{' and '.join(row.agree_with)}")
            results.append(row)
    _ratios(results)

    if CLI_HELP in names:
        if progress:
            progress("cli_help", done, total)
        results.append(_cli_help(options, warnings))
        done += 1
    ticks = [done]  # progress steps taken so far, shared with the pipeline's callback

    def step(label: str) -> None:
        if progress:
            progress(label, ticks[0], total)
        ticks[0] += 1

    for name in pipeline_names:
        ticks[0] = done
        for sample in _pipeline(name, options, step):
            row = _pipeline_row(sample)
            if sample.error:
                warnings.append(f"{name} ({sample.variant}): {sample.error}")
            elif sample.agree is False:
                warnings.append(f"{name} ({sample.variant}): the result check failed "
                                f"({'; '.join(sample.agree_with)})")
            results.append(row)
        done += _pipeline_steps(name, options)
    if backtest_names:
        if progress:
            progress("backtests", done, total)
        results += _backtests(backtest_names, options, warnings)
        done += 1
    if itch_names:
        if progress:
            progress("itch", done, total)
        results += _itch(itch_names, options, warnings)
        done += 1
    if progress:
        progress("done", done, total)
    return BenchReport(results, _targets(results, options.quick), environment(), _config(options, names, impls),
                       warnings)


def _pipeline_steps(name: str, options: BenchOptions) -> int:
    """Progress steps of a pipeline workload: one per repeat (plus writing the log for audit_1m)."""
    return options.repeat + (1 if name == AUDIT_1M else 0)


def _pipeline(name: str, options: BenchOptions, step: Callable[[str], None]) -> list[PipelineSample]:
    n = pipeline_size(name, options.quick)
    timeout = options.worker_timeout()
    if name == PLAN_500:
        return measure_plan(n, seed=options.seed, repeat=options.repeat, warm_runs=WARM_RUNS[options.quick],
                            cli=options.cli(), timeout_s=timeout, progress=step)
    return measure_audit(n, seed=options.seed, repeat=options.repeat, cli=options.cli(), timeout_s=timeout,
                         progress=step)


def _backtests(names: list[str], options: BenchOptions, warnings: list[str]) -> list[ResultRow]:
    """Float mode vs warm vectorbt and reference mode vs the nanobook package, in this process (see backtest.py)."""
    from engine.bench.backtest import run_backtest_bench

    rows: list[ResultRow] = []
    for sample in run_backtest_bench(repeat=options.repeat, quick=options.quick, seed=options.seed):
        if sample.workload not in names:
            continue
        row = _pipeline_row(sample)
        row.implementation = _BACKTEST_IMPL.get(sample.variant or "", OURS)
        if sample.error:
            warnings.append(f"{sample.workload} ({sample.variant}): {sample.error}")
        elif sample.agree is False:
            warnings.append(f"{sample.workload} ({sample.variant}): the result check failed "
                            f"({'; '.join(sample.agree_with)})")
        rows.append(row)
    return rows


def _itch(names: list[str], options: BenchOptions, warnings: list[str]) -> list[ResultRow]:
    """Bulk decode and replay (Exchange books, then ItchBook) of one synthetic session, in this process."""
    from engine.bench.itch import run_itch_samples

    rows: list[ResultRow] = []
    for sample in run_itch_samples(repeat=options.repeat, quick=options.quick, seed=options.seed, workloads=names):
        if sample.error:
            warnings.append(f"{sample.workload} ({sample.variant}): {sample.error}")
        elif sample.agree is False:
            warnings.append(f"{sample.workload} ({sample.variant}): the result check failed "
                            f"({'; '.join(sample.agree_with)})")
        rows.append(_pipeline_row(sample))
    return rows


def _pipeline_row(sample: PipelineSample) -> ResultRow:
    """Median seconds as p50, the slowest sample as p99, throughput in symbols or lines per second."""
    med = sample.median
    details = dict(sample.details)
    if med is None:
        return ResultRow(sample.workload, OURS, sample.size, 0, None, None, None, None, None, None,
                         sample.agree, sample.agree_with, error=sample.error or "no result", variant=sample.variant,
                         details=details)
    times = sorted(sample.seconds)
    spread = (times[-1] - times[0]) / 2 / med * 100 if len(times) > 1 and med else None
    details["ms"] = round(med * 1000, 1)
    return ResultRow(sample.workload, OURS, sample.size, len(times), sample.size / med if med else None,
                     med * 1e9 / sample.size if sample.size else None, None, int(med * 1e9), int(times[-1] * 1e9),
                     spread, sample.agree, sample.agree_with, seconds=med, error=sample.error,
                     variant=sample.variant, details=details)


def _ratios(results: list[ResultRow]) -> None:
    by = {(r.workload, r.implementation): r for r in results}
    for r in results:
        if r.implementation != OURS or r.ops_per_s is None:
            continue
        ref = by.get((r.workload, REFERENCE))
        if ref is not None and ref.ops_per_s:
            r.ratio_vs_reference = r.ops_per_s / ref.ops_per_s
        peer = by.get((r.workload, PYORDERBOOK))
        if peer is not None and peer.ops_per_s:
            r.ratio_vs_pyorderbook = r.ops_per_s / peer.ops_per_s


def _cli_help(options: BenchOptions, warnings: list[str]) -> ResultRow:
    argv = list(options.help_argv) if options.help_argv else [sys.executable, "-m", "nanobook_cli", "--help"]
    repeat = 3 if options.quick else 5
    try:
        times = time_command(argv, repeat, env={"NO_COLOR": "1", "COLUMNS": "120"})
    except (OSError, subprocess.SubprocessError) as exc:
        warnings.append(f"cli_help: {exc}")
        return ResultRow(CLI_HELP, OURS, repeat, 0, None, None, None, None, None, None, error=str(exc))
    times.sort()
    med = _median(times)
    return ResultRow(CLI_HELP, OURS, repeat, repeat, 1 / med, med * 1e9, None, int(med * 1e9),
                     int(times[-1] * 1e9), (times[-1] - times[0]) / 2 / med * 100, seconds=med)


def _targets(results: list[ResultRow], quick: bool = False) -> list[TargetRow]:
    by = {(r.workload, r.implementation, r.variant): r for r in results}
    out: list[TargetRow] = []
    for workload, kind, threshold, label, variant in TARGETS:
        row = by.get((workload, OURS, variant))
        measured: float | None = None
        if workload in _IN_PROCESS and quick:
            row = None  # --quick runs tiny sizes; the targets are about the full ones
        if row is not None:
            if kind == "ratio_vs_reference":
                measured = row.ratio_vs_reference
            elif kind == "ratio_vs_pyorderbook":
                measured = row.ratio_vs_pyorderbook
            elif kind == "min_ops_per_s":
                measured = row.ops_per_s
            elif kind == "max_seconds":
                measured = row.seconds
            elif kind.startswith("detail:"):
                value = (row.details or {}).get(kind.partition(":")[2])
                measured = float(value) if isinstance(value, int | float) else None
        met = None if measured is None else (measured <= threshold if kind == "max_seconds" else
                                             measured >= threshold)
        out.append(TargetRow(workload, kind, threshold, label, measured, met, variant))
    return out


def _itch_orders(quick: bool) -> int:
    from engine.bench.itch import itch_orders

    return itch_orders(quick)


def _config(options: BenchOptions, names: list[str], impls: list[str]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "workloads": names,
        "implementations": impls,
        "repeat": options.repeat,
        "quick": options.quick,
        "seed": options.seed,
        "isolated": options.isolate,
        "sizes": {impl: {n: size(n, options.quick, peer=impl in SLOW) for n in names
                         if n != CLI_HELP and n in SUPPORTS[impl]} for impl in impls},
        "pipeline_sizes": {n: pipeline_size(n, options.quick) for n in names if n in PIPELINE_WORKLOADS},
        "method": "median of runs; timed loop `for f, a in calls: f(*a)`; gc.collect() before each batch, "
                  "GC on; latency = per-call perf_counter_ns minus timer overhead",
        "pipeline_method": "whole-process wall time of each command (subprocess), median of the runs; audit_1m "
                           "library: read_audit + reconstruct + decide_from_log timed inside a fresh interpreter",
    }
    if any(n in ITCH_WORKLOADS for n in names):
        config["itch_order_events"] = _itch_orders(options.quick)
        config["itch_method"] = ("one synthetic session (8 symbols, the bench seed) in a temporary file; per run, "
                                 "gc.collect() then one timed call of each variant, interleaved; rate = messages / "
                                 "median seconds")
    return config
