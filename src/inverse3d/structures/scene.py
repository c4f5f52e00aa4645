"""`SceneData`: posed images (and optional masks, depths and ground-truth mesh) in one object.

Every dataset reader (datasets/) (built-in synthetic scene, NeRF/Blender, folder, COLMAP, IDR/DTU) returns a
`SceneData`; every reconstruction method consumes one. Cameras are PyTorch3D-convention cameras
(world to view: X_view = X_world @ R + T; +X left, +Y up, +Z forward) with one camera per image.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch

from inverse3d._validation import check_tensor

__all__ = ["SceneData"]


@dataclass
class SceneData:
    """Posed images of one scene.

    images: (N, H, W, 3) float in [0, 1], RGB.
    cameras: N cameras (a CamerasBase batch of size N) matching the images.
    masks: (N, H, W) float in [0, 1] foreground masks, or None.
    depths: (N, H, W) float view-space depth (0 where empty), or None.
    train_idx / test_idx: image indices used for fitting / held out for evaluation.
    gt_mesh: ground-truth Meshes (batch of 1), or None.
    name: short name used for output folders; source: where it came from (path or "builtin").
    extra: anything else a reader wants to keep (e.g. the file names of the images).
    distortion: the cameras' lens distortion (`renderer.lens_distortion.LensDistortion`, one row
        of coefficients per image), or None for pinhole cameras. Ray-based methods undistort
        their rays with it.
    """

    images: torch.Tensor
    cameras: Any
    masks: torch.Tensor | None = None
    depths: torch.Tensor | None = None
    train_idx: list[int] = field(default_factory=list)
    test_idx: list[int] = field(default_factory=list)
    gt_mesh: Any = None
    name: str = "scene"
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    distortion: Any = None

    def __post_init__(self) -> None:
        dims: dict[str, int] = {}
        check_tensor(self.images, "images", ("N", "H", "W", 3), "float", dims)
        if self.masks is not None:
            check_tensor(self.masks, "masks", ("N", "H", "W"), "float", dims)
        if self.depths is not None:
            check_tensor(self.depths, "depths", ("N", "H", "W"), "float", dims)
        n = dims["N"]
        if len(self.cameras) != n:
            raise ValueError(
                f"cameras must hold one camera per image ({n}); got {len(self.cameras)}"
            )
        if self.distortion is not None and len(self.distortion) != n:
            raise ValueError(
                f"distortion must hold one camera per image ({n}); got {len(self.distortion)}"
            )
        if not self.train_idx and not self.test_idx:
            self.train_idx = list(range(n))
        for name in ("train_idx", "test_idx"):
            idx = getattr(self, name)
            bad = [i for i in idx if not 0 <= i < n]
            if bad:
                raise ValueError(f"{name} must index the {n} images; got out-of-range {bad[:5]}")

    def background(self) -> tuple[float, float, float]:
        """The background colour: `extra["background"]`, else the median colour of the pixels
        outside the masks, else white."""
        bg = self.extra.get("background")
        if bg is not None:
            return tuple(float(x) for x in bg)  # type: ignore[return-value]
        if self.masks is not None:
            outside = self.masks < 0.01
            if outside.any():
                med = self.images[outside].median(0).values
                return tuple(float(x) for x in med)  # type: ignore[return-value]
        return (1.0, 1.0, 1.0)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W)."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    def subset(self, indices: list[int]) -> SceneData:
        """The images (and cameras, masks, depths) at `indices`, all of them as training images."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return replace(
            self,
            images=self.images[idx],
            cameras=self.cameras[list(indices)],
            masks=None if self.masks is None else self.masks[idx],
            depths=None if self.depths is None else self.depths[idx],
            distortion=None if self.distortion is None else self.distortion[list(indices)],
            train_idx=list(range(len(indices))),
            test_idx=[],
        )

    def train(self) -> SceneData:
        return self.subset(self.train_idx)

    def test(self) -> SceneData:
        return self.subset(self.test_idx)

    def to(self, device: torch.device | str) -> SceneData:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return replace(
            self,
            images=self.images.to(device),
            cameras=self.cameras.to(device),
            masks=move(self.masks),
            depths=move(self.depths),
            gt_mesh=None if self.gt_mesh is None else self.gt_mesh.to(device),
            distortion=None if self.distortion is None else self.distortion.to(device),
        )
