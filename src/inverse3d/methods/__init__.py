"""Reconstruction methods: each module is a config dataclass plus `fit(config, scene, loop)`,
registered by name with `methods.base.register` (see base.py). Every module of this package is
imported here, so a new method is one new file and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil

from inverse3d.methods.base import REGISTRY, Method, Reconstruction, get_method, register, setting

__all__ = [
    "DEFAULT_METHOD",
    "REGISTRY",
    "Method",
    "Reconstruction",
    "get_method",
    "register",
    "setting",
]

DEFAULT_METHOD = "mesh"

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_") and _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")
