"""NeRF / Blender `transforms*.json` scenes (the NeRF synthetic data sets, instant-ngp, nerfstudio).

Intrinsics: "camera_angle_x" (horizontal field of view, radians; fx = fy = W / 2 / tan(angle / 2),
"camera_angle_y" for fy when given) or "fl_x" / "fl_y" in pixels, principal point "cx" / "cy"
(default W / 2, H / 2) and optional "w" / "h"; each key may also be given per frame. (cx, cy) are
continuous pixel coordinates (the image spans [0, W] x [0, H], pixel centres at i + 0.5), the same
as our screen space. Lens distortion as instant-ngp and nerfstudio write it: "k1", "k2", "k3",
"p1", "p2" (OpenCV radial-tangential), or with "camera_model": "OPENCV_FISHEYE" the fisheye
"k1".."k4"; kept in `SceneData.distortion` (rays are undistorted, images are not).
"aabb_scale" (instant-ngp) is kept in `extra["aabb_scale"]`: the pipeline grows the region it
reconstructs by that factor around the object (see docs/datasets.md).

Poses: "transform_matrix" of each frame is the 4x4 camera-to-world matrix in the OpenGL / Blender
camera convention (x right, y up, the camera looks along -z).
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from inverse3d.datasets._common import (
    as_path,
    check_finite_camera,
    find_image,
    load_images,
    read_json_list,
    require_exists,
    scene_from_opencv,
)
from inverse3d.renderer.lens_distortion import DISTORTION_MODELS, LensDistortion
from inverse3d.structures.scene import SceneData

__all__ = ["load_blender_scene", "opengl_c2w_to_opencv_w2c"]

_GL_TO_CV = np.diag([1.0, -1.0, -1.0])


def opengl_c2w_to_opencv_w2c(c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV world-to-camera (R (..., 3, 3), t (..., 3)) of OpenGL camera-to-world matrices.

    c2w: (..., 4, 4) or (..., 3, 4) camera-to-world with camera axes x right, y up, z backward.
    """
    c2w = np.asarray(c2w, dtype=np.float64)
    rot = c2w[..., :3, :3] @ _GL_TO_CV  # camera axes flipped to x right, y down, z forward
    centre = c2w[..., :3, 3]
    R = np.swapaxes(rot, -1, -2)
    t = -(R @ centre[..., None])[..., 0]
    return R, t


def _intrinsics(meta: dict, frame: dict, W: int, H: int, where: str) -> np.ndarray:
    def get(key):
        return frame.get(key, meta.get(key))

    fx, fy = get("fl_x"), get("fl_y")
    ax, ay = get("camera_angle_x"), get("camera_angle_y")
    if fx is None and ax is not None:
        fx = 0.5 * W / math.tan(0.5 * float(ax))
    if fy is None and ay is not None:
        fy = 0.5 * H / math.tan(0.5 * float(ay))
    if fx is None and fy is None:
        raise ValueError(f"{where}: no intrinsics (camera_angle_x or fl_x)")
    fx = float(fy if fx is None else fx)
    fy = float(fx if fy is None else fy)
    cx = float(get("cx") if get("cx") is not None else W / 2.0)
    cy = float(get("cy") if get("cy") is not None else H / 2.0)
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def _distortion(meta: dict, frame: dict, where: str) -> tuple[str, list[float]]:
    """(model, coefficients) of a frame: "fisheye" for camera_model OPENCV_FISHEYE, else
    "opencv" (missing keys are 0)."""

    def get(key):
        return frame.get(key, meta.get(key))

    model = "fisheye" if get("camera_model") == "OPENCV_FISHEYE" else "opencv"
    try:
        vals = [float(get(k) or 0.0) for k in DISTORTION_MODELS[model]]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: distortion coefficients must be numbers") from None
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"{where}: distortion coefficients hold NaN or inf values")
    return model, vals


def _frames(json_path: Path) -> tuple[dict, list[dict], list[Path]]:
    """The file's metadata, its frames whose image exists and those images' paths. Frames whose
    image file is missing are skipped with a warning (captures often list photos that were
    deleted later, e.g. blurry ones: instant-ngp's fox); none left is an error."""
    meta = read_json_list(json_path, "frames")
    frames, paths, missing = [], [], []
    for i, fr in enumerate(meta["frames"]):
        where = f"{json_path}: frames[{i}]"
        if not isinstance(fr, dict) or not isinstance(fr.get("file_path"), str):
            raise ValueError(f'{where}: expected an object with a "file_path"')
        if "transform_matrix" not in fr:
            raise ValueError(f"{where}: missing transform_matrix")
        p = find_image(json_path.parent, fr["file_path"])
        if p is None:
            missing.append(str(json_path.parent / fr["file_path"]))
            continue
        frames.append(fr)
        paths.append(p)
    if missing and not paths:
        raise ValueError(
            f"{json_path}: none of the {len(missing)} frames' images exists "
            f"(image {missing[0]} not found)"
        )
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        warnings.warn(
            f"{json_path}: skipped {len(missing)} of {len(meta['frames'])} frames whose image "
            f"is not found ({shown}), as instant-ngp and nerfstudio do",
            stacklevel=3,
        )
    return meta, frames, paths


