"""Base classes of the pluggable format interpreters used by `inverse3d.io.IO`.

An interpreter's `read` returns None and its `save` returns False when the path is not in its
format, so that `IO` can try the next one (PyTorch3D's protocol).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["MeshFormatInterpreter", "PointcloudFormatInterpreter", "endswith"]


def endswith(path: Any, suffixes: tuple[str, ...]) -> bool:
    """Whether `path` (str or os.PathLike) ends with one of `suffixes`, case-insensitively.

    A stream is judged by its ``name`` when it has a str one (an open file); a stream without a
    name is accepted by every format, as in PyTorch3D (the first interpreter tried reads it).
    """
    if isinstance(path, (str, os.PathLike)):
        return os.fspath(path).lower().endswith(tuple(s.lower() for s in suffixes))
    name = getattr(path, "name", None)
    if not isinstance(name, str):
        return True
    return name.lower().endswith(tuple(s.lower() for s in suffixes))


class MeshFormatInterpreter:
    """Reads and writes one mesh format. Subclasses implement `read` and `save`."""

    def read(self, path: Any, include_textures: bool, device: Any, path_manager: Any, **kwargs):
        """Return a Meshes, or None when `path` is not in this format."""
        raise NotImplementedError()

    def save(self, data: Any, path: Any, path_manager: Any, binary: bool | None, **kwargs) -> bool:
        """Write `data` and return True, or return False when `path` is not in this format."""
        raise NotImplementedError()


class PointcloudFormatInterpreter:
    """Reads and writes one point cloud format. Subclasses implement `read` and `save`."""

    def read(self, path: Any, device: Any, path_manager: Any, **kwargs):
        """Return a Pointclouds, or None when `path` is not in this format."""
        raise NotImplementedError()

    def save(self, data: Any, path: Any, path_manager: Any, binary: bool | None, **kwargs) -> bool:
        """Write `data` and return True, or return False when `path` is not in this format."""
        raise NotImplementedError()
