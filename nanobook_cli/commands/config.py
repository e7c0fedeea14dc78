"""`nanobook config init|show|validate`: create, inspect and check config.toml (and optionally a target.json).

A thin layer over `configs` (imported lazily so `nanobook --help` stays fast): it renders, it never validates.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from configs.loader import LoadedConfig, LoadedTarget

app = typer.Typer(
    name="config",
    help="Create, show and validate config.toml (and check a target.json against it).\n\n"
    "Exit codes: 0 ok · 2 usage · 4 invalid or unwritable config/target (every issue on stderr, one per line).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_CONFIG_HELP = "Config file (default: ./config.toml; built-in defaults when that does not exist)."
_JSON_HELP = "Print one JSON envelope on stdout."


def _stop(issues: list[str], *, code: int = 4, prefix: str = "") -> NoReturn:
    for issue in issues:
        sys.stderr.write(f"{prefix}{issue}\n")
    sys.stderr.flush()
    raise typer.Exit(code)


@app.command("init")
def init(
    path: Path = typer.Option(Path("config.toml"), "--path", "--config", readable=False,
                              help="Where to write the file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a config.toml with every key at its safe paper-trading default, each explained by a comment.

    Refuses to overwrite an existing file without --force. Exit codes: 0 written · 4 exists or unwritable.
    """
    from configs.errors import ConfigError
    from configs.writer import write_config_file
    from nanobook_cli.output.envelope import begin

    begin("config init", False)
    try:
        write_config_file(path, force=force)
    except ConfigError as exc:
        _stop([str(exc)], prefix="nanobook config init: error: ")
    sys.stdout.write(f"wrote {path} (edit it, then check it with `nanobook config validate {path}`)\n")


@app.command("show")
def show(
    config_path: Path | None = typer.Option(None, "--config", readable=False, help=_CONFIG_HELP, show_default=False),
    json_out: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Print the effective configuration (secrets redacted) and whether built-in defaults are in use.

    Exit codes: 0 ok · 4 invalid config (every issue on stderr).
    """
    from configs.errors import ConfigError
    from configs.loader import load_config
    from configs.models import redacted_secrets
    from configs.writer import render_config_toml
    from nanobook_cli.output.envelope import begin, emit

    begin("config show", json_out)
    try:
        loaded = load_config(config_path)
    except ConfigError as exc:
        if json_out:
            emit("error", 4, {"config": _config_failure(config_path, exc.issues)}, _errors("ConfigError", exc.issues))
        _stop(exc.issues)
    if loaded.notice:
        sys.stderr.write(loaded.notice + "\n")
    secrets = redacted_secrets()
    if json_out:
        emit("ok", 0, {**_config_summary(loaded), "config": loaded.config.model_dump(mode="json"),
                       "secrets": secrets})
        return
    source = ("built-in defaults (no config.toml in the working directory)" if loaded.path is None
              else f"{loaded.path} (sha256 {loaded.sha256})")
    lines = [f"# effective configuration from {source}", render_config_toml(loaded.config, comments=False).rstrip(),
             "", "# secrets (environment only, never in config.toml):"]
    lines += [f"#   {name} = {value or '(not set)'}" for name, value in secrets.items()]
    sys.stdout.write("\n".join(lines) + "\n")


@app.command("validate")
def validate(
    path: Path | None = typer.Argument(None, readable=False, help="Config file to check (default: ./config.toml).",
                                       show_default=False),
    config_path: Path | None = typer.Option(None, "--config", readable=False, help="Same as PATH.", show_default=False),
    target: Path | None = typer.Option(None, "--target", readable=False,
                                       help="Also check this target.json (and that its "
                                       "constraints only tighten the config's risk limits).", show_default=False),
    json_out: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Check a config file (and optionally a target file), reporting every issue at once as file:LINE.

    Exit codes: 0 valid · 2 usage · 4 invalid (every issue on stderr, one per line).
    """
    from configs.errors import ConfigError
    from configs.loader import load_config
    from nanobook_cli.output.envelope import begin, emit

    begin("config validate", json_out)
    if path is not None and config_path is not None and path != config_path:
        message = "give the config file once, as PATH or with --config"
        if json_out:
            emit("error", 2, errors=[{"type": "UsageError", "message": message}])
        _stop([message], code=2, prefix="nanobook config validate: error: ")
    chosen = path if path is not None else config_path
    issues: list[str] = []
    errors: list[dict[str, Any]] = []
    data: dict[str, Any] = {}
    loaded: LoadedConfig | None = None
    try:
        loaded = load_config(chosen)
        data["config"] = {**_config_summary(loaded), "valid": True, "issues": []}
    except ConfigError as exc:
        issues += exc.issues
        errors += _errors("ConfigError", exc.issues)
        data["config"] = _config_failure(chosen, exc.issues)
    if loaded is not None and loaded.notice:
        sys.stderr.write(loaded.notice + "\n")
    if target is not None:
        target_issues, data["target"] = _check_target(target, loaded)
        issues += target_issues
        errors += _errors("TargetError", target_issues)
    if issues:
        if json_out:
            emit("error", 4, data, errors)
        _stop(issues)
    if json_out:
        emit("ok", 0, data)
        return
    _render_valid(data)


def _check_target(target: Path, loaded: LoadedConfig | None) -> tuple[list[str], dict[str, Any]]:
    from configs.errors import TargetError
    from configs.loader import load_target
    from configs.target import effective_risk
    from nanobook_cli.output.envelope import warn

    try:
        found = load_target(target)
    except TargetError as exc:
        return exc.issues, {"path": str(target), "valid": False, "issues": exc.issues}
    issues: list[str] = []
    if loaded is not None:
        try:
            effective_risk(loaded.config.risk, found.target.constraints, source=str(target))
        except TargetError as exc:
            issues = exc.issues
        if found.target.short_weight and not loaded.config.risk.allow_short:
            message = (f"{target}: has short (negative) weights but risk.allow_short = false; "
                       "the risk gate will reject the orders that open or grow them")
            warn("short_not_allowed", message)
            sys.stderr.write(f"warning: {message}\n")
    return issues, {**_target_summary(found), "valid": not issues, "issues": issues}


def _config_summary(loaded: LoadedConfig) -> dict[str, Any]:
    return {"path": str(loaded.path) if loaded.path is not None else None, "sha256": loaded.sha256,
            "defaulted": loaded.defaulted}


def _config_failure(path: Path | None, issues: list[str]) -> dict[str, Any]:
    return {"path": str(path or "config.toml"), "sha256": None, "defaulted": False, "valid": False,
            "issues": issues}


def _target_summary(found: LoadedTarget) -> dict[str, Any]:
    target = found.target
    return {"path": str(found.path), "sha256": found.sha256, "scope": target.scope,
            "timestamp": target.timestamp.isoformat(), "targets": len(target.targets),
            "long_weight": str(target.long_weight), "short_weight": str(target.short_weight)}


def _errors(kind: str, issues: list[str]) -> list[dict[str, Any]]:
    return [{"type": kind, "message": issue} for issue in issues]


def _render_valid(data: dict[str, Any]) -> None:
    config = data["config"]
    if config["path"] is None:
        lines = ["built-in defaults: valid (no config.toml in the working directory)"]
    else:
        lines = [f"{config['path']}: valid"]
    target = data.get("target")
    if target is not None:
        lines.append(f"{target['path']}: valid — {target['targets']} targets, long {target['long_weight']}, "
                     f"short {target['short_weight']}, scope {target['scope']}")
    sys.stdout.write("\n".join(lines) + "\n")
