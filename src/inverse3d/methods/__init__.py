"""Reconstruction methods: each is a config dataclass plus `run(config, data, out_dir, resume=False,
progress=True) -> report dict`, registered by name in `REGISTRY`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inverse3d.methods import mesh_fit, nerf, volume

__all__ = ["REGISTRY", "DEFAULT_METHOD", "get_method"]

DEFAULT_METHOD = "mesh"

REGISTRY: dict[str, tuple[type, Callable[..., dict[str, Any]]]] = {
    "mesh": (mesh_fit.MeshFitConfig, mesh_fit.run),
    "volume": (volume.VolumeConfig, volume.run),
    "nerf": (nerf.NerfConfig, nerf.run),
}


def get_method(name: str) -> tuple[type, Callable[..., dict[str, Any]]]:
    """(ConfigDataclass, run) of the method called `name`; ValueError naming the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]
