"""IDR / NeuS style DTU scenes: cameras.npz with image/ and mask/ folders.

cameras.npz holds, for image i of the sorted image/ folder, ``world_mat_i`` = K [R | t] (3x4 or
4x4, OpenCV axes, pixel centres at integers as IDR's pixel grid) and optionally ``scale_mat_i``
(4x4) mapping the normalised scene (inside the unit sphere) to world coordinates. The camera of the
normalised scene is P = world_mat @ scale_mat, split into K, R, t by an RQ decomposition. Our
cameras have no skew term: a skew K[0, 1] is dropped, with a warning when it exceeds 1e-3 fx.
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
    list_images,
    load_images,
    other_indices,
    require_exists,
    scene_from_opencv,
)
from inverse3d.structures.scene import SceneData

__all__ = ["load_dtu_scene", "decompose_projection"]


def decompose_projection(P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K (3, 3) with positive diagonal and K[2, 2] = 1, R (3, 3) rotation, t (3,) with
    P ~ K [R | t] (equal up to a scale factor), by an RQ decomposition of P[:3, :3].

    P: (3, 4) or (4, 4) projection matrix.
    """
    P = np.asarray(P, dtype=np.float64)[:3, :4]
    M, p4 = P[:, :3], P[:, 3]
    if np.linalg.det(M) < 0:  # P and -P are the same camera; make det(R) = +1
        M, p4 = -M, -p4
    # RQ of M through QR of the row-reversed transpose.
    flip = np.eye(3)[::-1]
    q, r = np.linalg.qr((flip @ M).T)
    K = flip @ r.T @ flip
    R = flip @ q.T
    signs = np.diag(np.sign(np.diag(K)))
    K, R = K @ signs, signs @ R  # positive focal lengths
    t = np.linalg.solve(K, p4)  # K still carries the overall scale of P
    return K / K[2, 2], R, t


def load_dtu_scene(
    path: str | os.PathLike,
    background: Any = "white",
    downscale: int = 1,
    test_idx: list[int] | None = None,
) -> SceneData:
    """Read an IDR/NeuS DTU scan folder (image/, optional mask/, cameras.npz).

    Args:
        path: the scan folder or its cameras.npz.
        background: masked-out pixels are NOT replaced (DTU images are real photos); RGBA images
            are composited on it.
        downscale: integer factor to shrink the images by (intrinsics follow).
        test_idx: held-out image indices (default none).

    Returns:
        SceneData in the normalised frame (scale_mat applied) with NDC PerspectiveCameras.
    """
    root = require_exists(as_path(path))
    npz_path = root if root.is_file() else root / "cameras.npz"
    root = npz_path.parent
    require_exists(npz_path)
    try:
        data = dict(np.load(npz_path))
    except (OSError, ValueError) as e:
        raise ValueError(f"{npz_path}: unreadable npz ({e})") from None
    img_dir = next((root / d for d in ("image", "images", "rgb") if (root / d).is_dir()), None)
    if img_dir is None:
        raise ValueError(f"{root}: no image/ folder")
    paths = list_images(img_dir)
    if not paths:
        raise ValueError(f"{img_dir}: no images")
    Ks, Rs, ts = [], [], []
    has_scale_mat = any(f"scale_mat_{i}" in data for i in range(len(paths)))
    for i, p in enumerate(paths):
        key = f"world_mat_{i}"
        if key not in data:
            raise ValueError(f"{npz_path}: no {key} for image {p.name} (camera missing)")
        W = np.asarray(data[key], dtype=np.float64)
        S = np.asarray(data.get(f"scale_mat_{i}", np.eye(4)), dtype=np.float64)
        if W.shape not in ((3, 4), (4, 4)) or S.shape != (4, 4):
            raise ValueError(f"{npz_path}: {key} must be 3x4/4x4 and scale_mat_{i} 4x4")
        check_finite_camera(f"{npz_path}: camera {i} ({p.name})", world_mat=W, scale_mat=S)
        K, R, t = decompose_projection(W[:3, :4] @ S)
        if abs(K[0, 1]) > 1e-3 * abs(K[0, 0]):
            warnings.warn(
                f"{npz_path}: camera {i} has skew {K[0, 1]:.4g} px; ignored", stacklevel=2
            )
        Ks.append(K)
        Rs.append(R)
        ts.append(t)
    mask_dir = next((root / d for d in ("mask", "masks") if (root / d).is_dir()), None)
    mask_paths = None
    if mask_dir is not None:
        mpaths = list_images(mask_dir)
        if len(mpaths) != len(paths):
            raise ValueError(f"{mask_dir}: {len(mpaths)} masks for {len(paths)} images")
        mask_paths = list(mpaths)
    images, masks, size = load_images(paths, mask_paths, background, downscale)
    test = list(test_idx or [])
    train = other_indices(len(paths), test)
    extra = {"image_names": [Path(p).name for p in paths], "unit_frame": has_scale_mat}
    return scene_from_opencv(root, images, masks, (Ks, Rs, ts), size, 0.5, train, test, extra=extra)
