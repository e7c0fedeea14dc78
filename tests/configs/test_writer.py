"""configs.writer: the rendered config explains every key, round-trips through load_config, and is written safely."""

from __future__ import annotations

import stat
import tempfile
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from configs.errors import ConfigError
from configs.loader import load_config
from configs.models import NanobookConfig
from configs.writer import render_config_toml, write_config_file

REPO = Path(__file__).resolve().parents[2]


def test_committed_examples_equal_the_rendered_defaults() -> None:
    rendered = render_config_toml()
    assert (REPO / "config.toml.example").read_text(encoding="utf-8") == rendered
    assert (REPO / "configs" / "examples" / "config.toml").read_text(encoding="utf-8") == rendered


def test_every_table_and_key_is_rendered_with_a_one_line_comment() -> None:
    lines = render_config_toml().splitlines()
    for table, field in NanobookConfig.model_fields.items():
        header = lines.index(f"[{table}]")
        assert lines[header - 1].startswith("# "), table
        section = _model(field)
        for key, info in section.model_fields.items():
            assert info.description and "\n" not in info.description, f"{table}.{key} needs a description"
            at = next(i for i in range(header, len(lines)) if lines[i].startswith(f"{key} = "))
            assert lines[at - 1].startswith("# "), f"{table}.{key}"


def test_defaults_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(render_config_toml(), encoding="utf-8")
    loaded = load_config(path)
    assert loaded.config == NanobookConfig() and not loaded.defaulted


def test_non_default_values_note_the_default(tmp_path: Path) -> None:
    cfg = NanobookConfig.model_validate({"risk": {"max_leverage": 2}, "ibkr": {"account": 'DU"1\\'}})
    text = render_config_toml(cfg)
    assert "max_leverage = 2.0" in text and "Default: 1.0." in text
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    assert load_config(path).config == cfg


def test_comment_free_rendering_is_valid_toml() -> None:
    text = render_config_toml(comments=False)
    assert "#" not in text.replace('"http://127.0.0.1:8765"', "")
    assert NanobookConfig.model_validate(tomllib.loads(text)) == NanobookConfig()


# --- property: render → load is the identity over generated configs ---------------------------------------------


def _model(field: FieldInfo) -> type[BaseModel]:
    assert isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    return field.annotation


def _bounds(info: FieldInfo) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for rule in info.metadata:
        for name in ("gt", "ge", "lt", "le"):
            if getattr(rule, name, None) is not None:
                found[name] = getattr(rule, name)
    return found


_TEXT = {
    "path": st.from_regex(r"[a-z0-9_]{1,8}(/[a-z0-9_.-]{1,8}){0,2}\.jsonl", fullmatch=True),
    "host": st.from_regex(r"[a-z0-9.-]{1,20}", fullmatch=True),
    "account": st.text(max_size=12),
    "base_url": st.from_regex(r"https?://[a-z0-9.]{1,12}(:[0-9]{2,5})?", fullmatch=True),
    "quote_asset": st.from_regex(r"[A-Z0-9]{2,10}", fullmatch=True),
}


def _strategy(key: str, info: FieldInfo) -> st.SearchStrategy[Any]:
    kind = info.annotation
    b = _bounds(info)
    low, high = b.get("ge", b.get("gt")), b.get("le", b.get("lt"))
    if get_origin(kind) is Literal:
        return st.sampled_from(get_args(kind))
    if kind is bool:
        return st.booleans()
    if kind is int:
        return st.integers(min_value=(low + ("gt" in b)) if low is not None else -(10**6), max_value=high)
    if kind is float:
        return st.floats(min_value=low, max_value=high, exclude_min="gt" in b, allow_nan=False, allow_infinity=False)
    if kind is Decimal:
        return st.decimals(min_value=low, max_value=Decimal("1e9"), places=4, allow_nan=False,
                           allow_infinity=False).filter(lambda d: "gt" not in b or d > b["gt"])
    return _TEXT[key]


def _section(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={k: _strategy(k, i) for k, i in model.model_fields.items()})


CONFIGS = st.fixed_dictionaries({}, optional={t: _section(_model(f)) for t, f in NanobookConfig.model_fields.items()})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONFIGS)
def test_render_then_load_round_trips(values: dict[str, Any]) -> None:
    try:
        cfg = NanobookConfig.model_validate(values)
    except ValidationError:
        reject()  # e.g. min_trade_notional above max_trade_notional
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(render_config_toml(cfg), encoding="utf-8")
        assert load_config(path).config == cfg


# --- write_config_file --------------------------------------------------------------------------------------------


def test_write_creates_0644_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    write_config_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_text(encoding="utf-8") == render_config_toml()
    path.write_text("# mine\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        write_config_file(path)
    assert str(info.value) == f"{path}: already exists (fix: pass --force to overwrite it)"
    assert path.read_text(encoding="utf-8") == "# mine\n"
    write_config_file(path, force=True)
    assert path.read_text(encoding="utf-8") == render_config_toml()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]  # no temp files left behind


def test_write_into_a_missing_directory_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write"):
        write_config_file(tmp_path / "missing" / "config.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        write_config_file(tmp_path)
