"""Loading the config and target for a command, with the one-line notice when built-in defaults apply."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from configs.loader import LoadedConfig
    from engine.rebalance.pipeline import PlanInputs


def load_config_for(path: Path | None, *, quiet: bool = False) -> LoadedConfig:
    """Load config.toml (or defaults, announced once on stderr)."""
    from configs.loader import load_config

    loaded = load_config(path, required=path is not None)
    if loaded.notice and not quiet:
        sys.stderr.write(loaded.notice + "\n")
    return loaded


def load_plan_inputs(target: Path, config_path: Path | None, *, quiet: bool = False) -> PlanInputs:
    """Config + target → PlanInputs (raises ConfigError/TargetError → exit 4)."""
    from configs.loader import load_target
    from engine.rebalance.pipeline import PlanInputs

    loaded = load_config_for(config_path, quiet=quiet)
    tgt = load_target(target)
    return PlanInputs(target=tgt.target, target_path=target, target_sha256=tgt.sha256, config=loaded.config,
                      config_sha256=loaded.sha256, broker_kind=loaded.config.broker.kind)
