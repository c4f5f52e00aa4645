"""Settings files and the typed settings of a run.

`config.yaml` is read and written with PyYAML's safe loader/dumper (no Python objects, no code).
Values are checked against the config dataclass they are meant for: `build_config` turns a mapping
of field names to values (from a YAML file, from command-line flags, from a saved run) into a
dataclass instance, naming the source (file, flag) and the key of any value of the wrong type or
outside the field's sensible range (`setting(..., low=, high=, choices=)`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from inverse3d.common.errors import InputError

__all__ = [
    "ConfigError",
    "build_config",
    "check_config",
    "check_field",
    "config_to_dict",
    "dump_yaml",
    "load_yaml",
    "read_yaml_file",
    "write_yaml_file",
]


class ConfigError(InputError):
    """A settings file or value that cannot be used (names the source and the key)."""


# ----------------------------------------------------------------------------- YAML
def dump_yaml(values: Mapping[str, Any]) -> str:
    """YAML text of a mapping of plain values (str, int, float, bool, None, lists, dicts)."""
    return yaml.safe_dump(
        _plain(values), sort_keys=False, allow_unicode=True, default_flow_style=None, width=100
    )


def load_yaml(text: str, source: str = "<string>") -> dict[str, Any]:
    """The mapping in a YAML text; ConfigError naming `source` (and the line) otherwise."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({problem})") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: expected a mapping of settings; got {type(value).__name__}")
    return value


def read_yaml_file(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping in a YAML file. FileNotFoundError / ConfigError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: config file does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text (byte offset {e.start})") from None
    return load_yaml(text, str(p))


def write_yaml_file(path: str | os.PathLike, values: Mapping[str, Any]) -> None:
    """Write a mapping as YAML (atomically: temporary file, then rename)."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(dump_yaml(values), encoding="utf-8")
    os.replace(tmp, p)


def _plain(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    return v


# ----------------------------------------------------------------------------- dataclasses
def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a dict of plain values (tuples become lists)."""
    return {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """`value` as type `tp` (int, float, bool, str, X | None, tuple[X, ...]) or ConfigError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: unexpected value {value!r}")
    if origin in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list; got {value!r}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        items = [_coerce(item, x, f"{where}[{i}]") for i, x in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false; got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer; got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number; got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string; got {value!r}")
        return value
    raise ConfigError(f"{where}: settings of type {_describe(tp)} are not supported")


def check_field(f: dataclasses.Field, value: Any, source: str = "") -> None:
    """Check one field's value against its `setting` range; ConfigError naming `source`."""
    prefix = f"{source}: " if source else ""
    items = value if isinstance(value, (tuple, list)) else (value,)
    low, high = f.metadata.get("low"), f.metadata.get("high")
    choices = f.metadata.get("choices")
    for v in items:
        if isinstance(v, float) and math.isnan(v):
            raise ConfigError(f"{prefix}{f.name} must be a number; got nan")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if low is not None and v < low:
                raise ConfigError(f"{prefix}{f.name} must be >= {low}; got {v!r}")
            if high is not None and v > high:
                raise ConfigError(f"{prefix}{f.name} must be <= {high}; got {v!r}")
        if choices is not None and v not in choices:
            raise ConfigError(
                f"{prefix}{f.name} must be one of {', '.join(map(str, choices))}; got {v!r}"
            )


def check_config(config: Any, sources: Mapping[str, str] | None = None) -> Any:
    """Check every field of a config dataclass against its `setting` range; return the config.

    ConfigError "<source>: <field> must be ...; got ..." for NaN, values outside [low, high], or a
    string not among the choices; sources names where each field's value came from.
    """
    sources = sources or {}
    for f in dataclasses.fields(config):
        check_field(f, getattr(config, f.name), sources.get(f.name, ""))
    return config


def build_config(cls: type, values: Mapping[str, Any], sources: Mapping[str, str]) -> Any:
    """An instance of the config dataclass `cls` from `values` (the other fields at default).

    sources: {field name: where its value came from} ("runs/x/config.yaml", "--lr", ...), used in
    the messages. ConfigError for unknown keys, wrong types and values out of range.
    """
    types_ = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        src = sources.get(key, "")
        if key not in names:
            raise ConfigError(f"{src}: {key!r} is not a setting of {cls.__name__}")
        kwargs[key] = _coerce(types_[key], value, f"{src}: {key}" if src else key)
    try:
        config = cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad settings for {cls.__name__}: {e}") from e
    return check_config(config, sources)
