"""Render a window of an image by changing the camera intrinsics, not the camera pose.

`crop_cameras` returns cameras whose (height x width) image is exactly the window
[top : top + height, left : left + width] of the original cameras' (H x W) image: the principal
point moves with the window and, for NDC cameras, the focal length is rescaled because NDC units
are set by the shorter image side. The perspective is unchanged (moving the camera instead would
change it). `random_crop_windows` draws such windows and `crop_images` cuts the same windows out
of the target images.

NDC convention (PyTorch3D): +X left, +Y up, the shorter side spans [-1, 1]; a point at NDC x
lies at u = W / 2 - x * s / 2 pixels from the left edge (s = min(H, W)), likewise
v = H / 2 - y * s / 2 from the top.
"""

from __future__ import annotations

import torch

from inverse3d._validation import check_positive_int
from inverse3d.renderer.cameras import PerspectiveCameras

__all__ = ["crop_cameras", "crop_images", "ndc_cameras", "random_crop_windows"]


def _as_index(value, n: int, name: str, device) -> torch.Tensor:
    t = torch.as_tensor(value, device=device)
    if t.is_floating_point() or t.dtype == torch.bool:
        raise TypeError(f"{name} must be integers; got {t.dtype}")
    if t.dim() == 0:
        t = t.expand(n)
    if t.shape != (n,):
        raise ValueError(f"{name} must be an int or have shape ({n},); got {tuple(t.shape)}")
    return t.long()


def _check_window(image_size, tops, lefts, height, width) -> tuple[int, int]:
    H, W = (
        (int(image_size), int(image_size)) if isinstance(image_size, int) else map(int, image_size)
    )
    if H < 1 or W < 1:
        raise ValueError(f"image_size must be positive; got {image_size!r}")
    if height > H or width > W:
        raise ValueError(f"the window ({height} x {width}) must fit the image ({H} x {W})")
    if len(tops) and (int(tops.min()) < 0 or int(tops.max()) + height > H):
        raise ValueError(f"tops must lie in [0, {H - height}]; got {tops.tolist()}")
    if len(lefts) and (int(lefts.min()) < 0 or int(lefts.max()) + width > W):
        raise ValueError(f"lefts must lie in [0, {W - width}]; got {lefts.tolist()}")
    return H, W


def crop_cameras(
    cameras: PerspectiveCameras,
    image_size: int | tuple[int, int],
    tops: int | torch.Tensor,
    lefts: int | torch.Tensor,
    height: int,
    width: int,
) -> PerspectiveCameras:
    """Cameras that render the window of each camera's image.

    Args:
        cameras: N PerspectiveCameras (NDC or screen space; not given by a K matrix).
        image_size: (H, W) (or one int) of the images the cameras render.
        tops, lefts: int or (N,) int pixel row / column of each window's top-left corner.
        height, width: window size in pixels (the same for all N).

    Returns:
        N PerspectiveCameras of the same kind (NDC or screen) with image_size (height, width),
        same R and T, whose image is the window of the original image.
    """
    if not isinstance(cameras, PerspectiveCameras):
        raise TypeError(f"cameras must be PerspectiveCameras; got {type(cameras).__name__}")
    if cameras.K is not None:
        raise ValueError("cameras given by a K matrix are not supported; got K set")
    height = check_positive_int(height, "height")
    width = check_positive_int(width, "width")
    n = len(cameras)
    dev = cameras.R.device
    tops = _as_index(tops, n, "tops", dev)
    lefts = _as_index(lefts, n, "lefts", dev)
    H, W = _check_window(image_size, tops, lefts, height, width)
    dtype = cameras.R.dtype
    focal = cameras.focal_length.to(dtype).expand(n, 2)
    pp = cameras.principal_point.to(dtype).expand(n, 2)
    shift = torch.stack([lefts, tops], dim=-1).to(dtype)  # (N, 2) pixels (x right, y down)
    if cameras.in_ndc():
        s, s_new = float(min(H, W)), float(min(height, width))
        full = torch.tensor([W, H], dtype=dtype, device=dev)
        new = torch.tensor([width, height], dtype=dtype, device=dev)
        new_focal = focal * (s / s_new)
        new_pp = pp * (s / s_new) + (new - full + 2.0 * shift) / s_new
    else:
        new_focal = focal
        new_pp = pp - shift
    return PerspectiveCameras(
        focal_length=new_focal,
        principal_point=new_pp,
        R=cameras.R,
        T=cameras.T,
        device=dev,
        in_ndc=cameras.in_ndc(),
        image_size=torch.tensor([[height, width]] * n, device=dev),
        dtype=dtype,
    )


