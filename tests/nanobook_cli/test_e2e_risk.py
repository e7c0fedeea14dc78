"""End-to-end: a failing risk check stops `plan` (exit 5) and `run` (exit 5, nothing placed, audited)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nanobook_cli.helpers_e2e import EXAMPLE_TARGET, Workdir, assert_one_clean_error

TIGHT = "[risk]\nmax_position_pct = 0.05\n"


@pytest.fixture
def wd(tmp_path: Path) -> Iterator[Workdir]:
    workdir = Workdir(tmp_path)
    # The example target carries constraints.max_position_pct = 0.20, which may only tighten the config; with the
    # config at 0.05 that would be a looser constraint (refused as invalid input, see the last test). Drop it so
    # the config's 5 % limit is what the risk gate checks.
    target = workdir.target_doc()
    del target["constraints"]
    workdir.write_target(target)
    workdir.config(TIGHT)
    yield workdir
    workdir.cleanup()


def test_plan_exits_5_when_a_position_limit_fails(wd: Workdir) -> None:
    human = wd.nb("plan", "target.json")
    assert human.returncode == 5, str(human)
    assert "FAIL" in human.stdout and "Max position" in human.stdout
    assert "Traceback" not in human.stderr
    assert "risk check failed: Max position:" in assert_one_clean_error(human, 5)

    result = wd.nb_json("plan", "target.json")
    assert result.returncode == 5
    assert result.doc["status"] == "risk_rejected"
    risk = result.doc["data"]["risk"]
    assert risk["passed"] is False
    assert any(c["status"] == "FAIL" and c["name"] == "Max position" for c in risk["checks"])
    assert [e["type"] for e in result.doc["errors"]] == ["RiskRejected"] * sum(c["status"] == "FAIL"
                                                                               for c in risk["checks"])
    assert wd.nb("plan", "target.json", "--detailed-exitcode").returncode == 5
    assert wd.venue_orders() == []


def test_run_exits_5_places_nothing_and_audits_the_rejection(wd: Workdir) -> None:
    result = wd.nb("run", "target.json", "--yes")
    assert_one_clean_error(result, 5, "risk check failed", "Max position")
    assert wd.venue_orders() == []

    risk = wd.events("risk_check")
    assert len(risk) == 1 and risk[0]["passed"] is False
    assert any(c["status"] == "FAIL" for c in risk[0]["checks"])
    completed = wd.events("run_completed")
    assert len(completed) == 1 and completed[0]["status"] == "risk_rejected"
    assert completed[0]["submitted"] == 0
    assert wd.events("order_intent") == []
    assert wd.events("user_confirmed") == []  # never asked: nothing to confirm

    as_json = wd.nb_json("run", "target.json", "--yes")
    assert as_json.returncode == 5
    assert as_json.doc["errors"] and as_json.doc["errors"][0]["type"] == "RiskRejected"
    assert wd.venue_orders() == []
    # A rejected run is complete: the next command is not told to recover.
    assert wd.nb("status").returncode == 0


def test_saved_plan_that_failed_risk_is_not_executed(wd: Workdir) -> None:
    saved = wd.nb("plan", "target.json", "--out", "plan.json")
    assert saved.returncode == 5
    result = wd.nb("run", "--plan", "plan.json", "--yes")
    assert result.returncode == 5, str(result)
    assert "Traceback" not in result.stderr
    assert wd.venue_orders() == []


def test_order_cap_rejects_the_run(wd: Workdir) -> None:
    wd.config("[execution]\nmax_orders_per_run = 3\n")
    result = wd.nb("run", "target.json", "--yes")
    assert_one_clean_error(result, 5, "max_orders_per_run")
    assert wd.venue_orders() == []


def test_example_target_with_a_looser_constraint_than_the_config_is_refused(wd: Workdir) -> None:
    """Documented behaviour: constraints.max_position_pct = 0.20 vs config 0.05 → invalid target (exit 4)."""
    wd.write("example.json", EXAMPLE_TARGET.read_text(encoding="utf-8"))
    for args in (("plan", "example.json"), ("run", "example.json", "--yes")):
        result = wd.nb(*args)
        assert_one_clean_error(result, 4, "constraints.max_position_pct", "only tighten")
    assert wd.venue_orders() == []
