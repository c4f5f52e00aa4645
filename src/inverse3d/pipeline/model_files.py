"""Trained-model files of the learning verbs (train-mesh-head, train-synsin, train-giraffe).

A model file is `torch.save` of a plain dict: {"format": a string naming the kind and version,
"config": the settings dataclass as a dict, and one or more state dicts of CPU tensors}. It is
read back with `torch.load(weights_only=True)` (nothing is unpickled beyond tensors and plain
containers) and its config goes through `build_config` (unknown keys, wrong types and values out
of range are refused, naming the file and the key).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from inverse3d.common.errors import InputError
from inverse3d.pipeline.config import build_config

__all__ = ["load_model_file", "save_model_file"]


def save_model_file(
    path: str | Path, fmt: str, config: Any, state_dicts: Mapping[str, torch.nn.Module]
) -> None:
    """Write a model file: `state_dicts` maps a key ("state_dict", "generator", ...) to a module
    whose weights are stored as CPU tensors; `config` is a settings dataclass."""
    if not isinstance(fmt, str) or not fmt:
        raise ValueError(f"fmt must be a non-empty string; got {fmt!r}")
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"config must be a settings dataclass; got {type(config).__name__}")
    payload: dict[str, Any] = {"format": fmt, "config": dataclasses.asdict(config)}
    for key, module in state_dicts.items():
        payload[key] = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    torch.save(payload, path)


def load_model_file(
    path: str | Path,
    fmt: str,
    config_cls: type,
    build: Callable[[Any], torch.nn.Module],
    key: str = "state_dict",
    device: str | torch.device = "cpu",
) -> tuple[torch.nn.Module, Any]:
    """(model in eval mode on `device`, config) from a model file of format `fmt`: the config is
    rebuilt as `config_cls` (checked), the model by `build(config)`, its weights from `key`.
    InputError naming the file for anything that is not such a model file."""
    name = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"{name}: no such model file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any failure to parse a user's file is bad input (struct.error, ...)
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise InputError(f"{name}: not a model file ({first})") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise InputError(f"{name}: not a {fmt} model file")
    cfg_raw = payload.get("config")
    if not isinstance(cfg_raw, dict):
        raise InputError(f"{name}: no config in the model file")
    # unknown keys, wrong types, values out of range: ConfigError naming the file and the key
    cfg = build_config(config_cls, cfg_raw, {k: f"{name} config" for k in cfg_raw})
    try:
        model = build(cfg)
        model.load_state_dict(payload[key])
    except (KeyError, RuntimeError, ValueError) as e:
        raise InputError(f"{name}: weights do not fit the config ({str(e)[:200]})") from None
    return model.to(device).eval(), cfg
