"""Foreground masks of photos: background-colour keying, or DeepLabV3 with user-given weights.

`background_key_masks` (classical, no weights): the background colour of each image is the
median of its border pixels (a band `border` pixels wide); a pixel's foreground value is a ramp
of its RGB distance to that colour, 0 below `threshold - softness / 2` and 1 above
`threshold + softness / 2`; a morphological opening then closing (radius `cleanup` pixels)
removes speckles and pinholes. Limits: it needs a roughly uniform background that fills the
border (a turntable in front of a plain backdrop, as ALOI's black one); object parts of the
background's colour are lost, shadows and reflections on the backdrop are kept, and an object
that touches the border biases the background estimate.

`deeplabv3_masks`: torchvision's DeepLabV3 (ResNet-50, 21 VOC classes) with the weights in a
file the user gives (nothing is downloaded); foreground = every pixel whose most likely class is
not background (class 0). torchvision is imported only here and only when called.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from inverse3d._validation import check_nonneg_int, check_positive_float, check_tensor

__all__ = ["background_key_masks", "border_colors", "deeplabv3_masks"]


def border_colors(images: torch.Tensor, border: int = 2) -> torch.Tensor:
    """Median colour of each image's border band.

    images: (N, H, W, 3) float RGB.
    border: >= 1, width of the band in pixels.
    Returns: (N, 3) float.
    """
    images = check_tensor(images, "images", ("N", "H", "W", 3), "float")
    border = check_nonneg_int(border, "border")
    n, h, w, _ = images.shape
    if border < 1 or 2 * border > min(h, w):
        raise ValueError(
            f"border must be in [1, {min(h, w) // 2}] for {h}x{w} images; got {border}"
        )
    band = torch.ones(h, w, dtype=torch.bool, device=images.device)
    band[border : h - border, border : w - border] = False
    return images[:, band].median(dim=1).values  # (N, 3)


def _open_close(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """(N, H, W) float: opening then closing by a (2 radius + 1)^2 square (grey-level)."""
    if radius == 0:
        return mask
    k = 2 * radius + 1
    x = mask[:, None]
    dilate = lambda t: F.max_pool2d(t, k, stride=1, padding=radius)  # noqa: E731
    erode = lambda t: -F.max_pool2d(-t, k, stride=1, padding=radius)  # noqa: E731
    x = dilate(erode(x))  # opening: speckles go
    x = erode(dilate(x))  # closing: pinholes go
    return x[:, 0]


def background_key_masks(
    images: torch.Tensor,
    threshold: float = 0.15,
    softness: float = 0.1,
    border: int = 2,
    cleanup: int = 1,
    background: torch.Tensor | None = None,
) -> torch.Tensor:
    """Foreground masks of objects in front of a uniform background (see the module docstring).

    images: (N, H, W, 3) float RGB in [0, 1].
    threshold: > 0, RGB distance to the background colour (Euclidean, divided by sqrt(3), so in
        [0, 1]) at which a pixel is half foreground.
    softness: >= 0, width of the ramp around threshold (0: a hard threshold).
    border: width of the border band the background colour is estimated from.
    cleanup: radius in pixels of the opening and closing (0: none).
    background: (3,) or (N, 3) float known background colour(s) instead of the estimate.
    Returns: (N, H, W) float masks in [0, 1].
    """
    images = check_tensor(images, "images", ("N", "H", "W", 3), "float")
    threshold = check_positive_float(threshold, "threshold")
    softness = check_positive_float(softness, "softness", allow_zero=True)
    cleanup = check_nonneg_int(cleanup, "cleanup")
    n = images.shape[0]
    if background is None:
        bg = border_colors(images, border)
    else:
        bg = check_tensor(background, "background", None, "float").to(images)
        if bg.shape not in ((3,), (n, 3)):
            raise ValueError(f"background must have shape (3,) or ({n}, 3); got {tuple(bg.shape)}")
        bg = bg.expand(n, 3)
    dist = (images - bg[:, None, None, :]).norm(dim=-1) / 3**0.5  # (N, H, W)
    if softness > 0:
        mask = ((dist - threshold) / softness + 0.5).clamp(0.0, 1.0)
    else:
        mask = (dist >= threshold).to(images.dtype)
    return _open_close(mask, cleanup)


def deeplabv3_masks(
    images: torch.Tensor,
    weights: str | os.PathLike,
    batch: int = 4,
) -> torch.Tensor:
    """Foreground masks from torchvision's DeepLabV3-ResNet50 (VOC classes) with given weights.

    images: (N, H, W, 3) float RGB in [0, 1].
    weights: a file holding the model's state_dict (torchvision's
        deeplabv3_resnet50 COCO-with-VOC-labels weights, as `torch.save(model.state_dict())`
        writes it); it is read with `torch.load(weights_only=True)`, so it cannot run code.
    batch: images per forward pass.
    Returns: (N, H, W) float masks in {0, 1}: 1 where the most likely class is not background.
    Raises ImportError (saying how to install it) when torchvision is missing, ValueError naming
    the file when it is absent or does not hold the model's weights.
    """
    images = check_tensor(images, "images", ("N", "H", "W", 3), "float")
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights must be a path; got {type(weights).__name__}")
    batch = check_nonneg_int(batch, "batch") or 1
    path = Path(weights)
    try:
        from torchvision.models.segmentation import deeplabv3_resnet50
    except ImportError as e:
        raise ImportError(
            "segmentation with DeepLabV3 needs torchvision, which is not installed "
            "(pip install torchvision); without --segmentation-weights the masks come from "
            "background-colour keying"
        ) from e
    if not path.is_file():
        raise ValueError(f"{path}: segmentation weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is bad input here
        raise ValueError(f"{path}: not a readable state_dict ({e})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state_dict; got {type(state).__name__}")
    model = deeplabv3_resnet50(
        weights=None,
        weights_backbone=None,
        num_classes=21,
        aux_loss="aux_classifier.0.weight" in state,
    )
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{path}: does not hold DeepLabV3-ResNet50 weights ({e})") from None
    model = model.eval().to(images.device)
    mean = torch.tensor([0.485, 0.456, 0.406], device=images.device)
    std = torch.tensor([0.229, 0.224, 0.225], device=images.device)
    out = []
    with torch.no_grad():
        for s in range(0, images.shape[0], batch):
            x = ((images[s : s + batch] - mean) / std).permute(0, 3, 1, 2)
            logits = model(x)["out"]  # (B, 21, H, W)
            out.append((logits.argmax(1) != 0).to(images.dtype))
    return torch.cat(out)
