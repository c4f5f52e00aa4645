"""Perspective-n-Point by EPnP (Lepetit et al. 2009) (PyTorch3D `ops.efficient_pnp`).

Convention (PyTorch3D's row vectors): camera points are ``x_cam = x @ R + T`` and the
projections are ``y = x_cam[..., :2] / x_cam[..., 2:]`` (normalized image coordinates).

Every world point is written as a barycentric combination (alphas) of 4 control points (the
weighted centroid and the centroid plus each unit axis). The projection equations are linear in
the camera coordinates of the control points (12 unknowns): their solutions lie in the null space
of a (2P, 12) matrix M. Candidates are each of the 4 least singular vectors, and the
combinations of the first 2 and 3 of them whose control-point distances best match the world
ones (linearized, least squares on the products of the coefficients). Each candidate is
sign-fixed (points in front of the camera) and scaled by a similarity alignment with the world
points; the one with the least reprojection error is returned.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch

from inverse3d._validation import check_tensor
from inverse3d.ops.points_alignment import corresponding_points_alignment
from inverse3d.ops.utils import wmean

__all__ = ["EpnpSolution", "efficient_pnp"]


class EpnpSolution(NamedTuple):
    """x_cam (N, P, 3), R (N, 3, 3), T (N, 3), err_2d (N,), err_3d (N,)."""

    x_cam: torch.Tensor
    R: torch.Tensor
    T: torch.Tensor
    err_2d: torch.Tensor
    err_3d: torch.Tensor


def _reproj_error(x_cam: torch.Tensor, y: torch.Tensor, weight, eps: float = 1e-9):
    y_hat = x_cam[..., :2] / x_cam[..., 2:].clamp(min=eps)
    dist = ((y - y_hat) ** 2).sum(-1, keepdim=True).sqrt()
    return wmean(dist, weight)[:, 0, 0]


def _algebraic_error(x_w_rotated: torch.Tensor, x_cam: torch.Tensor, weight):
    dist = ((x_w_rotated - x_cam) ** 2).sum(-1, keepdim=True)
    return wmean(dist, weight)[:, 0, 0]


def _solution(c_cam, alphas, x, y, weight, eps: float = 1e-9) -> EpnpSolution:
    """Scale and sign of candidate control points c_cam (N, 4, 3) fixed by Umeyama."""
    x_cam = alphas @ c_cam  # (N, P, 3)
    flip = (wmean(x_cam[..., 2:], weight) < 0).to(x_cam.dtype)  # (N, 1, 1)
    x_cam = x_cam * (1.0 - 2.0 * flip)
    R, T, s = corresponding_points_alignment(x, x_cam, weight, estimate_scale=True)
    s = s.clamp(min=eps)
    x_cam = x_cam / s[:, None, None]
    T = T / s[:, None]
    x_w_rot = x @ R + T[:, None]
    return EpnpSolution(
        x_cam, R, T, _reproj_error(x_w_rot, y, weight), _algebraic_error(x_w_rot, x_cam, weight)
    )


def _pairs(t: torch.Tensor) -> torch.Tensor:
    """Differences of the 6 pairs of the 4 control points along dim 1: (N, 4, ...) -> (N, 6, ...)."""
    i, j = torch.triu_indices(4, 4, 1, device=t.device)
    return t[:, i] - t[:, j]


def _combination(kernel: torch.Tensor, c_world: torch.Tensor, k: int) -> torch.Tensor:
    """Control points (N, 4, 3) from the first k kernel vectors whose pairwise distances match
    the world control points' (least squares on the products beta_a beta_b)."""
    dk = _pairs(kernel[..., :k])  # (N, 6, 3, k)
    rho = (_pairs(c_world) ** 2).sum(-1)  # (N, 6)
    cols = []
    for a in range(k):
        for b in range(a, k):
            f = 1.0 if a == b else 2.0
            cols.append(f * (dk[..., a] * dk[..., b]).sum(-1))  # (N, 6)
    L = torch.stack(cols, dim=-1)  # (N, 6, k(k+1)/2)
    prods = torch.linalg.lstsq(L, rho[..., None]).solution[..., 0]  # (N, k(k+1)/2)
    b11 = prods[:, 0].abs().sqrt().clamp(min=1e-12)
    betas = [b11]
    for a in range(1, k):
        betas.append(prods[:, a] / b11)  # beta_1 beta_a / beta_1
    beta = torch.stack(betas, dim=1)  # (N, k)
    return (kernel[..., :k] * beta[:, None, None]).sum(-1)  # (N, 4, 3)


