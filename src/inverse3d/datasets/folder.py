"""Our folder format: images/, optional masks/ and depths/, cameras.json, optional gt_mesh.

Layout (see docs/datasets.md)::

    scene/
      cameras.json      {"image_size": [H, W], "cameras": [{"image": "000.png", "K": 3x3,
                         "R": 3x3, "t": 3}, ...], "split": {"train": [...], "test": [...]}}
      images/000.png    RGB (or RGBA: alpha gives the mask when masks/ is absent)
      masks/000.png     optional, same stems, grey or alpha in [0, 1]
      depths/000.npy    optional, (H, W) float32 view-space depth, 0 where empty
      gt_mesh.ply       optional ground truth (or gt_mesh.obj)

Cameras follow OpenCV: x_cam = R x_world + t (column vectors, +x right, +y down, +z forward),
pixel = K x_cam / z with the centre of pixel (0, 0) at (0, 0). "image_size" is [H, W] for all
images, or may be given per camera as "image_size" (all must agree). Split entries are image
names or integer indices into "cameras". An optional ``"unit_frame": true`` says that the object
already lies in the unit sphere (`inverse3d reconstruct` then skips `normalize_scene`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inverse3d.datasets._common import (
    as_path,
    check_finite_camera,
    find_image,
    list_images,
    load_images,
    other_indices,
    read_json_list,
    require_exists,
    scene_from_opencv,
)
from inverse3d.structures.scene import SceneData

__all__ = ["load_folder_scene", "write_folder_scene"]


def _matrix(cam: dict, key: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    if key not in cam:
        raise ValueError(f"{where}: missing {key!r}")
    try:
        a = np.asarray(cam[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {key} must be numbers of shape {shape}") from None
    if a.shape != shape:
        raise ValueError(f"{where}: {key} must have shape {shape}; got {a.shape}")
    return a


def _split(spec: Any, names: list[str], where: str) -> list[int]:
    index = {n: i for i, n in enumerate(names)}
    index.update({Path(n).stem: i for i, n in enumerate(names)})
    out = []
    for item in spec:
        if isinstance(item, int) and not isinstance(item, bool):
            if not 0 <= item < len(names):
                raise ValueError(f"{where}: split index {item} out of range [0, {len(names)})")
            out.append(item)
        elif isinstance(item, str) and item in index:
            out.append(index[item])
        else:
            raise ValueError(f"{where}: split entry {item!r} names no camera")
    return out


def load_folder_scene(
    path: str | os.PathLike,
    background: Any = "white",
    downscale: int = 1,
    load_gt_mesh: bool = True,
) -> SceneData:
    """Read a scene in our folder format.

    Args:
        path: the scene folder or its cameras.json.
        background: 'white', 'black' or (r, g, b): RGBA images are composited on it.
        downscale: integer factor to shrink the images by (intrinsics follow).
        load_gt_mesh: read gt_mesh.ply / gt_mesh.obj when present.

    Returns:
        SceneData whose cameras are NDC PerspectiveCameras (image_size set).

    Raises:
        ValueError: naming the file and the problem (missing file, bad JSON, missing or
            non-finite camera entries, images without a camera, images or masks of the wrong size,
            unreadable images).
    """
    root = require_exists(as_path(path))
    cam_file = root if root.is_file() else root / "cameras.json"
    root = cam_file.parent
    require_exists(cam_file)
    meta = read_json_list(cam_file, "cameras")
    cams = meta["cameras"]
    img_dir = root / "images"
    require_exists(img_dir)
    names, paths, Ks, Rs, ts, sizes = [], [], [], [], [], []
    for i, cam in enumerate(cams):
        where = f"{cam_file}: cameras[{i}]"
        if not isinstance(cam, dict) or not isinstance(cam.get("image"), str):
            raise ValueError(f'{where}: expected an object with an "image" name')
        name = cam["image"]
        p = find_image(img_dir, name)
        if p is None:
            raise ValueError(f"{where}: image {img_dir / name} not found")
        K = _matrix(cam, "K", (3, 3), where)
        R = _matrix(cam, "R", (3, 3), where)
        t = _matrix(cam, "t", (3,), where).reshape(3)
        check_finite_camera(f"{where} ({name})", K=K, R=R, t=t)
        size = cam.get("image_size", meta.get("image_size"))
        if size is None or len(size) != 2:
            raise ValueError(f"{where}: image_size [H, W] missing (top level or per camera)")
        names.append(name)
        paths.append(p)
        Ks.append(K)
        Rs.append(R)
        ts.append(t)
        sizes.append((int(size[0]), int(size[1])))
    have = {p.resolve() for p in paths}
    orphans = [p for p in list_images(img_dir) if p.resolve() not in have]
    if orphans:
        raise ValueError(f"{orphans[0]}: no camera for this image in {cam_file}")
    mask_dir = root / "masks"
    mask_paths = None
    if mask_dir.is_dir():
        mask_paths = [find_image(mask_dir, Path(n).stem) for n in names]
    images, masks, size = load_images(paths, mask_paths, background, downscale)
    for name, s in zip(names, sizes):
        if s != size:
            raise ValueError(
                f"{cam_file}: image_size {list(s)} of {name} does not match the image's "
                f"{[size[0], size[1]]}"
            )
    depths = None
    depth_dir = root / "depths"
    if depth_dir.is_dir() and downscale == 1:
        files = [depth_dir / (Path(n).stem + ".npy") for n in names]
        if all(f.is_file() for f in files):
            arrs = []
            for f in files:
                try:
                    d = np.load(f, allow_pickle=False)
                except (OSError, ValueError, EOFError) as e:
                    raise ValueError(f"{f}: unreadable depth map ({e})") from None
                if d.dtype.kind not in "fiu":
                    raise ValueError(f"{f}: depth map must hold numbers; got dtype {d.dtype}")
                if d.shape != size:
                    raise ValueError(f"{f}: depth map of shape {d.shape}; expected {size}")
                arrs.append(d.astype(np.float32))
            depths = torch.from_numpy(np.stack(arrs))
    split = meta.get("split") or {}
    train = _split(split.get("train", []), names, str(cam_file))
    test = _split(split.get("test", []), names, str(cam_file))
    if not train and test:
        train = other_indices(len(names), test)
    gt = None
    if load_gt_mesh:
        for fname in ("gt_mesh.ply", "gt_mesh.obj"):
            if (root / fname).is_file():
                from inverse3d.io.pluggable import IO

                gt = IO().load_mesh(root / fname)
                break
    extra = {"image_names": names, "unit_frame": bool(meta.get("unit_frame", False))}
    return scene_from_opencv(
        root,
        images,
        masks,
        (Ks, Rs, ts),
        size,
        0.5,
        train,
        test,
        depths=depths,
        gt_mesh=gt,
        extra=extra,
    )


def _png(arr: np.ndarray, path: Path, bit_depth: int = 8) -> None:
    from inverse3d.io.image_io import write_png

    top = 255.0 if bit_depth == 8 else 65535.0
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    write_png(path, np.clip(np.rint(arr * top), 0, top).astype(dtype))


def write_folder_scene(
    scene: SceneData,
    out_dir: str | os.PathLike,
    overwrite: bool = False,
    bit_depth: int = 8,
):
    """Write `scene` in our folder format (what `inverse3d make-scene OUT_DIR` does).

    Writes images/NNN.png (8-bit RGB, or 16-bit with bit_depth=16), masks/NNN.png (8-bit grey) and depths/NNN.npy when the
    scene has them, cameras.json (OpenCV K, R, t with pixel (0, 0) centred at (0, 0), and the
    split) and gt_mesh.ply (with vertex colours) when it has a ground-truth mesh.

    Args:
        scene: any SceneData whose cameras are PerspectiveCameras (NDC or screen space).
        out_dir: folder to create (it may exist if empty, or with overwrite=True).
        overwrite: allow writing into a non-empty folder (files of the same names are replaced).
        bit_depth: 8 or 16 bits per sample of the image PNGs (masks stay 8-bit).

    Returns:
        The output folder as a Path.
    """
    from inverse3d.utils.camera_conversions import opencv_from_cameras_projection

    if not isinstance(scene, SceneData):
        raise TypeError(f"scene must be a SceneData; got {type(scene).__name__}")
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16; got {bit_depth!r}")
    out = as_path(out_dir, "out_dir")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"{out}: folder exists and is not empty (pass overwrite=True)")
    n = len(scene)
    H, W = scene.image_size
    size = torch.tensor([[H, W]] * n, dtype=torch.float32)
    R, t, K = opencv_from_cameras_projection(scene.cameras.cpu(), size)
    K = K.double().clone()
    K[:, :2, 2] -= 0.5  # our screen space has pixel centres at +0.5; OpenCV at integers
    if not (torch.isfinite(K).all() and torch.isfinite(R).all() and torch.isfinite(t).all()):
        raise ValueError("scene.cameras hold NaN or inf values")
    (out / "images").mkdir(parents=True, exist_ok=True)
    digits = max(3, len(str(n - 1)))
    names = [f"{i:0{digits}d}.png" for i in range(n)]
    images = scene.images.detach().cpu().float().numpy()
    for name, img in zip(names, images):
        _png(img, out / "images" / name, bit_depth)
    if scene.masks is not None:
        (out / "masks").mkdir(exist_ok=True)
        for name, m in zip(names, scene.masks.detach().cpu().float().numpy()):
            _png(m, out / "masks" / name)
    if scene.depths is not None:
        (out / "depths").mkdir(exist_ok=True)
        for name, d in zip(names, scene.depths.detach().cpu().float().numpy()):
            np.save(out / "depths" / (Path(name).stem + ".npy"), d.astype(np.float32))
    cams = [
        {
            "image": name,
            "K": K[i].tolist(),
            "R": R[i].double().tolist(),
            "t": t[i].double().tolist(),
        }
        for i, name in enumerate(names)
    ]
    meta = {
        "format": "inverse3d-folder/1",
        "convention": "opencv: x_cam = R @ x_world + t; pixel = K @ x_cam / z; "
        "pixel (0, 0) centre at (0, 0)",
        "image_size": [H, W],
        "unit_frame": bool(scene.extra.get("unit_frame", False)),
        **({"image_bit_depth": 16} if bit_depth == 16 else {}),
        **(
            {"brightness_scale": float(scene.extra["brightness_scale"])}
            if "brightness_scale" in scene.extra
            else {}
        ),
        "cameras": cams,
        "split": {
            "train": [names[i] for i in scene.train_idx],
            "test": [names[i] for i in scene.test_idx],
        },
    }
    head = {k: v for k, v in meta.items() if k not in ("cameras", "split")}
    lines = [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    body = ",\n".join(f"  {json.dumps(c)}" for c in cams)
    text = "{\n" + "\n".join(lines) + f'\n "cameras": [\n{body}\n ],\n'
    text += f' "split": {json.dumps(meta["split"])}\n}}\n'
    (out / "cameras.json").write_text(text)
    if scene.gt_mesh is not None:
        from inverse3d.io.pluggable import IO

        IO().save_mesh(scene.gt_mesh.cpu(), out / "gt_mesh.ply")
    return out
