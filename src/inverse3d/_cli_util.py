"""What the command-line modules share: the one-line usage error and mesh loading."""

from __future__ import annotations

from pathlib import Path

__all__ = ["UsageError", "load_mesh_file"]


class UsageError(ValueError):
    """Bad command-line input (reported in one line, exit code 2)."""


def load_mesh_file(path_str: str):
    """Meshes (batch of 1, no textures) of an OBJ/PLY/OFF file; errors name the file."""
    path = Path(path_str)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such mesh file")
    from inverse3d.io.pluggable import IO

    try:
        return IO().load_mesh(path, include_textures=False)
    except (ValueError, OSError) as e:
        msg = str(e)
        raise ValueError(msg if str(path) in msg else f"{path}: {msg}") from e
