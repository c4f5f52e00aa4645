"""Helpers shared by the dataset readers: image and mask files, camera conversion, checks.

Every reader turns its source convention into OpenCV pinhole cameras (x_cam = R x_world + t,
pixel = K x_cam / z) expressed in *continuous* pixel coordinates, where the image covers
[0, W] x [0, H] and the centre of pixel (row i, column j) is at (j + 0.5, i + 0.5). That is the
screen space of our cameras (`transform_points_screen`), so `cameras_from_opencv_projection`
then gives NDC `PerspectiveCameras` that project every point to the same pixel. Sources whose
pixel centres sit on integers (OpenCV, IDR/DTU, our folder format) add 0.5 to (cx, cy) first.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inverse3d.io.image_io import convert_channels, read_image_array
from inverse3d.structures.scene import SceneData

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG")

BACKGROUNDS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0)}


def as_path(path: str | os.PathLike, what: str = "path") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a str or os.PathLike; got {type(path).__name__}")
    return Path(path)


def require_exists(path: Path) -> Path:
    if not path.exists():
        raise ValueError(f"{path}: no such file or directory")
    return path


def background_rgb(background: Any) -> tuple[float, float, float]:
    """'white' / 'black' / an (r, g, b) triple in [0, 1]."""
    if isinstance(background, str):
        if background not in BACKGROUNDS:
            raise ValueError(
                f"background must be 'white', 'black' or (r, g, b); got {background!r}"
            )
        return BACKGROUNDS[background]
    vals = tuple(float(v) for v in background)
    if len(vals) != 3:
        raise ValueError(f"background must be 'white', 'black' or (r, g, b); got {background!r}")
    return vals  # type: ignore[return-value]


def _pixels(path: Path) -> np.ndarray:
    """(H, W, C) uint8 / uint16 pixels from `inverse3d.io.image_io.read_image_array` (C = 1 grey,
    2 grey + alpha, 3 RGB, 4 RGBA); its ImageError (a ValueError) names the file."""
    if not path.is_file():
        raise ValueError(f"{path}: image file not found")
    return read_image_array(path)


def _float(arr: np.ndarray) -> np.ndarray:
    """Integer pixels to float32 in [0, 1]: 8-bit / 255, 16-bit / 65535."""
    return arr.astype(np.float32) / np.float32(np.iinfo(arr.dtype).max)


def read_rgba(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W, 3) float32 RGB in [0, 1] and the (H, W) alpha (None if the file has none)."""
    arr = _pixels(path)
    alpha = _float(arr[..., -1]) if arr.shape[2] in (2, 4) else None
    return _float(convert_channels(arr, 3)), alpha


def read_mask(path: Path) -> np.ndarray:
    """(H, W) float32 mask in [0, 1]: the alpha channel when it is not all opaque, else grey."""
    arr = _pixels(path)
    if (
        arr.shape[2] in (2, 4)
        and arr[..., -1].min(initial=np.iinfo(arr.dtype).max) < np.iinfo(arr.dtype).max
    ):
        return _float(arr[..., -1])
    return _float(convert_channels(arr, 1)[..., 0])


