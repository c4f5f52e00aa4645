"""Lens distortion: OpenCV's projection formulas written out in numpy are the truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inverse3d.renderer.implicit.image_rays import random_pixel_rays, render_image_rays
from inverse3d.renderer.lens_distortion import (
    LensDistortion,
    distort_points,
    undistort_points,
    undistort_ray_directions,
)
from inverse3d.utils.camera_conversions import cameras_from_opencv_projection

# COLMAP cameras (model, params) as cameras.txt writes them, fx fy cx cy first (f for SIMPLE_*).
COLMAP = {
    "SIMPLE_RADIAL": [40.0, 16.0, 12.0, -0.12],
    "RADIAL": [40.0, 16.0, 12.0, -0.15, 0.05],
    "OPENCV": [41.0, 39.0, 16.3, 11.8, -0.2, 0.07, 0.004, -0.003],
    "OPENCV_FISHEYE": [30.0, 31.0, 16.0, 12.0, 0.05, -0.02, 0.004, -0.001],
}


def np_project(X, R, t, model, params):
    """Pixels (u, v) of world points X (P, 3): OpenCV's projectPoints / fisheye.projectPoints
    formulas, with COLMAP's parameter layout."""
    Xc = X @ R.T + t
    a, b = Xc[:, 0] / Xc[:, 2], Xc[:, 1] / Xc[:, 2]
    r2 = a * a + b * b
    if model in ("SIMPLE_RADIAL", "RADIAL"):
        f, cx, cy, *k = params
        fx = fy = f
        k1, k2 = (k + [0.0])[:2]
        radial = 1 + k1 * r2 + k2 * r2**2
        xd, yd = a * radial, b * radial
    elif model == "OPENCV":
        fx, fy, cx, cy, k1, k2, p1, p2 = params
        radial = 1 + k1 * r2 + k2 * r2**2
        xd = a * radial + 2 * p1 * a * b + p2 * (r2 + 2 * a * a)
        yd = b * radial + p1 * (r2 + 2 * b * b) + 2 * p2 * a * b
    else:
        fx, fy, cx, cy, k1, k2, k3, k4 = params
        r = np.sqrt(r2)
        th = np.arctan(r)
        thd = th * (1 + k1 * th**2 + k2 * th**4 + k3 * th**6 + k4 * th**8)
        xd, yd = thd / r * a, thd / r * b
    return np.stack([fx * xd + cx, fy * yd + cy], -1)


def _camera(model):
    p = COLMAP[model]
    if model.startswith("SIMPLE") or model == "RADIAL":
        fx = fy = p[0]
        cx, cy = p[1], p[2]
    else:
        fx, fy, cx, cy = p[:4]
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    ang = 0.3
    R = np.array([[np.cos(ang), 0, np.sin(ang)], [0, 1, 0], [-np.sin(ang), 0, np.cos(ang)]])
    t = np.array([0.1, -0.2, 3.0])
    return K, R, t


@pytest.mark.parametrize("model", sorted(COLMAP))
def test_distort_matches_opencv_formulas(model):
    K, R, t = _camera(model)
    rng = np.random.default_rng(0)
    X = rng.uniform(-0.8, 0.8, size=(50, 3))
    uv = np_project(X, R, t, model, COLMAP[model])
    dist = LensDistortion.from_colmap([model], [COLMAP[model]])
    Xc = X @ R.T + t
    xy = torch.from_numpy(Xc[:, :2] / Xc[:, 2:]).double()
    xyd = distort_points(xy, dist.model, dist.coeffs[0].double()).numpy()
    ours = xyd * K[[0, 1], [0, 1]] + K[:2, 2]
    np.testing.assert_allclose(ours, uv, atol=1e-9)


@pytest.mark.parametrize("model", sorted(COLMAP))
def test_round_trips(model):
    dist = LensDistortion.from_colmap([model], [COLMAP[model]])
    g = torch.Generator().manual_seed(1)
    xy = (torch.rand(400, 2, generator=g, dtype=torch.float64) - 0.5) * 0.9  # within the image
    c = dist.coeffs[0].double()
    back = undistort_points(distort_points(xy, dist.model, c), dist.model, c)
    torch.testing.assert_close(back, xy, atol=1e-10, rtol=0)
    again = distort_points(undistort_points(xy, dist.model, c), dist.model, c)
    torch.testing.assert_close(again, xy, atol=1e-10, rtol=0)
    assert (back - xy).abs().max() < (distort_points(xy, dist.model, c) - xy).abs().max()


