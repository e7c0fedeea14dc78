"""Time-dependent rebalance logic under a frozen wall clock (freezegun): plan age, quote age, run ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from freezegun import freeze_time

from configs.loader import load_config, load_target
from engine.brokers.base import Quote
from engine.brokers.sim import SimBroker
from engine.errors import StalePlanError
from engine.rebalance.pipeline import PlanInputs, build_plan
from engine.rebalance.plan import check_fresh
from engine.rebalance.session import new_run_id
from engine.rebalance.snapshot import stale_quotes
from nanobook_cli.composition import system_clock

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PlanInputs:
    monkeypatch.chdir(tmp_path)
    target = REPO / "configs" / "examples" / "target.json"
    loaded, tgt = load_config(None), load_target(target)
    return PlanInputs(tgt.target, target, tgt.sha256, loaded.config, loaded.sha256, "sim")


def test_saved_plan_expires_with_the_wall_clock(inputs: PlanInputs, tmp_path: Path) -> None:
    with freeze_time("2026-11-24 15:00:00", tz_offset=0) as frozen:
        broker = SimBroker(tmp_path, clock=system_clock)
        plan, snap = build_plan(broker, inputs, system_clock)
        assert plan.created_at == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)

        def fresh_check() -> None:
            check_fresh(plan, now=system_clock(), broker="sim", account_id=snap.account.account_id,
                        cash=snap.account.cash, positions=snap.quantities(), prices=snap.mids(),
                        target_sha256=inputs.target_sha256, config_sha256=inputs.config_sha256,
                        max_age_s=inputs.config.execution.plan_max_age_s, max_reprice_bps=50)

        frozen.tick(timedelta(seconds=inputs.config.execution.plan_max_age_s - 1))
        fresh_check()  # one second inside the window: accepted
        frozen.tick(timedelta(seconds=2))
        with pytest.raises(StalePlanError, match=r"plan is 901s old \(max 900s\)"):
            fresh_check()
        broker.close()


def test_quote_age_is_judged_against_the_clock() -> None:
    with freeze_time("2026-11-24 15:00:00", tz_offset=0) as frozen:
        quote = Quote("AAPL", Decimal("185"), Decimal("185.02"), None, system_clock())
        assert stale_quotes({"AAPL": quote}, system_clock(), 60) == {}
        frozen.tick(timedelta(seconds=61))
        assert stale_quotes({"AAPL": quote}, system_clock(), 60) == {"AAPL": "quote is 61s old (max 60s)"}


def test_run_ids_sort_by_wall_clock_time() -> None:
    with freeze_time("2026-11-24 15:00:00", tz_offset=0) as frozen:
        first = new_run_id(system_clock)
        frozen.tick(timedelta(seconds=1))
        second = new_run_id(system_clock)
    assert first.startswith("20261124T150000Z-") and second.startswith("20261124T150001Z-")
    assert first < second
