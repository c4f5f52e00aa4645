"""Similarity alignment of point sets: Umeyama and ICP (PyTorch3D `ops.points_alignment`).

Convention (PyTorch3D's row vectors): the transform maps X to ``s * X @ R + T``.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch

from inverse3d._validation import check_nonneg_int, check_tensor
from inverse3d.ops.knn import knn_points
from inverse3d.ops.utils import convert_pointclouds_to_tensor, eyes, is_pointclouds, wmean

__all__ = [
    "SimilarityTransform",
    "ICPSolution",
    "corresponding_points_alignment",
    "iterative_closest_point",
]


class SimilarityTransform(NamedTuple):
    """R: (N, D, D) float, T: (N, D) float, s: (N,) float; maps X to s * X @ R + T."""

    R: torch.Tensor
    T: torch.Tensor
    s: torch.Tensor


class ICPSolution(NamedTuple):
    """converged: bool; rmse: (N,) float or None; Xt: (N, P, D) transformed X;
    RTs: final SimilarityTransform; t_history: the transform of every iteration."""

    converged: bool
    rmse: torch.Tensor | None
    Xt: torch.Tensor
    RTs: SimilarityTransform
    t_history: list[SimilarityTransform]


def _as_padded(pcl, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not (is_pointclouds(pcl) or torch.is_tensor(pcl)):
        raise TypeError(
            f"{name} must be a Pointclouds object or a (N, P, D) tensor; got {type(pcl).__name__}"
        )
    if torch.is_tensor(pcl):
        check_tensor(pcl, name, ("N", "P", "D"), "float")
    return convert_pointclouds_to_tensor(pcl)


def _apply_similarity_transform(X: torch.Tensor, R, T, s) -> torch.Tensor:
    return s[:, None, None] * torch.bmm(X, R) + T[:, None, :]


def corresponding_points_alignment(
    X,
    Y,
    weights: torch.Tensor | list[torch.Tensor] | None = None,
    estimate_scale: bool = False,
    allow_reflection: bool = False,
    eps: float = 1e-9,
) -> SimilarityTransform:
    """Least-squares similarity transform between corresponding points (Umeyama, 1991).

    Minimises sum_i w_i |s X_i R + T - Y_i|^2 over rotations R (det +1 unless
    allow_reflection), translations T and, if estimate_scale, a scale s > 0.

    Args:
        X: (N, P, D) float tensor or Pointclouds, source points.
        Y: (N, P, D) float tensor or Pointclouds, corresponding target points (same sizes).
        weights: optional (N, P) float non-negative weights, or a list of N (P_n,) tensors.
            Padding points of heterogeneous clouds get weight 0.
        estimate_scale: estimate s (otherwise s = 1).
        allow_reflection: allow det(R) = -1.
        eps: lower bound of weight sums and of the variance of X.

    Returns:
        SimilarityTransform(R (N, D, D), T (N, D), s (N,)), differentiable in X, Y, weights.
        Note: the weights multiply the squared residuals once (PyTorch3D multiplies the
        centred points by them, i.e. weights the residuals by w^2 for non-binary weights).
    """
    Xt, nX = _as_padded(X, "X")
    Yt, nY = _as_padded(Y, "Y")
    if Xt.shape != Yt.shape:
        raise ValueError(
            f"X and Y must have the same shape (corresponding points); got {tuple(Xt.shape)} "
            f"and {tuple(Yt.shape)}"
        )
    if bool((nX != nY).any()):
        raise ValueError("X and Y must have the same number of points in every cloud")
    N, P, D = Xt.shape
    mask = (torch.arange(P, device=Xt.device)[None] < nX[:, None]).to(Xt.dtype)  # (N, P)
    if weights is not None:
        if isinstance(weights, (list, tuple)):
            w = Xt.new_zeros((N, P))
            for i, wi in enumerate(weights):
                check_tensor(wi, f"weights[{i}]", (int(nX[i]),), "float")
                w[i, : len(wi)] = wi
            weights = w
        check_tensor(weights, "weights", (N, P), "float")
        if bool((weights < 0).any()):
            raise ValueError("weights must be non-negative")
        mask = mask * weights
    if bool((nX < D + 1).any()):
        warnings.warn(
            f"a point cloud has fewer than D + 1 = {D + 1} points: the rotation is not unique",
            stacklevel=2,
        )
    total = mask.sum(1).clamp(min=eps)  # (N,)
    Xmu = wmean(Xt, mask, eps=eps)  # (N, 1, D)
    Ymu = wmean(Yt, mask, eps=eps)
    Xc, Yc = Xt - Xmu, Yt - Ymu
    cov = torch.bmm((Xc * mask[..., None]).transpose(1, 2), Yc) / total[:, None, None]  # (N,D,D)
    U, S, Vh = torch.linalg.svd(cov)
    if bool((S.abs() <= 1e-5).any()):
        warnings.warn(
            "excessively low rank of the cross-covariance: the rotation may be unreliable",
            stacklevel=2,
        )
    E = torch.ones((N, D), dtype=Xt.dtype, device=Xt.device)
    if not allow_reflection:
        d = torch.det(torch.bmm(U, Vh))
        E = torch.cat([E[:, :-1], d.sign()[:, None]], dim=1)
    R = torch.bmm(U * E[:, None, :], Vh)  # (N, D, D) = U diag(E) V^T
    if estimate_scale:
        var_x = (Xc * Xc * mask[..., None]).sum((1, 2)) / total
        s = (E * S).sum(1) / var_x.clamp(min=eps)
    else:
        s = Xt.new_ones(N)
    T = Ymu[:, 0] - s[:, None] * torch.bmm(Xmu, R)[:, 0]
    return SimilarityTransform(R, T, s)


def iterative_closest_point(
    X,
    Y,
    init_transform: SimilarityTransform | None = None,
    max_iterations: int = 100,
    relative_rmse_thr: float = 1e-6,
    estimate_scale: bool = False,
    allow_reflection: bool = False,
    verbose: bool = False,
) -> ICPSolution:
    """Align X to Y by ICP: alternate nearest-neighbour matching and Umeyama alignment.

    Args:
        X: (N, P1, D) float tensor or Pointclouds, the cloud to move.
        Y: (N, P2, D) float tensor or Pointclouds, the target.
        init_transform: optional SimilarityTransform(R (N, D, D), T (N, D), s (N,)) to start
            from (identity otherwise).
        max_iterations: maximum number of iterations.
        relative_rmse_thr: stop when (rmse_prev - rmse) / rmse_prev <= this for all clouds.
        estimate_scale: estimate a scale as well.
        allow_reflection: allow det(R) = -1.
        verbose: print the rmse of each iteration.

    Returns:
        ICPSolution(converged, rmse (N,), Xt (N, P1, D) = X transformed, RTs, t_history).
    """
    Xt, nX = _as_padded(X, "X")
    Yt, nY = _as_padded(Y, "Y")
    if Xt.shape[0] != Yt.shape[0] or Xt.shape[2] != Yt.shape[2]:
        raise ValueError(
            f"X and Y must have the same batch size and point dimension; got "
            f"{tuple(Xt.shape)} and {tuple(Yt.shape)}"
        )
    max_iterations = check_nonneg_int(max_iterations, "max_iterations")
    N, P, D = Xt.shape
    mask = (torch.arange(P, device=Xt.device)[None] < nX[:, None]).to(Xt.dtype)  # (N, P)
    X0 = Xt.clone()
    if init_transform is not None:
        ok = isinstance(init_transform, tuple) and len(init_transform) == 3
        if ok:
            R, T, s = init_transform
            ok = all(torch.is_tensor(t) for t in (R, T, s)) and (
                R.shape == (N, D, D) and T.shape == (N, D) and s.shape == (N,)
            )
        if not ok:
            raise ValueError(
                f"init_transform must be a SimilarityTransform(R, T, s) with R (N, D, D) = "
                f"({N}, {D}, {D}), T ({N}, {D}) and s ({N},)"
            )
        Xt = _apply_similarity_transform(X0, R, T, s)
    else:
        R = eyes(D, N, device=Xt.device, dtype=Xt.dtype)
        T = Xt.new_zeros((N, D))
        s = Xt.new_ones(N)
    prev_rmse = None
    rmse = None
    converged = False
    history: list[SimilarityTransform] = []
    for it in range(max_iterations):
        nn = knn_points(Xt, Yt, lengths1=nX, lengths2=nY, K=1, return_nn=True).knn[:, :, 0]
        R, T, s = corresponding_points_alignment(
            X0, nn, weights=mask, estimate_scale=estimate_scale, allow_reflection=allow_reflection
        )
        Xt = _apply_similarity_transform(X0, R, T, s)
        history.append(SimilarityTransform(R, T, s))
        sq = ((Xt - nn) ** 2).sum(2)  # (N, P)
        rmse = wmean(sq[..., None], mask).sqrt()[:, 0, 0]  # (N,)
        if prev_rmse is None:
            rel = rmse.new_ones(N)
        else:
            rel = (prev_rmse - rmse) / prev_rmse.clamp(min=1e-30)
        if verbose:
            print(f"ICP iteration {it}: mean rmse = {float(rmse.mean()):1.2e}; mean relative "
                  f"rmse = {float(rel.mean()):1.2e}")  # fmt: skip
        if bool((rel <= relative_rmse_thr).all()):
            converged = True
            break
        prev_rmse = rmse
    if verbose:
        print("ICP has converged." if converged else "ICP has not converged.")
    return ICPSolution(converged, rmse, Xt, SimilarityTransform(R, T, s), history)