class _CountOps(torch.utils._python_dispatch.TorchDispatchMode):
    """Counts the aten operators run inside the block (each is one kernel launch on a GPU)."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("model", sorted(COLMAP))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_newton_stops_once_converged(model, dtype, monkeypatch):
    """The early stop gives the fixed-count result (to the dtype's precision) with a fraction of
    the operators: a real lens converges in a few of the 20 steps."""
    from inverse3d.renderer import lens_distortion as ld

    dist = LensDistortion.from_colmap([model], [COLMAP[model]])
    g = torch.Generator().manual_seed(2)
    xy = ((torch.rand(4096, 2, generator=g, dtype=torch.float64) - 0.5) * 0.9).to(dtype)
    c = dist.coeffs[0].to(dtype)
    with _CountOps() as early:
        fast = undistort_points(xy, dist.model, c)
    monkeypatch.setattr(ld, "_CHECK_EVERY", 10**9)  # never checks: all 20 steps
    with _CountOps() as full:
        slow = undistort_points(xy, dist.model, c)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(fast, slow, atol=16 * eps, rtol=0)
    assert early.n < 0.5 * full.n, (early.n, full.n)


def test_full_opencv_k3_and_identity():
    xy = torch.tensor([[0.3, -0.2], [0.0, 0.0], [-0.4, 0.35]], dtype=torch.float64)
    c = torch.tensor([-0.1, 0.02, 0.01, 0.001, 0.002], dtype=torch.float64)
    x, y = xy[:, 0], xy[:, 1]
    r2 = x * x + y * y
    rad = 1 - 0.1 * r2 + 0.02 * r2**2 + 0.01 * r2**3
    ref = torch.stack(
        [
            x * rad + 2 * 0.001 * x * y + 0.002 * (r2 + 2 * x * x),
            y * rad + 0.001 * (r2 + 2 * y * y) + 2 * 0.002 * x * y,
        ],
        -1,
    )
    torch.testing.assert_close(distort_points(xy, "opencv", c), ref)
    torch.testing.assert_close(undistort_points(ref, "opencv", c), xy, atol=1e-12, rtol=0)
    zero = torch.zeros(5, dtype=torch.float64)
    torch.testing.assert_close(undistort_points(xy, "opencv", zero), xy)
    assert (
        LensDistortion.from_colmap(["PINHOLE", "RADIAL"], [[1, 2, 3, 4], [1, 2, 3, 0, 0]]) is None
    )


def test_validation():
    with pytest.raises(ValueError, match="model must be one of"):
        distort_points(torch.zeros(3, 2), "brown", torch.zeros(5))
    with pytest.raises(ValueError, match=r"coeffs must be \(\.\.\., 5\)"):
        distort_points(torch.zeros(3, 2), "opencv", torch.zeros(4))
    with pytest.raises(ValueError, match=r"xy must be a \(\.\.\., 2\)"):
        undistort_points(torch.zeros(3, 3), "opencv", torch.zeros(5))
    with pytest.raises(ValueError, match=r"coeffs must be \(N, 4\)"):
        LensDistortion("fisheye", torch.zeros(2, 5))
    with pytest.raises(ValueError, match="mix fisheye"):
        LensDistortion.from_colmap(["OPENCV", "OPENCV_FISHEYE"], [COLMAP["OPENCV"]] * 2)
    with pytest.raises(ValueError, match="unsupported COLMAP camera model"):
        LensDistortion.from_colmap(["FOV"], [[1.0]])
    d = LensDistortion("opencv", torch.zeros(2, 5))
    with pytest.raises(ValueError, match="distortion must hold 3 cameras"):
        undistort_ray_directions(None, torch.zeros(3, 4, 3), d)


def _ndc_to_pixel(xys, h, w):
    s = min(h, w)
    return np.stack([w / 2 - xys[..., 0] * s / 2, h / 2 - xys[..., 1] * s / 2], -1)


@pytest.mark.parametrize("model", ["OPENCV", "OPENCV_FISHEYE", "pinhole"])
def test_rays_hit_their_projected_pixel(model):
    """Points along each undistorted ray project (OpenCV formulas, numpy) to the ray's pixel."""
    h, w = 24, 32
    name = "OPENCV" if model == "pinhole" else model
    K, R, t = _camera(name)
    params = COLMAP[name]
    cams = cameras_from_opencv_projection(
        R=torch.from_numpy(R)[None].float(),
        tvec=torch.from_numpy(t)[None].float(),
        camera_matrix=torch.from_numpy(K)[None].float(),
        image_size=torch.tensor([[h, w]], dtype=torch.float32),
    )
    dist = None if model == "pinhole" else LensDistortion.from_colmap([name], [params])
    if dist is None:
        params = [params[0], params[1], params[2], params[3], 0.0, 0.0, 0.0, 0.0]
    torch.manual_seed(0)
    b = random_pixel_rays(cams, (h, w), 64, 3, 1.0, 4.0, distortion=dist)
    pts = (b.origins[..., None, :] + b.lengths[..., None] * b.directions[..., None, :])[0]
    uv = np_project(pts.reshape(-1, 3).double().numpy(), R, t, name, params).reshape(64, 3, 2)
    want = _ndc_to_pixel(b.xys[0].double().numpy(), h, w)[:, None].repeat(3, 1)
    np.testing.assert_allclose(uv, want, atol=1e-3)
    torch.testing.assert_close(
        b.directions.norm(dim=-1), torch.ones(1, 64, dtype=b.directions.dtype)
    )


def test_render_image_rays_uses_distortion():
    """Every pixel centre's ray of a whole-image render reprojects to that pixel centre."""
    h, w = 6, 8
    K, R, t = _camera("OPENCV")
    K[0, 2], K[1, 2] = 4.2, 2.9
    K[0, 0] = K[1, 1] = 9.0
    params = [9.0, 9.0, 4.2, 2.9, -0.25, 0.05, 0.003, 0.002]
    cams = cameras_from_opencv_projection(
        R=torch.from_numpy(R)[None].repeat(2, 1, 1).float(),
        tvec=torch.from_numpy(t)[None].repeat(2, 1).float(),
        camera_matrix=torch.from_numpy(K)[None].repeat(2, 1, 1).float(),
        image_size=torch.tensor([[h, w]] * 2, dtype=torch.float32),
    )
    dist = LensDistortion.from_colmap(["OPENCV"] * 2, [params] * 2)
    out = render_image_rays(
        cams,
        (h, w),
        lambda b: b.origins + 2.5 * b.directions,
        1,
        1.0,
        4.0,
        chunk=7,
        distortion=dist,
    )
    uv = np_project(out[1].reshape(-1, 3).double().numpy(), R, t, "OPENCV", params).reshape(h, w, 2)
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    np.testing.assert_allclose(uv, np.stack([jj, ii], -1), atol=1e-3)