def _image_name(path: Path, root: Path) -> str:
    """The image's name relative to the scene folder; its full path when `file_path` points
    outside the folder (an absolute path or ../), which is allowed, as in nerfstudio."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def load_blender_scene(
    path: str | os.PathLike,
    background: Any = "white",
    downscale: int = 1,
    test_split: str = "test",
) -> SceneData:
    """Read a NeRF/Blender scene.

    Args:
        path: a folder holding transforms_train.json (+ transforms_test.json / _val.json) or
            transforms.json, or one such JSON file.
        background: 'white', 'black' or (r, g, b): RGBA images are composited on it and their
            alpha channel becomes the masks.
        downscale: integer factor to shrink the images by (intrinsics follow).
        test_split: which file gives the held-out views when a folder has several ("test" or
            "val"; "val" is used when "test" is absent).

    Returns:
        SceneData with NDC PerspectiveCameras (image_size set); train_idx from transforms_train,
        test_idx from transforms_test (none for a single transforms.json).
    """
    root = require_exists(as_path(path))
    if root.is_file():
        files = [("train", root)]
        root = root.parent
    elif (root / "transforms_train.json").is_file():
        files = [("train", root / "transforms_train.json")]
        test = root / f"transforms_{test_split}.json"
        if not test.is_file():
            test = root / "transforms_val.json"
        if test.is_file():
            files.append(("test", test))
    elif (root / "transforms.json").is_file():
        files = [("train", root / "transforms.json")]
    else:
        raise ValueError(f"{root}: no transforms.json or transforms_train.json")
    frames, paths, metas, split = [], [], [], []
    for kind, f in files:
        meta, frs, ps = _frames(f)
        frames += frs
        paths += ps
        metas += [(meta, f)] * len(frs)
        split += [kind] * len(frs)
    mask_dir = root / "masks"
    mask_paths = None
    if mask_dir.is_dir():
        mask_paths = [find_image(mask_dir, p.stem) for p in paths]
    images, masks, (H, W) = load_images(paths, mask_paths, background, downscale)
    Ks, Rs, ts, dists = [], [], [], []
    for fr, (meta, f) in zip(frames, metas):
        where = f"{f}: frame {fr['file_path']}"
        w = int(fr.get("w", meta.get("w", W)))
        h = int(fr.get("h", meta.get("h", H)))
        if (h, w) != (H, W):
            raise ValueError(f"{where}: w, h = {w}, {h} do not match the image's {W}x{H}")
        K = _intrinsics(meta, fr, W, H, where)
        dists.append(_distortion(meta, fr, where))
        try:
            c2w = np.asarray(fr["transform_matrix"], dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"{where}: transform_matrix must be a 4x4 array of numbers ({e})"
            ) from None
        if c2w.shape not in ((4, 4), (3, 4)):
            raise ValueError(f"{where}: transform_matrix must be 4x4; got shape {c2w.shape}")
        R, t = opengl_c2w_to_opencv_w2c(c2w)
        check_finite_camera(where, K=K, transform_matrix=c2w)
        Ks.append(K)
        Rs.append(R)
        ts.append(t)
    train = [i for i, k in enumerate(split) if k == "train"]
    test = [i for i, k in enumerate(split) if k == "test"]
    extra: dict[str, Any] = {"image_names": [_image_name(p, root) for p in paths]}
    aabb = [m.get("aabb_scale") for m, _ in metas if m.get("aabb_scale") is not None]
    if aabb:
        try:
            extra["aabb_scale"] = float(aabb[0])
        except (TypeError, ValueError):
            raise ValueError(
                f"{files[0][1]}: aabb_scale must be a number; got {aabb[0]!r}"
            ) from None
        if not (math.isfinite(extra["aabb_scale"]) and extra["aabb_scale"] >= 1.0):
            raise ValueError(f"{files[0][1]}: aabb_scale must be >= 1; got {aabb[0]!r}")
    models = {m for m, _ in dists}
    if len(models) > 1:
        raise ValueError(f"{files[0][1]}: frames mix fisheye and non-fisheye cameras")
    distortion = LensDistortion(models.pop(), [v for _, v in dists])
    return scene_from_opencv(
        root,
        images,
        masks,
        (Ks, Rs, ts),
        (H, W),
        0.0,
        train,
        test,
        extra=extra,
        distortion=None if distortion.is_identity() else distortion,
    )
