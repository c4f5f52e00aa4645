"""Learned corrections of camera poses (pose refinement, as in BARF and nerfstudio).

`CameraRefinement` holds one SE(3) correction per camera, an axis-angle rotation `rot` (N, 3)
and a translation `trans` (N, 3), both initialised at zero (the identity). With PyTorch3D's
row-vector convention (a world point X is seen at X R + T in view space) the rotation turns
about one of two pivots:

- "camera" (BARF's and nerfstudio's correction of the camera-to-world pose): the view is turned
  about the camera's centre and then shifted in its own frame,
  X' = (X R + T) exp(rot) + trans, i.e. R' = R exp(rot), T' = T exp(rot) + trans.
  A small rotation moves the whole image (f rot pixels), the effect of most pose errors.
- "origin": the world is turned about the origin of the working frame (where the object is,
  after normalisation), then the camera is shifted in its own frame,
  R' = exp(rot) R, T' = T + trans. For an object at the origin the rotation orbits the camera
  around it (the image of the object barely moves) and the translation moves it in the image.

A global rigid motion of every camera and the scene together is not observable from images;
`fixed` names cameras whose correction stays zero (e.g. the first training view) to pin it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from inverse3d._validation import check_choice, check_nonneg_int
from inverse3d.transforms.so3 import so3_exp_map

__all__ = ["CameraRefinement"]


class CameraRefinement(torch.nn.Module):
    """One learned SE(3) correction per camera, applied to cameras' R and T.

    Args:
        n_cameras: N, the number of cameras corrected.
        fixed: indices of cameras whose correction stays zero (no gradient reaches it).
        pivot: "camera" or "origin", what the rotation turns about (see the module's docstring).
        device: where the parameters live.

    Attributes:
        rot: (N, 3) float parameter, axis-angle rotation of the world (radians).
        trans: (N, 3) float parameter, translation added to T (view frame).

    forward(cameras, idx) -> the cameras `cameras[idx]` (a copy) with their R and T corrected;
    differentiable with respect to rot and trans.
    """

    def __init__(
        self,
        n_cameras: int,
        fixed: Sequence[int] = (),
        pivot: str = "camera",
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__()
        n = check_nonneg_int(n_cameras, "n_cameras")
        fixed = [int(i) for i in fixed]
        bad = [i for i in fixed if not 0 <= i < n]
        if bad:
            raise ValueError(f"fixed must hold camera indices in [0, {n}); got {bad}")
        self.pivot = check_choice(pivot, "pivot", ("camera", "origin"))
        self.rot = torch.nn.Parameter(torch.zeros(n, 3, device=device))
        self.trans = torch.nn.Parameter(torch.zeros(n, 3, device=device))
        free = torch.ones(n, 1, device=device)
        free[fixed] = 0.0
        self.register_buffer("free", free)

    @property
    def n_cameras(self) -> int:
        return self.rot.shape[0]

    def corrections(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(rot (N, 3), trans (N, 3)): the corrections in effect (zero for fixed cameras)."""
        return self.rot * self.free, self.trans * self.free

    def forward(self, cameras, idx: Sequence[int] | torch.Tensor | None = None):
        """The cameras `cameras[idx]` with their poses corrected (all of them when idx is None).

        cameras: a batch of N cameras (N = n_cameras) with R (N, 3, 3) and T (N, 3).
        idx: indices into the batch, B of them. Returns a camera batch of B.
        """
        if len(cameras) != self.n_cameras:
            raise ValueError(
                f"cameras must be a batch of {self.n_cameras} (this refinement's size); "
                f"got {len(cameras)}"
            )
        if idx is None:
            idx = list(range(self.n_cameras))
        if isinstance(idx, torch.Tensor):
            idx = idx.tolist()
        idx = [int(i) for i in idx]
        cams = cameras[idx].clone()
        rot, trans = self.corrections()
        at = torch.as_tensor(idx, dtype=torch.long, device=self.rot.device)
        r = so3_exp_map(rot[at].to(cams.R.dtype))  # (B, 3, 3)
        R, T = cams.R.to(r.device), cams.T.to(r.device)
        if self.pivot == "camera":
            cams.R = torch.bmm(R, r)
            cams.T = torch.bmm(T[:, None], r)[:, 0] + trans[at].to(T.dtype)
        else:
            cams.R = torch.bmm(r, R)
            cams.T = T + trans[at].to(T.dtype)
        return cams

    def mean_correction(self) -> dict[str, float]:
        """Mean size of the corrections of the free cameras: {"pose_rotation_deg": angle of
        exp(rot) in degrees, "pose_translation": |trans| in scene units}."""
        free = self.free[:, 0] > 0
        if not bool(free.any()):
            return {"pose_rotation_deg": 0.0, "pose_translation": 0.0}
        with torch.no_grad():
            angle = self.rot[free].norm(dim=-1).mean()
            shift = self.trans[free].norm(dim=-1).mean()
        return {
            "pose_rotation_deg": float(angle) * 180.0 / math.pi,
            "pose_translation": float(shift),
        }

    def add_artifacts(self, artifacts: dict, cameras=None) -> None:
        """Record the refinement in a method's `artifacts`: `mean_correction()` merged into
        artifacts["metrics"], the corrections as "camera_offsets" {"rot", "trans"} (detached, CPU)
        and, when `cameras` (the refined cameras, as given to `forward`) are given, the corrected
        cameras as "refined_cameras"."""
        artifacts.setdefault("metrics", {}).update(self.mean_correction())
        rot, trans = self.corrections()
        artifacts["camera_offsets"] = {"rot": rot.detach().cpu(), "trans": trans.detach().cpu()}
        if cameras is not None:
            with torch.no_grad():
                artifacts["refined_cameras"] = self(cameras)

    @staticmethod
    def warmup_factor(step: int, warmup: int) -> float:
        """Linear warm-up of the learning rate: (step + 1) / warmup, at most 1 (1 if warmup is 0)."""
        warmup = check_nonneg_int(warmup, "warmup")
        return 1.0 if warmup == 0 else min(1.0, (int(step) + 1) / warmup)
