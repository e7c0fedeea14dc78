"""`nanobook config init|show|validate` through the real error funnel (`nanobook_cli.app.main`) in a subprocess.

Registers the sub-app on the root app when it is not registered yet, so these tests run before and after wiring.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from configs.writer import render_config_toml
from nanobook_cli.commands import config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_TARGET = REPO / "configs" / "examples" / "target.json"
ENV = {k: v for k, v in os.environ.items() if not k.startswith("NANOBOOK_")} | {"NO_COLOR": "1", "COLUMNS": "120"}
MAIN = (
    "import sys\n"
    "from nanobook_cli import app as root\n"
    "from nanobook_cli.commands import config\n"
    "if not any(g.name == 'config' for g in root.app.registered_groups):\n"
    "    root.app.add_typer(config.app, name='config')\n"
    "root.main()\n"
)


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", MAIN, "config", *args], cwd=cwd, capture_output=True, text=True,
                          env={**ENV, **(env or {})}, timeout=120, check=False)


def envelope(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert doc["schema_version"] == "1"
    return doc


# --- init -----------------------------------------------------------------------------------------------------


def test_init_writes_the_commented_defaults_0644_and_refuses_to_overwrite(tmp_path: Path) -> None:
    proc = run(tmp_path, "init")
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "config.toml"
    assert path.read_text(encoding="utf-8") == render_config_toml()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert proc.stdout.startswith("wrote config.toml")

    path.write_text("# hand-edited\n", encoding="utf-8")
    again = run(tmp_path, "init")
    assert again.returncode == 4 and again.stdout == ""
    assert again.stderr.splitlines() == [
        "nanobook config init: error: config.toml: already exists (fix: pass --force to overwrite it)"]
    assert path.read_text(encoding="utf-8") == "# hand-edited\n"

    forced = run(tmp_path, "init", "--force")
    assert forced.returncode == 0, forced.stderr
    assert path.read_text(encoding="utf-8") == render_config_toml()


def test_init_accepts_path_and_config_options(tmp_path: Path) -> None:
    assert run(tmp_path, "init", "--path", "a.toml").returncode == 0
    assert run(tmp_path, "init", "--config", "b.toml").returncode == 0
    assert (tmp_path / "a.toml").is_file() and (tmp_path / "b.toml").is_file()
    proc = run(tmp_path, "init", "--path", "missing/dir/c.toml")
    assert proc.returncode == 4 and len(proc.stderr.splitlines()) == 1 and "cannot write" in proc.stderr


# --- validate ---------------------------------------------------------------------------------------------------


def test_validate_defaults_when_no_file(tmp_path: Path) -> None:
    proc = run(tmp_path, "validate")
    assert proc.returncode == 0
    assert proc.stdout == "built-in defaults: valid (no config.toml in the working directory)\n"
    assert proc.stderr.startswith("note: no config.toml in the working directory; using built-in defaults")


def test_validate_reports_every_issue_on_stderr_and_exits_4(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        "[risk]\nmax_leverag = 2\nmax_position_pct = nan\n\n[execution]\nmax_retries = 2.0\n", encoding="utf-8")
    proc = run(tmp_path, "validate")
    assert proc.returncode == 4
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "config.toml:2 risk.max_leverag = 2 → unknown key (fix: remove it; did you mean 'max_leverage'?)",
        "config.toml:3 risk.max_position_pct = nan → must be a finite number (nan and inf are not allowed) "
        "(fix: use a value > 0 and ≤ 1, e.g. the default 0.25)",
        "config.toml:6 execution.max_retries = 2.0 → must be an integer, not a float "
        "(fix: write 2 without a decimal point)",
    ]


def test_validate_json_error_envelope(tmp_path: Path) -> None:
    (tmp_path / "prod.toml").write_text("[ibkr]\nport = 0\n", encoding="utf-8")
    proc = run(tmp_path, "validate", "prod.toml", "--json")
    assert proc.returncode == 4
    doc = envelope(proc)
    assert doc["command"] == "config validate" and doc["status"] == "error" and doc["exit_code"] == 4
    line = "prod.toml:2 ibkr.port = 0 → must be ≥ 1 (fix: use a value from 1 to 65535, e.g. the default 7497)"
    assert doc["errors"] == [{"type": "ConfigError", "message": line}]
    assert doc["data"]["config"]["valid"] is False and doc["data"]["config"]["issues"] == [line]
    assert proc.stderr.splitlines() == [line]


def test_validate_config_and_target_ok(tmp_path: Path) -> None:
    shutil.copy(REPO / "config.toml.example", tmp_path / "config.toml")
    proc = run(tmp_path, "validate", "--target", str(EXAMPLE_TARGET))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [
        "config.toml: valid",
        f"{EXAMPLE_TARGET}: valid — 8 targets, long 0.95, short 0, scope example-2026-11",
    ]
    doc = envelope(run(tmp_path, "validate", "--config", "config.toml", "--target", str(EXAMPLE_TARGET), "--json"))
    assert doc["status"] == "ok" and doc["exit_code"] == 0 and doc["errors"] == []
    assert doc["data"]["config"]["defaulted"] is False and len(doc["data"]["config"]["sha256"]) == 64
    target = doc["data"]["target"]
    assert target["targets"] == 8 and target["long_weight"] == "0.95" and target["valid"] is True


def test_validate_reports_config_and_target_issues_together(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[kill]\ntimeout_s = -1\n", encoding="utf-8")
    (tmp_path / "t.json").write_text('{"timestamp": "2026-11-02T21:00:00Z", "targets": []}', encoding="utf-8")
    proc = run(tmp_path, "validate", "--target", "t.json")
    assert proc.returncode == 4
    lines = proc.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("config.toml:2 kill.timeout_s = -1 → must be > 0")
    assert lines[1].startswith("t.json:1 targets → targets list is empty")


def test_validate_refuses_constraints_that_loosen_the_config(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text(json.dumps({
        "timestamp": "2026-11-02T21:00:00Z", "targets": [{"symbol": "AAPL", "weight": 0.5}],
        "constraints": {"max_position_pct": 0.6}}), encoding="utf-8")
    proc = run(tmp_path, "validate", "--target", "t.json")
    assert proc.returncode == 4
    assert proc.stderr.splitlines()[-1] == (
        "t.json: constraints.max_position_pct = 0.6 → looser than config risk.max_position_pct = 0.25; "
        "constraints may only tighten limits (fix: use a value ≤ 0.25 or remove it)")


def test_validate_warns_about_shorts_when_shorting_is_off(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text(json.dumps({
        "timestamp": "2026-11-02T21:00:00Z", "targets": [{"symbol": "AAPL", "weight": -0.1}]}), encoding="utf-8")
    doc = envelope(run(tmp_path, "validate", "--target", "t.json", "--json"))
    assert doc["status"] == "ok"
    assert [w["code"] for w in doc["warnings"]] == ["short_not_allowed"]


def test_validate_path_given_twice_is_a_usage_error(tmp_path: Path) -> None:
    proc = run(tmp_path, "validate", "a.toml", "--config", "b.toml")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "nanobook config validate: error: give the config file once, as PATH or with --config"]


# --- show -------------------------------------------------------------------------------------------------------


def test_show_defaults_with_redacted_secrets(tmp_path: Path) -> None:
    secrets = {"NANOBOOK_BINANCE_API_KEY": "key-do-not-print", "NANOBOOK_BINANCE_API_SECRET": "secret-do-not-print"}
    proc = run(tmp_path, "show", env=secrets)
    assert proc.returncode == 0, proc.stderr
    assert "do-not-print" not in proc.stdout + proc.stderr
    assert proc.stdout.startswith("# effective configuration from built-in defaults")
    assert "#   NANOBOOK_BINANCE_API_KEY = **********" in proc.stdout
    assert proc.stderr.startswith("note: no config.toml in the working directory")

    doc = envelope(run(tmp_path, "show", "--json", env={"NANOBOOK_BINANCE_API_KEY": "key-do-not-print"}))
    assert "do-not-print" not in json.dumps(doc)
    assert doc["data"]["defaulted"] is True and doc["data"]["path"] is None
    assert doc["data"]["secrets"] == {"NANOBOOK_BINANCE_API_KEY": "**********", "NANOBOOK_BINANCE_API_SECRET": None}
    assert doc["data"]["config"]["risk"]["min_trade_notional"] == "100"
    assert doc["data"]["config"]["broker"]["kind"] == "sim"


def test_show_a_file(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("[broker]\nkind = 'ibkr'\n", encoding="utf-8")
    proc = run(tmp_path, "show", "--config", "c.toml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("# effective configuration from c.toml (sha256 ")
    assert '[broker]\nkind = "ibkr"\n' in proc.stdout


def test_show_invalid_or_missing_config_exits_4(tmp_path: Path) -> None:
    proc = run(tmp_path, "show", "--config", "nope.toml")
    assert proc.returncode == 4
    assert proc.stderr.splitlines() == ["nope.toml: file not found (fix: check the path)"]
    (tmp_path / "config.toml").write_text("[risk\n", encoding="utf-8")
    doc = envelope(run(tmp_path, "show", "--json"))
    assert doc["status"] == "error" and doc["exit_code"] == 4
    assert doc["errors"][0]["message"].startswith("config.toml:1: invalid TOML:")


# --- in-process and import hygiene ------------------------------------------------------------------------------


def test_sub_app_runs_in_process(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(config.app, ["validate"])
    assert result.exit_code == 0
    assert "built-in defaults: valid" in result.stdout


def test_importing_the_command_module_stays_light() -> None:
    code = ("import sys\nimport nanobook_cli.commands.config\n"
            "print(','.join(m for m in ('pydantic', 'configs.models', 'tomli_w') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
