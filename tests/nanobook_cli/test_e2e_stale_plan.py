"""End-to-end: `run --plan` refuses a stale or tampered plan (exit 4, one line saying why) and places nothing."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from tests.nanobook_cli.helpers_e2e import Workdir, assert_one_clean_error, wait_for


def _save_plan(wd: Workdir, name: str = "plan.json") -> dict[str, Any]:
    result = wd.nb("plan", "target.json", "--out", name)
    assert result.returncode == 0, str(result)
    doc: dict[str, Any] = json.loads((wd.path / name).read_text(encoding="utf-8"))
    assert len(doc["orders"]) == 8
    return doc


def _content_hash(doc: dict[str, Any]) -> str:
    """The plan's self-hash recipe (sha256 of canonical JSON without `plan_sha256`)."""
    body = {k: v for k, v in doc.items() if k != "plan_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_plan_saved_before_positions_changed_is_refused(wd: Workdir) -> None:
    _save_plan(wd)
    assert wd.nb("run", "target.json", "--yes").returncode == 0  # another run moves the account
    before = wd.venue_orders()
    result = wd.nb("run", "--plan", "plan.json", "--yes")
    assert_one_clean_error(result, 4, "stale", "positions changed", "nanobook plan")
    assert wd.venue_orders() == before


def test_plan_saved_before_the_target_was_edited_is_refused(wd: Workdir) -> None:
    _save_plan(wd)
    target = wd.target_doc()
    target["targets"][-1]["weight"] = 0.09
    wd.write_target(target)
    result = wd.nb("run", "--plan", "plan.json", "--yes")
    assert_one_clean_error(result, 4, "stale", "target file changed")
    assert wd.venue_orders() == []


def test_plan_saved_under_another_config_is_refused(wd: Workdir) -> None:
    _save_plan(wd)
    wd.config("[execution]\nlimit_offset_bps = 12\n")
    result = wd.nb("run", "--plan", "plan.json", "--yes")
    assert_one_clean_error(result, 4, "stale", "config changed")
    assert wd.venue_orders() == []


def test_hand_edited_plan_is_refused(wd: Workdir) -> None:
    doc = _save_plan(wd)
    doc["orders"][0]["quantity"] = str(int(doc["orders"][0]["quantity"]) * 3)
    wd.write("plan.json", json.dumps(doc, indent=2) + "\n")
    result = wd.nb("run", "--plan", "plan.json", "--yes")
    assert_one_clean_error(result, 4, "plan.json", "modified")
    assert wd.venue_orders() == []


def test_truncated_plan_file_is_refused(wd: Workdir) -> None:
    _save_plan(wd)
    text = (wd.path / "plan.json").read_text(encoding="utf-8")
    wd.write("plan.json", text[: len(text) // 2])
    result = wd.nb("run", "--plan", "plan.json", "--yes")
    assert_one_clean_error(result, 4, "plan.json")
    assert wd.venue_orders() == []


def test_edited_plan_with_recomputed_hash_is_still_risk_checked(wd: Workdir) -> None:
    """Regression test (fixed bug).

    Was: `run --plan` trusts the saved plan's risk verdict and its orders; the self-hash is unkeyed.

    Repro: `nanobook plan target.json --out plan.json`; multiply the AAPL order's quantity by 3 (≈45 % of equity,
    over the 20 % max_position of the target) and rewrite `plan_sha256` as sha256 of the canonical JSON of the
    rest; `nanobook run --plan plan.json --yes` fills 2,430 AAPL (≈$450k: over both max_position 20 % and
    max_trade_notional $250k) and exits 7 (two later buys rejected for cash). The run's risk_check event just
    replays the saved PASS rows; the plan fingerprint does not cover the orders. Expected: the risk gate re-checks
    the orders it is about to send (exit 5) or the plan is refused (exit 4); nothing is placed.
    """
    doc = _save_plan(wd)
    first = doc["orders"][0]
    first["quantity"] = str(int(first["quantity"]) * 3)
    first["notional"] = str(int(first["quantity"]) * float(first["limit_price"]))
    doc["plan_sha256"] = _content_hash(doc)
    wd.write("plan.json", json.dumps(doc, indent=2) + "\n")
    result = wd.nb("run", "--plan", "plan.json", "--yes")
    assert result.returncode in (4, 5), str(result)
    assert "Traceback" not in result.stderr
    assert wd.venue_orders() == []


def test_plan_older_than_plan_max_age_is_refused(wd: Workdir) -> None:
    wd.config("[execution]\nplan_max_age_s = 1.0\n")
    doc = _save_plan(wd)
    created = datetime.fromisoformat(doc["created_at"])
    # The age is judged across processes by the wall clock: wait until the plan is clearly too old.
    wait_for(lambda: (datetime.now(UTC) - created).total_seconds() > 2.5, timeout=30, interval=0.1,
             message="the plan to age")
    result = wd.nb("run", "--plan", "plan.json", "--yes")
    assert_one_clean_error(result, 4, "stale", "old")
    assert wd.venue_orders() == []


def test_fresh_plan_within_max_age_runs(wd: Workdir) -> None:
    wd.config("[execution]\nplan_max_age_s = 600.0\n")
    _save_plan(wd)
    time.sleep(0.2)
    result = wd.nb("run", "--plan", "plan.json", "--yes")
    assert result.returncode == 0, str(result)
    assert len(wd.venue_orders()) == 8


def test_plan_whose_prices_moved_is_refused(wd: Workdir) -> None:
    _save_plan(wd)
    moved = wd.nb("sim", "set-price", "AAPL", "200.00")
    assert moved.returncode == 0, str(moved)
    result = wd.nb("run", "--plan", "plan.json", "--yes")
    assert_one_clean_error(result, 4, "stale", "AAPL", "price moved")
    assert wd.venue_orders() == []
