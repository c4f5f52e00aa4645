"""`load_scene`: read posed images from any supported format, detected from the files present."""

from __future__ import annotations

import os
from pathlib import Path

from inverse3d.datasets._common import as_path, require_exists
from inverse3d.structures.scene import SceneData

__all__ = ["load_scene", "detect_format", "FORMATS"]

FORMATS = ("folder", "blender", "colmap", "dtu", "turntable")


def detect_format(path: str | os.PathLike) -> str:
    """The format of a scene folder (or of its camera file): one of `FORMATS`.

    folder: cameras.json; blender: transforms*.json; colmap: cameras.txt + images.txt in the
    folder, sparse/ or sparse/0/; dtu: cameras.npz; turntable: turntable.json.
    """
    p = require_exists(as_path(path))
    if p.is_file():
        name = p.name
        if name == "cameras.json":
            return "folder"
        if name.startswith("transforms") and name.endswith(".json"):
            return "blender"
        if name.endswith(".npz"):
            return "dtu"
        if name in ("cameras.txt", "images.txt"):
            return "colmap"
        if name == "turntable.json":
            return "turntable"
        raise ValueError(
            f"{p}: unknown scene file (expected cameras.json, transforms*.json, "
            "cameras.npz, turntable.json or a COLMAP cameras.txt)"
        )
    if (p / "cameras.json").is_file():
        return "folder"
    if (p / "transforms_train.json").is_file() or (p / "transforms.json").is_file():
        return "blender"
    if (p / "cameras.npz").is_file():
        return "dtu"
    if (p / "turntable.json").is_file():
        return "turntable"
    for d in (p / "sparse" / "0", p / "sparse", p):
        if (d / "cameras.txt").is_file() or (d / "cameras.bin").is_file():
            return "colmap"
    raise ValueError(
        f"{p}: no scene found (looked for cameras.json, transforms.json, transforms_train.json, "
        "cameras.npz, turntable.json, sparse/0/cameras.txt)"
    )


def load_scene(path: str | os.PathLike, format: str | None = None, **kwargs) -> SceneData:
    """Load a scene, detecting its format unless `format` is given.

    Args:
        path: scene folder or its camera file.
        format: one of "folder", "blender", "colmap", "dtu", "turntable", or None to detect.
        **kwargs: passed to the format's reader (background=, downscale=, ...).

    Returns:
        SceneData with NDC PerspectiveCameras (image_size set), one per image.

    Raises:
        ValueError: naming the file and the problem: missing path, no known scene, images of
            different sizes, a camera missing for an image, NaN in cameras, unreadable image,
            masks of the wrong size.
    """
    p = require_exists(as_path(path))
    fmt = detect_format(p) if format is None else format
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)} or None; got {format!r}")
    if fmt == "folder":
        from inverse3d.datasets.folder import load_folder_scene as reader
    elif fmt == "blender":
        from inverse3d.datasets.blender import load_blender_scene as reader
    elif fmt == "colmap":
        from inverse3d.datasets.colmap import load_colmap_scene as reader

        if p.is_file():
            p = _colmap_root(p)
    elif fmt == "turntable":
        from inverse3d.datasets.turntable import load_turntable_scene as reader
    else:
        from inverse3d.datasets.dtu import load_dtu_scene as reader
    return reader(p, **kwargs)


def _colmap_root(model_file: Path) -> Path:
    """The scene folder (the one holding images/) above a COLMAP model file."""
    for d in (model_file.parent, *model_file.parents):
        if (d / "images").is_dir():
            return d
    return model_file.parent
