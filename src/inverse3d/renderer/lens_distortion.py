"""Lens distortion of real cameras: OpenCV's radial-tangential model and its fisheye model.

Both act on *normalized* image coordinates of the OpenCV camera frame (x right, y down, z forward):
an undistorted point (x, y) = (X / Z, Y / Z) is moved to the distorted (x_d, y_d), and the pixel is
then (fx x_d + cx, fy y_d + cy). So a pinhole camera's inverse intrinsics give the *distorted*
normalized coordinates of a pixel, and `undistort_points` (iterative: Newton's method) turns them
into the direction of the ray that really reaches it.

Models (coefficient order of `LensDistortion.coeffs`):

- "opencv" (k1, k2, k3, p1, p2): r^2 = x^2 + y^2, radial = 1 + k1 r^2 + k2 r^4 + k3 r^6,
  x_d = x radial + 2 p1 x y + p2 (r^2 + 2 x^2), y_d = y radial + p1 (r^2 + 2 y^2) + 2 p2 x y.
  COLMAP's SIMPLE_RADIAL (k), RADIAL (k1, k2) and OPENCV (k1, k2, p1, p2) are special cases.
- "fisheye" (k1, k2, k3, k4): r = |(x, y)|, theta = atan(r),
  theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8),
  (x_d, y_d) = theta_d / r (x, y). COLMAP's OPENCV_FISHEYE.

`undistort_ray_directions` applies this to world-space ray directions of PyTorch3D-convention
cameras (whose view frame is OpenCV's with x and y negated), which is how the ray generators of
`renderer.implicit.image_rays` use it: the rays are undistorted, the images are left as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from inverse3d._dispatch import use_triton
from inverse3d._validation import check_positive_int

__all__ = [
    "DISTORTION_MODELS",
    "LensDistortion",
    "distort_points",
    "undistort_points",
    "undistort_ray_directions",
]

DISTORTION_MODELS: dict[str, tuple[str, ...]] = {
    "opencv": ("k1", "k2", "k3", "p1", "p2"),
    "fisheye": ("k1", "k2", "k3", "k4"),
}

# COLMAP camera model -> (our model, indices of its distortion parameters in COLMAP's params
# list placed at our coefficient positions).
_COLMAP = {
    "SIMPLE_PINHOLE": None,
    "PINHOLE": None,
    "SIMPLE_RADIAL": ("opencv", {0: 3}),  # f, cx, cy, k
    "RADIAL": ("opencv", {0: 3, 1: 4}),  # f, cx, cy, k1, k2
    "OPENCV": ("opencv", {0: 4, 1: 5, 3: 6, 4: 7}),  # fx, fy, cx, cy, k1, k2, p1, p2
    "OPENCV_FISHEYE": ("fisheye", {0: 4, 1: 5, 2: 6, 3: 7}),  # fx, fy, cx, cy, k1..k4
}


def _check_model(model: Any) -> str:
    if model not in DISTORTION_MODELS:
        raise ValueError(f"model must be one of {sorted(DISTORTION_MODELS)}; got {model!r}")
    return model


def _split(xy: torch.Tensor, coeffs: torch.Tensor, model: str):
    if not torch.is_tensor(xy) or xy.shape[-1:] != (2,):
        shape = tuple(xy.shape) if torch.is_tensor(xy) else type(xy).__name__
        raise ValueError(f"xy must be a (..., 2) tensor; got {shape}")
    n = len(DISTORTION_MODELS[model])
    coeffs = torch.as_tensor(coeffs, dtype=xy.dtype, device=xy.device)
    if coeffs.shape[-1:] != (n,):
        raise ValueError(
            f"coeffs must be (..., {n}) for model {model!r}; got {tuple(coeffs.shape)}"
        )
    return xy[..., 0], xy[..., 1], coeffs.unbind(-1)


def distort_points(xy: torch.Tensor, model: str, coeffs: torch.Tensor) -> torch.Tensor:
    """Distorted normalized coordinates of undistorted ones.

    xy: (..., 2) float, undistorted normalized coordinates (OpenCV frame: x right, y down).
    model: "opencv" or "fisheye"; coeffs: (..., P) float broadcastable against xy[..., 0]
    (P = 5 for "opencv": k1, k2, k3, p1, p2; P = 4 for "fisheye": k1..k4).
    Returns: (..., 2) float, the distorted coordinates.
    """
    model = _check_model(model)
    x, y, c = _split(xy, coeffs, model)
    if model == "opencv":
        k1, k2, k3, p1, p2 = c
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return torch.stack(torch.broadcast_tensors(xd, yd), -1)
    k1, k2, k3, k4 = c
    r = torch.sqrt(x * x + y * y)
    theta = torch.atan(r)
    t2 = theta * theta
    theta_d = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
    # theta_d / r -> 1 as r -> 0
    scale = torch.where(r > 1e-12, theta_d / r.clamp_min(1e-12), torch.ones_like(r))
    return torch.stack(torch.broadcast_tensors(x * scale, y * scale), -1)


def _kernel_applies(xy: torch.Tensor, coeffs: tuple[torch.Tensor, ...]) -> bool:
    """Whether the Triton kernel computes `undistort_points` here: float32 CUDA tensors (the
    dispatch rule of `use_triton`) and no gradient asked for (the kernel has no backward)."""
    if xy.dtype != torch.float32:
        return False
    if torch.is_grad_enabled() and (xy.requires_grad or any(t.requires_grad for t in coeffs)):
        return False
    return use_triton(xy, *coeffs, experimental=True)


# Newton's convergence is checked after every _CHECK_EVERY steps: a check is one host sync,
# a step about 40 elementwise kernels (opencv), so checking every step would cost more than it
# saves on the GPU. The iteration stops when every update is below _TOL_ULPS units of the
# dtype's precision relative to the point (1 + |x| + |y|): further steps change nothing.
_CHECK_EVERY = 3
_TOL_ULPS = 4.0


def _check_due(i: int, iterations: int) -> bool:
    """Whether convergence is checked after Newton step i (0-based) of `iterations`."""
    return (i + 1) % _CHECK_EVERY == 0 and i + 1 < iterations


def _converged(update: torch.Tensor, size: torch.Tensor) -> bool:
    """Every update below the tolerance relative to its point (one host sync)."""
    if update.numel() == 0:
        return False
    tol = _TOL_ULPS * torch.finfo(update.dtype).eps
    return bool((update <= tol * (1 + size)).all())


def undistort_points(
    xy: torch.Tensor, model: str, coeffs: torch.Tensor, iterations: int = 20
) -> torch.Tensor:
    """Undistorted normalized coordinates of distorted ones (inverse of `distort_points`).

    xy: (..., 2) float, distorted normalized coordinates; coeffs as in `distort_points`.
    iterations: the most Newton steps. Converges to float precision for the distortions of real
    lenses within their image, mostly in 2-4 steps: every `_CHECK_EVERY` steps the largest
    update is compared with the dtype's precision and the iteration stops once it is below
    (one host sync per check; the steps it saves are ~40 small kernel launches each). For
    "fisheye" the angle is kept below 90 degrees (rays behind the camera do not exist for a
    pinhole ray generator).
    Returns: (..., 2) float.
    """
    model = _check_model(model)
    iterations = check_positive_int(iterations, "iterations")
    xd, yd, c = _split(xy, coeffs, model)
    if _kernel_applies(xy, c):
        from inverse3d.renderer._triton.lens_distortion import undistort_points_triton

        return undistort_points_triton(xy, model, torch.stack(c, -1), iterations)
    if model == "opencv":
        k1, k2, k3, p1, p2 = c
        x, y = xd.clone(), yd.clone()
        for i in range(iterations):
            r2 = x * x + y * y
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            dradial = k1 + r2 * (2 * k2 + 3 * k3 * r2)  # d radial / d (r^2)
            fx = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x) - xd
            fy = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y - yd
            jxx = radial + 2 * x * x * dradial + 2 * p1 * y + 6 * p2 * x
            jxy = 2 * x * y * dradial + 2 * p1 * x + 2 * p2 * y
            jyy = radial + 2 * y * y * dradial + 6 * p1 * y + 2 * p2 * x
            det = jxx * jyy - jxy * jxy
            det = torch.where(det.abs() > 1e-12, det, torch.full_like(det, 1e-12))
            dx, dy = (jyy * fx - jxy * fy) / det, (jxx * fy - jxy * fx) / det
            x, y = x - dx, y - dy
            if _check_due(i, iterations) and _converged(dx.abs() + dy.abs(), x.abs() + y.abs()):
                break
        return torch.stack(torch.broadcast_tensors(x, y), -1)
    k1, k2, k3, k4 = c
    rd = torch.sqrt(xd * xd + yd * yd)  # = theta_d
    theta = rd.clone()
    limit = math.pi / 2 - 1e-4
    for i in range(iterations):
        t2 = theta * theta
        g = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - rd
        dg = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + 9 * k4 * t2)))
        dg = torch.where(dg.abs() > 1e-12, dg, torch.full_like(dg, 1e-12))
        new = (theta - g / dg).clamp(0.0, limit)
        done = _check_due(i, iterations) and _converged((new - theta).abs(), new)
        theta = new
        if done:
            break
    scale = torch.where(rd > 1e-12, torch.tan(theta) / rd.clamp_min(1e-12), torch.ones_like(rd))
    return torch.stack(torch.broadcast_tensors(xd * scale, yd * scale), -1)


@dataclass
class LensDistortion:
    """Per-camera distortion of a batch of N cameras: one model, coefficients (N, P).

    model: "opencv" (k1, k2, k3, p1, p2) or "fisheye" (k1, k2, k3, k4); see the module docstring.
    coeffs: (N, P) float.
    """

    model: str
    coeffs: torch.Tensor

    def __post_init__(self) -> None:
        _check_model(self.model)
        if not torch.is_tensor(self.coeffs):
            self.coeffs = torch.as_tensor(self.coeffs, dtype=torch.float32)
        n = len(DISTORTION_MODELS[self.model])
        if self.coeffs.ndim != 2 or self.coeffs.shape[1] != n:
            raise ValueError(
                f"coeffs must be (N, {n}) for model {self.model!r}; got {tuple(self.coeffs.shape)}"
            )
        if not torch.isfinite(self.coeffs).all():
            raise ValueError("coeffs hold NaN or inf values")

    def __len__(self) -> int:
        return int(self.coeffs.shape[0])

    def __getitem__(self, index) -> LensDistortion:
        if isinstance(index, int):
            index = [index]
        return LensDistortion(self.model, self.coeffs[index])

    def to(self, device: torch.device | str) -> LensDistortion:
        return LensDistortion(self.model, self.coeffs.to(device))

    def is_identity(self) -> bool:
        return bool((self.coeffs == 0).all())

    @classmethod
    def from_colmap(cls, models: list[str], params: list[list[float]]) -> LensDistortion | None:
        """Distortion of cameras given as COLMAP (model name, params list) per camera; None when
        no camera is distorted. Pinhole cameras get zero coefficients; mixing the radial-tangential
        and fisheye families is a ValueError."""
        ours, rows = set(), []
        for name, p in zip(models, params):
            if name not in _COLMAP:
                raise ValueError(f"unsupported COLMAP camera model {name!r} ({sorted(_COLMAP)})")
            spec = _COLMAP[name]
            if spec is None:
                rows.append(None)
                continue
            model, where = spec
            ours.add(model)
            row = [0.0] * len(DISTORTION_MODELS[model])
            for i, j in where.items():
                row[i] = float(p[j])
            rows.append(row)
        if not ours:
            return None
        if len(ours) > 1:
            raise ValueError("cameras mix fisheye and non-fisheye distortion models")
        model = ours.pop()
        zero = [0.0] * len(DISTORTION_MODELS[model])
        coeffs = torch.tensor([zero if r is None else r for r in rows], dtype=torch.float32)
        out = cls(model, coeffs)
        return None if out.is_identity() else out


def undistort_ray_directions(
    cameras, directions: torch.Tensor, distortion: LensDistortion, iterations: int = 20
) -> torch.Tensor:
    """Directions of the rays that really reach the pixels, given pinhole ray directions.

    cameras: N PyTorch3D-convention cameras (X_view = X_world R + T; +X left, +Y up, +Z forward).
    directions: (N, R, 3) float world-space directions of pinhole rays (as a raysampler makes
        them through the pixels); distortion: N cameras' `LensDistortion`.
    Returns: (N, R, 3) float unit directions.
    """
    if not torch.is_tensor(directions) or directions.ndim != 3 or directions.shape[-1] != 3:
        shape = tuple(directions.shape) if torch.is_tensor(directions) else type(directions)
        raise ValueError(f"directions must be (N, R, 3); got {shape}")
    n = directions.shape[0]
    if len(distortion) != n:
        raise ValueError(
            f"distortion must hold {n} cameras (one per batch item); got {len(distortion)}"
        )
    R = cameras.R.to(directions)
    if R.shape[0] == 1 and n > 1:
        R = R.expand(n, 3, 3)
    view = directions @ R  # (N, R, 3) in the view frame
    z = view[..., 2:3]
    z = torch.where(z.abs() > 1e-12, z, torch.full_like(z, 1e-12))
    xy_cv = -view[..., :2] / z  # OpenCV x right, y down = PyTorch3D's -X, -Y
    coeffs = distortion.coeffs.to(directions)[:, None, :]
    und = undistort_points(xy_cv, distortion.model, coeffs, iterations)
    d_view = torch.cat([-und, torch.ones_like(z)], -1)
    d_world = d_view @ R.transpose(1, 2)
    return torch.nn.functional.normalize(d_world, dim=-1)
