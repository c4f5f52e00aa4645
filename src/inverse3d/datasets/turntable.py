"""Turntable captures: a folder of images taken around an object plus three numbers.

Layout (docs/methods.md, section "silhouette", "Turntable captures")::

    scene/
      turntable.json   {"distance": 4.0, "elevation": 15.0, "views": 72,
                        "fov": 30.0, "start_azimuth": 0.0, "direction": 1}
      images/000.png   N images in turntable order (sorted by name), or the images in scene/
      masks/000.png    optional, same stems; RGBA images give their alpha as the mask

The object sits at the origin on a turntable that turns by 360 / views degrees between images
(ALOI: 72 views every 5 degrees); the camera looks at the origin from `distance` (any unit: the
reconstruction is normalised) at `elevation` degrees above the turntable's plane. Image i is seen
from azimuth start_azimuth + direction * i * 360 / views degrees (PyTorch3D's
`look_at_view_transform` convention, +Y up). "views" defaults to the number of images and must
equal it when given. "fov" (degrees across the shorter image side, default 30) sets the
intrinsics: for a distant object only distance / fov matters, so a guess gives a scaled but
otherwise right reconstruction. Without masks, `inverse3d reconstruct --method silhouette`
computes them (`--masks auto`).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from inverse3d.datasets._common import (
    as_path,
    find_image,
    list_images,
    load_images,
    require_exists,
)
from inverse3d.structures.scene import SceneData

__all__ = ["TURNTABLE_FILE", "load_turntable_scene", "turntable_cameras"]

TURNTABLE_FILE = "turntable.json"


def turntable_cameras(
    n_views: int,
    distance: float,
    elevation: float,
    image_size: tuple[int, int],
    fov: float = 30.0,
    start_azimuth: float = 0.0,
    direction: int = 1,
):
    """NDC PerspectiveCameras of a turntable capture (see the module docstring).

    n_views: >= 1 images over 360 degrees; distance: > 0; elevation, fov, start_azimuth:
    degrees (0 < fov < 180); direction: +1 or -1; image_size: (H, W).
    Returns: n_views PerspectiveCameras with image_size set.
    """
    from inverse3d.renderer.cameras import PerspectiveCameras
    from inverse3d.renderer.look_at import look_at_view_transform

    if isinstance(n_views, bool) or not isinstance(n_views, int) or n_views < 1:
        raise ValueError(f"n_views must be an int >= 1; got {n_views!r}")
    vals = {
        "distance": distance,
        "elevation": elevation,
        "fov": fov,
        "start_azimuth": start_azimuth,
    }
    for k, v in vals.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{k} must be a finite number; got {v!r}")
    if distance <= 0:
        raise ValueError(f"distance must be > 0; got {distance}")
    if not 0 < fov < 180:
        raise ValueError(f"fov must be in (0, 180) degrees; got {fov}")
    if direction not in (1, -1):
        raise ValueError(f"direction must be 1 or -1; got {direction!r}")
    azim = [start_azimuth + direction * 360.0 * i / n_views for i in range(n_views)]
    R, T = look_at_view_transform(dist=float(distance), elev=float(elevation), azim=azim)
    focal = 1.0 / math.tan(math.radians(fov) / 2.0)
    h, w = int(image_size[0]), int(image_size[1])
    return PerspectiveCameras(
        focal_length=torch.full((n_views, 1), focal),
        principal_point=torch.zeros(n_views, 2),
        R=R,
        T=T,
        image_size=torch.tensor([[h, w]] * n_views),
    )


def _number(meta: dict, key: str, default: Any, where: Path) -> Any:
    v = meta.get(key, default)
    if v is None:
        raise ValueError(f"{where}: {key!r} is required (a number)")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{where}: {key} must be a finite number; got {v!r}")
    return v


def load_turntable_scene(
    path: str | os.PathLike, background: Any = "white", downscale: int = 1
) -> SceneData:
    """Read a turntable capture (see the module docstring).

    Args:
        path: the scene folder or its turntable.json.
        background: 'white', 'black' or (r, g, b): RGBA images are composited on it.
        downscale: integer factor to shrink the images by.

    Returns:
        SceneData with NDC PerspectiveCameras; masks from masks/ or the images' alpha, else
        None; extra holds the three numbers and the image names.

    Raises:
        ValueError: naming the file and the problem (bad JSON, a missing or non-numeric
            distance/elevation, views that differ from the number of images, no images,
            images of different sizes).
    """
    root = require_exists(as_path(path))
    meta_file = root if root.is_file() else root / TURNTABLE_FILE
    root = meta_file.parent
    require_exists(meta_file)
    try:
        meta = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{meta_file}: not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_file}: expected a JSON object")
    distance = _number(meta, "distance", None, meta_file)
    elevation = _number(meta, "elevation", None, meta_file)
    fov = _number(meta, "fov", 30.0, meta_file)
    start = _number(meta, "start_azimuth", 0.0, meta_file)
    direction = meta.get("direction", 1)
    img_dir = root / "images" if (root / "images").is_dir() else root
    paths = list_images(img_dir)
    if not paths:
        raise ValueError(f"{img_dir}: no images (.png or .jpg) found for {meta_file}")
    views = meta.get("views", len(paths))
    if isinstance(views, bool) or not isinstance(views, int) or views != len(paths):
        raise ValueError(
            f"{meta_file}: views must be the number of images ({len(paths)} in {img_dir}); "
            f"got {views!r}"
        )
    mask_dir = root / "masks"
    mask_paths = None
    if mask_dir.is_dir():
        mask_paths = [find_image(mask_dir, p.stem) for p in paths]
    images, masks, _size = load_images(paths, mask_paths, background, downscale)
    h, w = images.shape[1:3]
    try:
        cameras = turntable_cameras(views, distance, elevation, (h, w), fov, start, direction)
    except ValueError as e:
        raise ValueError(f"{meta_file}: {e}") from None
    return SceneData(
        images=images,
        cameras=cameras,
        masks=masks,
        name=root.name or "turntable",
        source=str(root),
        extra={
            "image_names": [p.name for p in paths],
            "turntable": {
                "views": views,
                "distance": distance,
                "elevation": elevation,
                "fov": fov,
                "start_azimuth": start,
                "direction": direction,
            },
        },
    )
