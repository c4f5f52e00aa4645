"""COLMAP text models: cameras.txt + images.txt, with images/ and optional masks/.

cameras.txt lines: ``CAMERA_ID MODEL WIDTH HEIGHT PARAMS...`` with the models SIMPLE_PINHOLE
(f, cx, cy), PINHOLE (fx, fy, cx, cy), SIMPLE_RADIAL (f, cx, cy, k), RADIAL (f, cx, cy, k1, k2)
OPENCV (fx, fy, cx, cy, k1, k2, p1, p2) and OPENCV_FISHEYE (fx, fy, cx, cy, k1, k2, k3, k4); the
distortion is kept in `SceneData.distortion` (rays are undistorted, images are not).
images.txt: two lines per image, ``IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`` (world to
camera: x_cam = R(q) x_world + t, OpenCV axes) and a line of 2D points (ignored, may be empty).
COLMAP puts the centre of the top-left pixel at (0.5, 0.5), as our screen space does.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from inverse3d.datasets._common import (
    as_path,
    check_finite_camera,
    find_image,
    list_images,
    load_images,
    other_indices,
    require_exists,
    scene_from_opencv,
)
from inverse3d.renderer.lens_distortion import LensDistortion
from inverse3d.structures.scene import SceneData

__all__ = ["load_colmap_scene", "read_colmap_cameras", "read_colmap_images", "qvec_to_rotmat"]

_MODELS = {
    # name: (number of params, (fx, fy, cx, cy) from params)
    "SIMPLE_PINHOLE": (3, lambda p: (p[0], p[0], p[1], p[2])),
    "PINHOLE": (4, lambda p: (p[0], p[1], p[2], p[3])),
    "SIMPLE_RADIAL": (4, lambda p: (p[0], p[0], p[1], p[2])),
    "RADIAL": (5, lambda p: (p[0], p[0], p[1], p[2])),
    "OPENCV": (8, lambda p: (p[0], p[1], p[2], p[3])),
    "OPENCV_FISHEYE": (8, lambda p: (p[0], p[1], p[2], p[3])),
}


def qvec_to_rotmat(q: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation of (..., 4) unit quaternions (w, x, y, z) (normalised first)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def _lines(path: Path):
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (binary COLMAP models are not read)") from None
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.lstrip().startswith("#"):
            yield n, line


def read_colmap_cameras(path: str | os.PathLike) -> dict[int, dict[str, Any]]:
    """{camera_id: {"model", "width", "height", "K" (3x3), "params"}} from cameras.txt."""
    path = require_exists(as_path(path))
    cams = {}
    for n, line in _lines(path):
        tok = line.split()
        if not tok:
            continue
        where = f"{path}:{n}"
        if len(tok) < 4:
            raise ValueError(f"{where}: expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS...")
        model = tok[1]
        if model not in _MODELS:
            raise ValueError(f"{where}: unsupported camera model {model!r} ({sorted(_MODELS)})")
        try:
            cid, w, h = int(tok[0]), int(tok[2]), int(tok[3])
            params = [float(v) for v in tok[4:]]
        except ValueError:
            raise ValueError(f"{where}: malformed numbers") from None
        n_par, intr = _MODELS[model]
        if len(params) != n_par:
            raise ValueError(f"{where}: {model} takes {n_par} parameters; got {len(params)}")
        fx, fy, cx, cy = intr(params)
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        check_finite_camera(where, K=K, params=np.asarray(params))
        cams[cid] = {"model": model, "width": w, "height": h, "K": K, "params": params}
    return cams


def read_colmap_images(path: str | os.PathLike) -> list[dict[str, Any]]:
    """[{"id", "name", "camera_id", "R" (3x3), "t" (3,)}] from images.txt, in file order."""
    path = require_exists(as_path(path))
    out = []
    lines = list(_lines(path))
    i = 0
    while i < len(lines):
        n, line = lines[i]
        tok = line.split()
        if not tok:
            i += 1
            continue
        where = f"{path}:{n}"
        if len(tok) < 10:
            raise ValueError(f"{where}: expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME")
        try:
            iid = int(tok[0])
            q = np.array([float(v) for v in tok[1:5]])
            t = np.array([float(v) for v in tok[5:8]])
            cid = int(tok[8])
        except ValueError:
            raise ValueError(f"{where}: malformed numbers") from None
        check_finite_camera(where, qvec=q, t=t)
        if np.linalg.norm(q) == 0:
            raise ValueError(f"{where}: zero quaternion")
        out.append(
            {"id": iid, "name": " ".join(tok[9:]), "camera_id": cid, "R": qvec_to_rotmat(q), "t": t}
        )
        i += 2  # skip the POINTS2D line (possibly empty)
    if not out:
        raise ValueError(f"{path}: no images")
    return out


def _model_dir(root: Path) -> Path:
    for d in (root / "sparse" / "0", root / "sparse", root / "colmap" / "sparse" / "0", root):
        if (d / "cameras.txt").is_file() and (d / "images.txt").is_file():
            return d
        if (d / "cameras.bin").is_file():
            raise ValueError(
                f"{d / 'cameras.bin'}: binary COLMAP models are not read; convert with "
                "`colmap model_converter --output_type TXT`"
            )
    raise ValueError(f"{root}: no COLMAP text model (cameras.txt + images.txt)")


def load_colmap_scene(
    path: str | os.PathLike,
    images_dir: str = "images",
    background: Any = "white",
    downscale: int = 1,
    test_every: int = 0,
) -> SceneData:
    """Read a COLMAP text model and its images (sorted by image name).

    Args:
        path: scene folder holding images/ (and optional masks/) with the model in sparse/0/,
            sparse/ or the folder itself.
        images_dir: name of the image folder inside `path`.
        background: composites RGBA images on it.
        downscale: integer factor to shrink the images by (intrinsics follow).
        test_every: hold out every k-th image (LLFF style) when > 0; otherwise all train.

    Returns:
        SceneData with NDC PerspectiveCameras (image_size set).
    """
    root = require_exists(as_path(path))
    model = _model_dir(root)
    cams = read_colmap_cameras(model / "cameras.txt")
    imgs = sorted(read_colmap_images(model / "images.txt"), key=lambda d: d["name"])
    img_dir = root / images_dir
    require_exists(img_dir)
    paths, Ks, Rs, ts, sizes, lens = [], [], [], [], [], []
    for d in imgs:
        if d["camera_id"] not in cams:
            raise ValueError(
                f"{model / 'images.txt'}: image {d['name']} uses unknown camera {d['camera_id']}"
            )
        p = find_image(img_dir, d["name"])
        if p is None:
            raise ValueError(f"{img_dir / d['name']}: image listed in images.txt not found")
        c = cams[d["camera_id"]]
        paths.append(p)
        Ks.append(c["K"])
        Rs.append(d["R"])
        ts.append(d["t"])
        sizes.append((c["height"], c["width"]))
        lens.append((c["model"], c["params"]))
    listed = {p.resolve() for p in paths}
    unregistered = [p.name for p in list_images(img_dir) if p.resolve() not in listed]
    if unregistered:  # images COLMAP failed to register: normal, but say so
        warnings.warn(
            f"{img_dir}: {len(unregistered)} image(s) without a camera in images.txt skipped "
            f"(e.g. {unregistered[0]})",
            stacklevel=2,
        )
    mask_dir = root / "masks"
    mask_paths = None
    if mask_dir.is_dir():
        mask_paths = [
            find_image(mask_dir, d["name"]) or find_image(mask_dir, Path(d["name"]).stem)
            for d in imgs
        ]
    images, masks, size = load_images(paths, mask_paths, background, downscale)
    for d, s in zip(imgs, sizes):
        if s != size:
            raise ValueError(
                f"{model / 'cameras.txt'}: camera {d['camera_id']} of {d['name']} "
                f"is {s[1]}x{s[0]} (WxH) but the image is {size[1]}x{size[0]}"
            )
    n = len(paths)
    test = list(range(0, n, test_every)) if test_every and test_every > 0 else []
    train = other_indices(n, test)
    extra = {"image_names": [d["name"] for d in imgs]}
    try:
        distortion = LensDistortion.from_colmap([m for m, _ in lens], [p for _, p in lens])
    except ValueError as e:
        raise ValueError(f"{model / 'cameras.txt'}: {e}") from None
    return scene_from_opencv(
        root,
        images,
        masks,
        (Ks, Rs, ts),
        size,
        0.0,
        train,
        test,
        extra=extra,
        distortion=distortion,
    )