def efficient_pnp(
    x: torch.Tensor,
    y: torch.Tensor,
    weights: torch.Tensor | None = None,
    skip_quadratic_eq: bool = False,
) -> EpnpSolution:
    """Camera pose from 3D points and their 2D projections.

    Args:
        x: (N, P, 3) float world points (P >= 4; P >= 6 for a unique solution in general).
        y: (N, P, 2) float their projections in normalized image coordinates.
        weights: optional (N, P) float non-negative point weights.
        skip_quadratic_eq: only use the single kernel vectors as candidates.

    Returns:
        EpnpSolution(x_cam (N, P, 3) estimated camera-space points, R (N, 3, 3), T (N, 3),
        err_2d (N,) mean reprojection error, err_3d (N,) mean squared distance between
        x @ R + T and x_cam); differentiable in x and y.
    """
    check_tensor(x, "x", ("N", "P", 3), "float")
    dims = {"N": x.shape[0], "P": x.shape[1]}
    check_tensor(y, "y", ("N", "P", 2), "float", dims=dims)
    if weights is not None:
        check_tensor(weights, "weights", ("N", "P"), "float", dims=dims)
    if x.shape[1] < 4:
        raise ValueError(f"x must have at least 4 points per batch element; got {x.shape[1]}")
    dtype = torch.promote_types(x.dtype, y.dtype)
    x, y = x.to(dtype), y.to(dtype)
    N, P, _ = x.shape
    eye = torch.eye(3, dtype=dtype, device=x.device)
    c_world = torch.cat([eye, eye.new_zeros((1, 3))])[None] + wmean(x.detach(), weights)  # (N,4,3)
    xh = torch.cat([x, x.new_ones((N, P, 1))], -1)  # (N, P, 4)
    ch = torch.cat([c_world, c_world.new_ones((N, 4, 1))], -1)  # (N, 4, 4)
    alphas = xh @ torch.linalg.inv(ch)  # (N, P, 4) barycentric coordinates
    a = alphas if weights is None else alphas * weights[..., None]
    zero, one = torch.zeros_like(y[..., 0]), torch.ones_like(y[..., 0])
    row_u = torch.stack([one, zero, -y[..., 0]], -1)  # (N, P, 3)
    row_v = torch.stack([zero, one, -y[..., 1]], -1)
    Mu = (a[..., :, None] * row_u[..., None, :]).reshape(N, P, 12)
    Mv = (a[..., :, None] * row_v[..., None, :]).reshape(N, P, 12)
    M = torch.stack([Mu, Mv], 2).reshape(N, 2 * P, 12)
    _, vecs = torch.linalg.eigh(M.transpose(1, 2) @ M)  # ascending eigenvalues
    kernel = vecs[:, :, :4].reshape(N, 4, 3, 4)  # (N, 4 control points, 3, 4 vectors)
    candidates = [kernel[..., i] for i in range(4)]
    if not skip_quadratic_eq:
        candidates += [_combination(kernel, c_world, k) for k in (2, 3)]
    sols = [_solution(c, alphas, x, y, weights) for c in candidates]
    err = torch.stack([s.err_2d for s in sols], dim=1)  # (N, S)
    best = err.argmin(dim=1)
    idx = torch.arange(N, device=x.device)
    out = EpnpSolution(*[torch.stack(list(f), dim=1)[idx, best] for f in zip(*sols)])
    if bool((out.x_cam[..., 2] < 0).any()):
        warnings.warn("EPnP: some points have z < 0 in the estimated camera frame", stacklevel=2)
    return out
