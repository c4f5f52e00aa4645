"""Triton kernel of `renderer.lens_distortion.undistort_points` (Newton's method per point).

The reference runs `iterations` Newton steps as tensor operations: about 45 kernel launches per
step, 900 for the default 20 steps, for every batch of rays a NeRF step casts (on a GPU that
launch overhead, not arithmetic, is the cost). Here one program handles BLOCK points and runs
every step in registers. Same formulas, same clamps as the reference; float32 only, and only
where no gradient is needed (the caller checks both).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

BLOCK = 256


@triton.jit
def _undistort_kernel(
    xy_ptr,
    coef_ptr,
    out_ptr,
    n,
    FISHEYE: tl.constexpr,
    P: tl.constexpr,
    ITERS: tl.constexpr,
    LIMIT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    xd = tl.load(xy_ptr + 2 * offs, mask=m, other=0.0)
    yd = tl.load(xy_ptr + 2 * offs + 1, mask=m, other=0.0)
    c0 = tl.load(coef_ptr + P * offs, mask=m, other=0.0)
    c1 = tl.load(coef_ptr + P * offs + 1, mask=m, other=0.0)
    c2 = tl.load(coef_ptr + P * offs + 2, mask=m, other=0.0)
    c3 = tl.load(coef_ptr + P * offs + 3, mask=m, other=0.0)
    if FISHEYE:
        rd = tl.sqrt(xd * xd + yd * yd)
        theta = rd
        for _ in tl.static_range(ITERS):
            t2 = theta * theta
            g = theta * (1.0 + t2 * (c0 + t2 * (c1 + t2 * (c2 + t2 * c3)))) - rd
            dg = 1.0 + t2 * (3.0 * c0 + t2 * (5.0 * c1 + t2 * (7.0 * c2 + 9.0 * c3 * t2)))
            dg = tl.where(tl.abs(dg) > 1e-12, dg, 1e-12)
            theta = tl.minimum(tl.maximum(theta - g / dg, 0.0), LIMIT)
        tan = tl.sin(theta) / tl.cos(theta)
        scale = tl.where(rd > 1e-12, tan / tl.maximum(rd, 1e-12), 1.0)
        x = xd * scale
        y = yd * scale
    else:
        c4 = tl.load(coef_ptr + P * offs + 4, mask=m, other=0.0)  # k1 k2 k3 p1 p2
        x = xd
        y = yd
        for _ in tl.static_range(ITERS):
            r2 = x * x + y * y
            radial = 1.0 + r2 * (c0 + r2 * (c1 + r2 * c2))
            dradial = c0 + r2 * (2.0 * c1 + 3.0 * c2 * r2)
            fx = x * radial + 2.0 * c3 * x * y + c4 * (r2 + 2.0 * x * x) - xd
            fy = y * radial + c3 * (r2 + 2.0 * y * y) + 2.0 * c4 * x * y - yd
            jxx = radial + 2.0 * x * x * dradial + 2.0 * c3 * y + 6.0 * c4 * x
            jxy = 2.0 * x * y * dradial + 2.0 * c3 * x + 2.0 * c4 * y
            jyy = radial + 2.0 * y * y * dradial + 6.0 * c3 * y + 2.0 * c4 * x
            det = jxx * jyy - jxy * jxy
            det = tl.where(tl.abs(det) > 1e-12, det, 1e-12)
            x = x - (jyy * fx - jxy * fy) / det
            y = y - (jxx * fy - jxy * fx) / det
    tl.store(out_ptr + 2 * offs, x, mask=m)
    tl.store(out_ptr + 2 * offs + 1, y, mask=m)


def undistort_points_triton(
    xy: torch.Tensor, model: str, coeffs: torch.Tensor, iterations: int
) -> torch.Tensor:
    """`undistort_points` for float32 tensors (validated by the caller).

    xy: (..., 2) float32; coeffs: (..., P) float32 broadcastable against xy[..., 0].
    Returns: (..., 2) float32.
    """
    shape = torch.broadcast_shapes(xy.shape[:-1], coeffs.shape[:-1])
    p = coeffs.shape[-1]
    pts = xy.expand(*shape, 2).reshape(-1, 2).contiguous()
    coef = coeffs.expand(*shape, p).reshape(-1, p).contiguous()
    out = torch.empty_like(pts)
    n = pts.shape[0]
    if n:
        _undistort_kernel[(triton.cdiv(n, BLOCK),)](
            pts,
            coef,
            out,
            n,
            FISHEYE=model == "fisheye",
            P=p,
            ITERS=int(iterations),
            LIMIT=math.pi / 2 - 1e-4,
            BLOCK=BLOCK,
        )
    return out.reshape(*shape, 2)