def resize(arr: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Box-filter resize of an (H, W) or (H, W, C) float array to size_hw."""
    from PIL import Image

    h, w = size_hw
    if arr.shape[:2] == (h, w):
        return arr
    chans = [arr] if arr.ndim == 2 else [arr[..., c] for c in range(arr.shape[-1])]
    out = [
        np.asarray(Image.fromarray(c.astype(np.float32), mode="F").resize((w, h), Image.BOX))
        for c in chans
    ]
    return out[0] if arr.ndim == 2 else np.stack(out, axis=-1)


def find_image(folder: Path, stem_or_name: str) -> Path | None:
    """`folder/name` if it exists, else `folder/stem.<ext>` for a known image suffix."""
    p = folder / stem_or_name
    if p.is_file():
        return p
    for suf in IMAGE_SUFFIXES:
        q = folder / (stem_or_name + suf)
        if q.is_file():
            return q
    stem = Path(stem_or_name).stem
    for suf in IMAGE_SUFFIXES:
        q = folder / (stem + suf)
        if q.is_file():
            return q
    return None


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in IMAGE_SUFFIXES)


def load_images(
    paths: list[Path],
    mask_paths: list[Path | None] | None,
    background: Any,
    downscale: int,
) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int]]:
    """Read images (and masks), check sizes, composite RGBA on the background, downscale.

    Returns images (N, H', W', 3) float, masks (N, H', W') float or None, and the original (H, W).
    The masks come from `mask_paths` where given, else from the images' alpha channels (if every
    image has one); RGBA images are composited on the background whatever the masks.
    """
    bg = np.asarray(background_rgb(background), dtype=np.float32)
    rgbs, alphas, size = [], [], None
    for p in paths:
        rgb, alpha = read_rgba(p)
        if size is None:
            size = rgb.shape[:2]
            first = p
        elif rgb.shape[:2] != size:
            raise ValueError(
                f"{p}: image size {rgb.shape[0]}x{rgb.shape[1]} (HxW) differs from "
                f"{size[0]}x{size[1]} of {first}; all images must have one size"
            )
        if alpha is not None:
            rgb = rgb * alpha[..., None] + bg * (1.0 - alpha[..., None])
        rgbs.append(rgb)
        alphas.append(alpha)
    if size is None:
        raise ValueError("no images to load")
    masks = None
    if mask_paths is not None and any(m is not None for m in mask_paths):
        masks = []
        for p, m in zip(paths, mask_paths):
            if m is None:
                raise ValueError(f"{p}: no mask for this image (other images have masks)")
            mk = read_mask(m)
            if mk.shape != size:
                raise ValueError(
                    f"{m}: mask size {mk.shape[0]}x{mk.shape[1]} (HxW) does not match its "
                    f"image's {size[0]}x{size[1]}"
                )
            masks.append(mk)
    elif alphas and all(a is not None for a in alphas):
        masks = alphas
    f = int(downscale)
    if f < 1:
        raise ValueError(f"downscale must be an int >= 1; got {downscale}")
    new = (size[0] // f, size[1] // f) if f > 1 else size
    images = torch.from_numpy(np.stack([resize(r, new) for r in rgbs])).float().clamp(0, 1)
    mask_t = None
    if masks is not None:
        mask_t = torch.from_numpy(np.stack([resize(m, new) for m in masks])).float().clamp(0, 1)
    return images, mask_t, (int(size[0]), int(size[1]))


def read_json_list(path: Path, key: str) -> dict:
    """The JSON object in `path`, which must hold a non-empty list under `key` (ValueError,
    naming the file, otherwise)."""
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get(key), list):
        raise ValueError(f'{path}: expected an object with a "{key}" list')
    if not meta[key]:
        raise ValueError(f"{path}: the {key} list is empty")
    return meta


def check_finite_camera(source: str, **arrays: np.ndarray) -> None:
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{source}: camera {name} holds NaN or inf values")


def opencv_to_cameras(
    K: np.ndarray,
    R: np.ndarray,
    t: np.ndarray,
    size_hw: tuple[int, int],
    new_size_hw: tuple[int, int] | None = None,
    pixel_offset: float = 0.0,
):
    """NDC PerspectiveCameras from OpenCV K (N, 3, 3), R (N, 3, 3), t (N, 3).

    pixel_offset: added to (cx, cy) to reach continuous pixel coordinates (0.5 for sources
    whose pixel centres are at integers). new_size_hw: the (H', W') after resizing the images;
    the intrinsics are scaled to it.
    """
    from inverse3d.utils.camera_conversions import cameras_from_opencv_projection

    K = np.array(K, dtype=np.float64).reshape(-1, 3, 3).copy()
    R = np.asarray(R, dtype=np.float64).reshape(-1, 3, 3)
    t = np.asarray(t, dtype=np.float64).reshape(-1, 3)
    K[:, :2, 2] += pixel_offset
    h, w = size_hw
    if new_size_hw is not None and tuple(new_size_hw) != (h, w):
        sy, sx = new_size_hw[0] / h, new_size_hw[1] / w
        K[:, 0, :] *= sx
        K[:, 1, :] *= sy
        h, w = new_size_hw
    n = K.shape[0]
    return cameras_from_opencv_projection(
        R=torch.from_numpy(R).float(),
        tvec=torch.from_numpy(t).float(),
        camera_matrix=torch.from_numpy(K).float(),
        image_size=torch.tensor([[h, w]] * n, dtype=torch.float32),
    )


def other_indices(n: int, taken: list[int]) -> list[int]:
    """The indices in range(n) not in `taken`, in order (the train split beside a test split)."""
    taken_set = set(taken)
    return [i for i in range(n) if i not in taken_set]


def scene_from_opencv(
    root: Path,
    images: torch.Tensor,
    masks: torch.Tensor | None,
    cams: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]],
    size_hw: tuple[int, int],
    pixel_offset: float,
    train: list[int],
    test: list[int],
    **fields: Any,
) -> SceneData:
    """SceneData of a reader's loaded images: (N, H', W', 3) images, cams the per-image OpenCV
    (K, R, t) lists given for size_hw images (see `opencv_to_cameras`), named after `root`.

    fields: the other SceneData fields (extra=, depths=, gt_mesh=, ...).
    """
    K, R, t = (np.stack(c) for c in cams)
    cameras = opencv_to_cameras(K, R, t, size_hw, tuple(images.shape[1:3]), pixel_offset)
    return SceneData(
        images=images,
        cameras=cameras,
        masks=masks,
        train_idx=train,
        test_idx=test,
        name=root.name or "scene",
        source=str(root),
        **fields,
    )
