"""What the command-line modules share: the one-line usage error and file loading."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["UsageError", "load_mesh_file", "load_points_file"]


class UsageError(ValueError):
    """Bad command-line input (reported in one line, exit code 2)."""


def _load(path_str: str, what: str, load: Callable[[Any, Path], Any]):
    """load(IO(), path) with a missing file or a reader error reported as "path: reason"."""
    path = Path(path_str)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what} file")
    from inverse3d.io.pluggable import IO

    try:
        return load(IO(), path)
    except (ValueError, OSError) as e:
        msg = str(e)
        raise ValueError(msg if str(path) in msg else f"{path}: {msg}") from e


def load_mesh_file(path_str: str, include_textures: bool = False):
    """Meshes (batch of 1) of an OBJ/PLY/OFF file; errors name the file."""
    return _load(path_str, "mesh", lambda io, p: io.load_mesh(p, include_textures=include_textures))


def load_points_file(path_str: str):
    """Pointclouds (batch of 1) of a PLY/OBJ/OFF file (its vertices); errors name the file."""
    return _load(path_str, "point", lambda io, p: io.load_pointcloud(p))