def ndc_cameras(cameras: PerspectiveCameras) -> PerspectiveCameras:
    """The same PerspectiveCameras in NDC units (a copy of NDC cameras; screen-space ones are
    converted with their image_size: f_ndc = f_px 2 / s, p_ndc = (size / 2 - p_px) 2 / s with
    s = min(H, W)), so that they render the same image at any resolution."""
    if not isinstance(cameras, PerspectiveCameras):
        raise TypeError(f"cameras must be PerspectiveCameras; got {type(cameras).__name__}")
    if cameras.K is not None:
        raise ValueError("cameras given by a K matrix are not supported; got K set")
    if cameras.in_ndc():
        return cameras.clone()
    size = cameras.get_image_size()
    if size is None:
        raise ValueError("screen-space cameras need image_size to convert to NDC; got None")
    dtype = cameras.R.dtype
    n = len(cameras)
    hw = torch.as_tensor(size, dtype=dtype, device=cameras.R.device).reshape(-1, 2).expand(n, 2)
    s = hw.min(dim=1, keepdim=True).values
    wh = hw.flip(-1)
    focal = cameras.focal_length.to(dtype).expand(n, 2) * 2.0 / s
    pp = (wh / 2.0 - cameras.principal_point.to(dtype).expand(n, 2)) * 2.0 / s
    return PerspectiveCameras(
        focal_length=focal,
        principal_point=pp,
        R=cameras.R,
        T=cameras.T,
        device=cameras.R.device,
        image_size=hw.round().long(),
        dtype=dtype,
    )


def random_crop_windows(
    n: int,
    image_size: int | tuple[int, int],
    ratio: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """N random windows of round(ratio * H) x round(ratio * W) pixels inside an (H, W) image.

    Args:
        n: number of windows.
        image_size: (H, W) or one int.
        ratio: window side / image side, in (0, 1].
        generator: optional torch.Generator (CPU) for reproducible windows.

    Returns:
        tops (N,) long, lefts (N,) long, height, width.
    """
    n = check_positive_int(n, "n")
    if not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) <= 1.0:
        raise ValueError(f"ratio must be a number in (0, 1]; got {ratio!r}")
    H, W = (image_size, image_size) if isinstance(image_size, int) else image_size
    h, w = max(1, round(ratio * H)), max(1, round(ratio * W))
    tops = torch.randint(0, H - h + 1, (n,), generator=generator)
    lefts = torch.randint(0, W - w + 1, (n,), generator=generator)
    return tops, lefts, h, w


def crop_images(
    images: torch.Tensor, tops: torch.Tensor, lefts: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """The windows of a batch of images.

    Args:
        images: (N, H, W) or (N, H, W, C) tensor.
        tops, lefts: (N,) int window corners (as from `random_crop_windows`).
        height, width: window size.

    Returns:
        (N, height, width) or (N, height, width, C).
    """
    if not torch.is_tensor(images) or images.dim() not in (3, 4):
        raise ValueError(
            f"images must be a (N, H, W) or (N, H, W, C) tensor; got "
            f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}"
        )
    n = images.shape[0]
    tops = _as_index(tops, n, "tops", images.device)
    lefts = _as_index(lefts, n, "lefts", images.device)
    _check_window(tuple(images.shape[1:3]), tops, lefts, height, width)
    rows = tops[:, None] + torch.arange(height, device=images.device)  # (N, h)
    cols = lefts[:, None] + torch.arange(width, device=images.device)  # (N, w)
    b = torch.arange(n, device=images.device)[:, None, None]
    return images[b, rows[:, :, None], cols[:, None, :]]
