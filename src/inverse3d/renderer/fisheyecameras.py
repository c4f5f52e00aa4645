"""Fisheye cameras with radial, tangential and thin-prism distortion (PyTorch3D's
`renderer.fisheyecameras.FishEyeCameras`).

The model, for a point (X, Y, Z) in camera space (PyTorch3D's definition):

    a, b = X / Z, Y / Z;  r = sqrt(a^2 + b^2);  th = atan(r)
    (x_r, y_r) = th (1 + k1 th^2 + k2 th^4 + ... + k6 th^12) (a, b) / r      radial
    rd2 = x_r^2 + y_r^2
    tangential = 2 (x_r p1 + y_r p2) (x_r, y_r) + rd2 (p1, p2)
    thin prism = (s1 rd2 + s2 rd2^2, s3 rd2 + s4 rd2^2)
    uv = (x_r, y_r) [or (a, b) with use_radial=False] + tangential + thin prism
    projection = f uv + (cu, cv), third coordinate 1

The projection's third coordinate is always 1 and `unproject_points` returns the direction
(X / Z, Y / Z, 1) in camera space (depth is not used), as in PyTorch3D. Unprojection inverts the
tangential / thin-prism terms by Newton's method on (x_r, y_r) and the radial polynomial by
Newton's method on th (50 iterations each); it always inverts the radial model, also with
use_radial=False (PyTorch3D does the same, so with use_radial=False unprojection is not the
inverse of projection).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from inverse3d.renderer.cameras import CamerasBase
from inverse3d.renderer.utils import Device

__all__ = ["FishEyeCameras"]

_NUM_RADIAL = 6


def _as_param(value: Any, name: str, width: int | None, device: torch.device) -> torch.Tensor:
    """A (N, width) float tensor from a tensor / nested list (width None: any)."""
    t = value if torch.is_tensor(value) else torch.as_tensor(value)
    if not t.is_floating_point():
        t = t.to(torch.float32)
    if t.dim() != 2 or (width is not None and t.shape[1] != width):
        want = f"(N, {width})" if width is not None else "(N, K)"
        raise ValueError(f"{name} must have shape {want}; got {tuple(t.shape)}")
    return t.to(device)


class FishEyeCameras(CamerasBase):
    """Pinhole cameras extended by radial (fisheye), tangential and thin-prism distortion.

    Args:
        focal_length: (N, 1) float focal length f (in the units of the projection, usually
            pixels).
        principal_point: (N, 2) float (cu, cv).
        radial_params: (N, 6) float k1..k6 (coefficients of th^2 .. th^12).
        tangential_params: (N, 2) float p1, p2.
        thin_prism_params: (N, 4) float s1..s4.
        R: (M, 3, 3) float, T: (M, 3) float world-to-view (used with world_coordinates=True).
        world_coordinates: if True transform_points takes world points, else camera points.
        use_radial, use_tangential, use_thin_prism: switch the distortion terms on / off.
        device: the device of the parameters.
        image_size: (H, W) or (N, 2) ints, stored for the rasterizers.

    The intrinsics batch N is len(radial_params); with N > 1 the same points are projected by
    every camera and the stacked result is squeezed (PyTorch3D's shapes: (P, 3) or (1, P, 3)
    points give (N, P, 3)).
    """

    _FIELDS = (
        "focal_length",
        "principal_point",
        "R",
        "T",
        "radial_params",
        "tangential_params",
        "thin_prism_params",
        "world_coordinates",
        "use_radial",
        "use_tangential",
        "use_thin_prism",
        "device",
        "image_size",
    )

    def __init__(
        self,
        focal_length: Any = ((1.0,),),
        principal_point: Any = ((0.0, 0.0),),
        radial_params: Any = ((0.0,) * _NUM_RADIAL,),
        tangential_params: Any = ((0.0, 0.0),),
        thin_prism_params: Any = ((0.0, 0.0, 0.0, 0.0),),
        R: torch.Tensor | None = None,
        T: torch.Tensor | None = None,
        world_coordinates: bool = False,
        use_radial: bool = True,
        use_tangential: bool = True,
        use_thin_prism: bool = True,
        device: Device = "cpu",
        image_size: Any = None,
    ) -> None:
        R = torch.eye(3)[None] if R is None else R
        T = torch.zeros(1, 3) if T is None else T
        extra = {"image_size": image_size} if image_size is not None else {}
        super().__init__(device=device, R=R, T=T, **extra)
        if image_size is None:
            self.image_size = None
        elif self.image_size.dim() == 1:
            self.image_size = self.image_size[None]
        self._post_init()
        dev = self.device
        self.focal = _as_param(focal_length, "focal_length", 1, dev)
        self.principal_point = _as_param(principal_point, "principal_point", 2, dev)
        self.radial_params = _as_param(radial_params, "radial_params", _NUM_RADIAL, dev)
        self.tangential_params = _as_param(tangential_params, "tangential_params", 2, dev)
        self.thin_prism_params = _as_param(thin_prism_params, "thin_prism_params", 4, dev)
        n = self.radial_params.shape[0]
        for name in ("focal", "principal_point", "tangential_params", "thin_prism_params"):
            if getattr(self, name).shape[0] != n:
                shown = "focal_length" if name == "focal" else name
                raise ValueError(
                    f"{shown} must have {n} rows like radial_params; got "
                    f"{tuple(getattr(self, name).shape)}"
                )
        self.world_coordinates = bool(world_coordinates)
        self.use_radial = bool(use_radial)
        self.use_tangential = bool(use_tangential)
        self.use_thin_prism = bool(use_thin_prism)
        self.epsilon = 1e-10
        self.num_distortion_iters = 50
        self.num_radial = self.radial_params.shape[-1]

    # ---- basics ---------------------------------------------------------------------------
    def in_ndc(self) -> bool:
        return True

    def is_perspective(self) -> bool:
        return False

    def clone(self) -> FishEyeCameras:  # type: ignore[override]
        other = FishEyeCameras(device=self.device)
        return super(CamerasBase, self).clone(other)  # copies every attribute

    def __getitem__(self, index: int | slice | list | torch.Tensor) -> FishEyeCameras:  # type: ignore[override]
        """A FishEyeCameras holding the selected cameras (intrinsics and R, T of batch > 1)."""
        if isinstance(index, int):
            n = self.radial_params.shape[0]
            if not -n <= index < n:
                raise IndexError(f"index {index} is out of range for {n} cameras")
            index = [index]
        elif not isinstance(index, (list, slice)) and not torch.is_tensor(index):
            raise ValueError(
                f"index must be int, slice, list or tensor; got {type(index).__name__}"
            )

        def pick(t: torch.Tensor | None) -> torch.Tensor | None:
            return t[index] if t is not None and t.shape[0] > 1 else t

        return FishEyeCameras(
            focal_length=pick(self.focal),
            principal_point=pick(self.principal_point),
            radial_params=pick(self.radial_params),
            tangential_params=pick(self.tangential_params),
            thin_prism_params=pick(self.thin_prism_params),
            R=pick(self.R),
            T=pick(self.T),
            world_coordinates=self.world_coordinates,
            use_radial=self.use_radial,
            use_tangential=self.use_tangential,
            use_thin_prism=self.use_thin_prism,
            device=self.device,
            image_size=pick(self.image_size),
        )

    def check_input(self, points: torch.Tensor, batch_size: int) -> bool:
        """True if points (P, 3), (1, P, 3) or (M, P, 3) fit `batch_size` cameras ((M, P, 3)
        with M > 1 needs one camera)."""
        if points.dim() > 3 or points.shape[-1] != 3:
            return False
        return not (points.dim() == 3 and points.shape[0] > 1 and batch_size > 1)

    def _params(self, extra_dims: int) -> list[torch.Tensor]:
        """The intrinsics, shaped to broadcast over (..., k) points: (k,) for one camera, else
        (N, 1 x extra_dims, k)."""
        ps = [
            self.focal,
            self.principal_point,
            self.radial_params,
            self.tangential_params,
            self.thin_prism_params,
        ]
        if ps[2].shape[0] == 1:
            return [p[0] for p in ps]
        return [p.reshape(p.shape[0], *([1] * extra_dims), p.shape[1]) for p in ps]

    def _stack_result(self, out: torch.Tensor) -> torch.Tensor:
        return out if self.radial_params.shape[0] == 1 else out.squeeze()

    # ---- projection -----------------------------------------------------------------------
    def _distort(
        self, xr_yr: torch.Tensor, tangential: torch.Tensor, prism: torch.Tensor
    ) -> torch.Tensor:
        """Tangential + thin-prism offsets (..., 2) of the radially distorted (x_r, y_r)."""
        rd2 = (xr_yr * xr_yr).sum(-1, keepdim=True)  # (..., 1)
        out = torch.zeros_like(xr_yr)
        if self.use_tangential:
            dot = 2 * (xr_yr * tangential).sum(-1, keepdim=True)
            out = out + dot * xr_yr + rd2 * tangential
        if self.use_thin_prism:
            powers = torch.cat([rd2, rd2 * rd2], dim=-1)  # (..., 2)
            dx = (prism[..., 0:2] * powers).sum(-1)
            dy = (prism[..., 2:4] * powers).sum(-1)
            out = out + torch.stack([dx, dy], dim=-1)
        return out

    def _project(self, points: torch.Tensor) -> torch.Tensor:
        """Camera points (..., 3) -> (..., 3) image points (u, v, 1), every camera."""
        f, pp, k, tangential, prism = self._params(points.dim() - 1)
        ab = points[..., :2] / points[..., 2:3]
        r = ab.norm(dim=-1)
        small = r < self.epsilon
        r_safe = torch.where(small, torch.ones_like(r), r)
        th = torch.atan(r)
        th_div_r = torch.where(small, torch.ones_like(r), th / r_safe)
        t2 = th * th
        powers = torch.stack([t2**i for i in range(1, _NUM_RADIAL + 1)], dim=-1)  # (..., 6)
        radial = 1 + (powers * k).sum(-1)
        xr_yr = (radial * th_div_r)[..., None] * ab
        uv = xr_yr if self.use_radial else ab
        uv = uv + self._distort(xr_yr, tangential, prism)
        proj = f * uv + pp
        return torch.cat([proj, torch.ones_like(proj[..., :1])], dim=-1)

    def transform_points(
        self, points: torch.Tensor, eps: float | None = None, **kwargs: Any
    ) -> torch.Tensor:
        """Project points to the image.

        Args:
            points: (P, 3), (1, P, 3) or (M, P, 3) float: camera points, or world points with
                world_coordinates=True.
            eps: passed to the world-to-view transform.

        Returns:
            (u, v, 1) per point: (P, 3) / (M, P, 3) for one camera; (N, P, 3) for N cameras
            and (P, 3) or (1, P, 3) points (stacked, then squeezed as PyTorch3D does).
        """
        if not torch.is_tensor(points):
            raise TypeError(f"points must be a torch.Tensor; got {type(points).__name__}")
        points = points.to(self.device)
        if self.world_coordinates:
            w2v = self.get_world_to_view_transform(R=self.R, T=self.T)
            points = w2v.transform_points(points, eps=eps)
        n = self.radial_params.shape[0]
        if not self.check_input(points, n):
            raise ValueError(
                f"Expected points of (P, 3) with batch_size 1 or N, or shape (M, P, 3) with "
                f"batch_size 1; got points of shape {tuple(points.shape)} and batch_size {n}"
            )
        pts = points if n == 1 else points[None]
        return self._stack_result(self._project(pts))

    # ---- unprojection ---------------------------------------------------------------------
    def _undistort(
        self, uv: torch.Tensor, tangential: torch.Tensor, prism: torch.Tensor
    ) -> torch.Tensor:
        """(x_r, y_r) with (x_r, y_r) + distortion(x_r, y_r) = uv, by Newton's method."""
        if not self.use_tangential and not self.use_thin_prism:
            return uv
        xy = uv
        for _ in range(self.num_distortion_iters):
            residual = uv - xy - self._distort(xy, tangential, prism)  # (..., 2)
            x, y = xy[..., 0], xy[..., 1]
            rd2 = x * x + y * y
            a = torch.ones_like(x)
            b = torch.zeros_like(x)
            d = torch.ones_like(x)
            c = torch.zeros_like(x)
            if self.use_tangential:
                p1, p2 = tangential[..., 0], tangential[..., 1]
                a = a + 6 * x * p1 + 2 * y * p2
                b = b + 2 * (x * p2 + y * p1)
                c = c + 2 * (x * p2 + y * p1)
                d = d + 6 * y * p2 + 2 * x * p1
            if self.use_thin_prism:
                gx = 2 * (prism[..., 0] + 2 * prism[..., 1] * rd2)
                gy = 2 * (prism[..., 2] + 2 * prism[..., 3] * rd2)
                a, b = a + x * gx, b + y * gx
                c, d = c + x * gy, d + y * gy
            det = a * d - b * c  # Jacobian [[a, b], [c, d]], close to the identity
            step_x = (d * residual[..., 0] - b * residual[..., 1]) / det
            step_y = (a * residual[..., 1] - c * residual[..., 0]) / det
            xy = xy + torch.stack([step_x, step_y], dim=-1)
        return xy

    def _theta(self, k: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """th with th (1 + sum_i k_i th^(2i)) = target, by Newton's method, |th| < pi / 2."""
        th = target
        odd = torch.arange(3, 2 * _NUM_RADIAL + 2, 2, dtype=target.dtype, device=target.device)
        limit = math.pi / 2
        for _ in range(self.num_distortion_iters):
            t2 = th * th
            powers = torch.stack([t2**i for i in range(1, _NUM_RADIAL + 1)], dim=-1)
            value = th * (1 + (powers * k).sum(-1))
            slope = 1 + (odd * k * powers).sum(-1)
            err = target - value
            ok = slope.abs() > self.epsilon
            nudge = torch.where(err * slope > 0, 10 * self.epsilon, -10 * self.epsilon)
            th = th + torch.where(ok, err / torch.where(ok, slope, torch.ones_like(slope)), nudge)
            th = torch.where(th.abs() >= limit, torch.full_like(th, 0.999 * limit), th)
        return th

    def _unproject(self, xy: torch.Tensor) -> torch.Tensor:
        f, pp, k, tangential, prism = self._params(xy.dim() - 1)
        uv = (xy - pp) / f
        xr_yr = self._undistort(uv, tangential, prism)
        norm = xr_yr.norm(dim=-1)
        th = self._theta(k, norm)
        small = norm < self.epsilon
        safe = torch.where(small, torch.ones_like(norm), norm)
        scale = torch.where(small, torch.ones_like(norm), torch.tan(th) / safe)  # tan(th)/|xr|
        ab = scale[..., None] * xr_yr
        return torch.cat([ab, torch.ones_like(ab[..., :1])], dim=-1)

    def unproject_points(
        self,
        xy_depth: torch.Tensor,
        world_coordinates: bool = True,
        scaled_depth_input: bool = False,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Image points back to camera-space directions (X / Z, Y / Z, 1).

        Args:
            xy_depth: (P, 3), (1, P, 3) or (M, P, 3) float; only x, y are used.
            world_coordinates, scaled_depth_input: accepted for PyTorch3D compatibility and
                ignored (PyTorch3D returns camera-space points with z = 1 whatever they are).

        Returns:
            (P, 3) / (M, P, 3) for one camera; (N, P, 3) for N cameras (squeezed as in
            transform_points).
        """
        if not torch.is_tensor(xy_depth):
            raise TypeError(f"xy_depth must be a torch.Tensor; got {type(xy_depth).__name__}")
        if xy_depth.dim() not in (2, 3) or xy_depth.shape[-1] < 2:
            raise ValueError(
                f"xy_depth must have shape (P, 3) or (M, P, 3); got {tuple(xy_depth.shape)}"
            )
        xy = xy_depth.to(self.device)[..., :2]
        n = self.radial_params.shape[0]
        xy = xy if n == 1 else xy[None]
        return self._stack_result(self._unproject(xy))
