"""Chamfer distance between batches of point clouds (PyTorch3D 0.7.9 semantics)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from inverse3d._validation import check_tensor, with_phrase
from inverse3d.common.errors import ArgTypeError
from inverse3d.ops.knn import knn_gather, knn_points
from inverse3d.ops.utils import is_pointclouds

__all__ = ["chamfer_distance"]


def _validate_reductions(batch_reduction, point_reduction) -> None:
    if batch_reduction is not None and batch_reduction not in ("mean", "sum"):
        raise ValueError(
            f'batch_reduction must be one of ["mean", "sum"] or None; got {batch_reduction!r}'
        )
    if point_reduction is not None and point_reduction not in ("mean", "sum", "max"):
        raise ValueError(
            f'point_reduction must be one of ["mean", "sum", "max"] or None; got {point_reduction!r}'
        )
    if point_reduction is None and batch_reduction is not None:
        raise ValueError("Batch reduction must be None if point_reduction is None")


def _handle_input(points, lengths, normals, name: str):
    if is_pointclouds(points):
        X = points.points_padded()
        lengths = points.num_points_per_cloud()
        normals = points.normals_padded()
        return X, lengths.to(torch.int64), normals
    if not torch.is_tensor(points):
        raise ArgTypeError(
            "The input pointclouds should be either Pointclouds objects or torch.Tensor of "
            f"shape (minibatch, num_points, 3): {name} is a {type(points).__name__}"
        )
    with with_phrase("Expected points to be of shape (N, P, D)"):
        check_tensor(points, name, ("N", "P", "D"), "float")
    N, P = points.shape[:2]
    if lengths is None:
        lengths = torch.full((N,), P, dtype=torch.int64, device=points.device)
    else:
        with with_phrase("Expected lengths to be of shape (N,)"):
            check_tensor(lengths, f"{name}_lengths", (N,), "int")
        if N and (int(lengths.max()) > P or int(lengths.min()) < 0):
            raise ValueError(
                f"A length value was too long (or negative): {name}_lengths values must lie in "
                f"[0, {P}] (the padded size); "
                f"got max {int(lengths.max())}, min {int(lengths.min())}"
            )
        lengths = lengths.to(torch.int64)
    if normals is not None:
        with with_phrase("Expected normals to be of shape (N, P, 3)"):
            check_tensor(normals, f"{name}_normals", (N, P, 3), "float")
    return points, lengths, normals


def _single_direction(
    x, y, x_lengths, y_lengths, x_normals, y_normals, weights, point_reduction, norm, abs_cosine
):
    return_normals = x_normals is not None and y_normals is not None
    N, P1, _ = x.shape
    x_mask = torch.arange(P1, device=x.device)[None] >= x_lengths[:, None]  # (N, P1) padding
    x_nn = knn_points(x, y, lengths1=x_lengths, lengths2=y_lengths, norm=norm, K=1)
    cham_x = x_nn.dists[..., 0].masked_fill(x_mask, 0.0)  # (N, P1)
    if weights is not None:
        cham_x = cham_x * weights.view(N, 1)
    cham_norm_x = None
    if return_normals:
        near = knn_gather(y_normals, x_nn.idx, y_lengths)[..., 0, :]
        cos = F.cosine_similarity(x_normals, near, dim=2, eps=1e-6)
        cham_norm_x = 1 - (cos.abs() if abs_cosine else cos)
        cham_norm_x = cham_norm_x.masked_fill(x_mask, 0.0)
        if weights is not None:
            cham_norm_x = cham_norm_x * weights.view(N, 1)
    if point_reduction == "max":
        cham_x = cham_x.max(1).values if P1 else cham_x.new_zeros((N,))
    elif point_reduction is not None:
        cham_x = cham_x.sum(1)
        if return_normals:
            cham_norm_x = cham_norm_x.sum(1)
        if point_reduction == "mean":
            div = x_lengths.clamp(min=1).to(cham_x.dtype)
            cham_x = cham_x / div
            if return_normals:
                cham_norm_x = cham_norm_x / div
    return cham_x, cham_norm_x


def _batch_reduce(loss, loss_normals, weights, batch_reduction):
    if batch_reduction is None:
        return loss, loss_normals
    N = loss.shape[0]
    loss = loss.sum()
    if loss_normals is not None:
        loss_normals = loss_normals.sum()
    if batch_reduction == "mean":
        if weights is None:
            div = max(N, 1)
        elif float(weights.sum()) == 0.0:
            div = 1
        else:
            div = weights.sum()
        loss = loss / div
        if loss_normals is not None:
            loss_normals = loss_normals / div
    return loss, loss_normals


def chamfer_distance(
    x,
    y,
    x_lengths: torch.Tensor | None = None,
    y_lengths: torch.Tensor | None = None,
    x_normals: torch.Tensor | None = None,
    y_normals: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    batch_reduction: str | None = "mean",
    point_reduction: str | None = "mean",
    norm: int = 2,
    single_directional: bool = False,
    abs_cosine: bool = True,
):
    """Chamfer distance between two batches of point clouds.

    For each point of x the distance to its nearest neighbour in y (squared L2 for norm=2, L1
    for norm=1), and the other way round unless single_directional.

    Args:
        x: (N, P1, D) float or a Pointclouds (its lengths and normals are then used).
        y: (N, P2, D) float or a Pointclouds.
        x_lengths: (N,) int64 valid points per cloud of x (None: all P1).
        y_lengths: (N,) int64 valid points per cloud of y (None: all P2).
        x_normals: (N, P1, 3) float normals of x (optional).
        y_normals: (N, P2, 3) float normals of y (optional).
        weights: (N,) float non-negative per-cloud weights.
        batch_reduction: "mean" (divided by N, or by weights.sum() when given), "sum" or None.
        point_reduction: "mean", "sum", "max" or None (per-point values; then batch_reduction
            must be None).
        norm: 2 or 1.
        single_directional: only the x -> y term.
        abs_cosine: normal term 1 - |cos| (True) or 1 - cos (False).

    Returns:
        (loss, loss_normals). With point_reduction None and both directions, loss is the tuple
        ((N, P1), (N, P2)) of per-point distances (and loss_normals the tuple of per-point
        normal terms). loss_normals is None without normals. If all weights are 0 the result is
        zeros (scalar when batch_reduction is set, else (N,)).
    """
    _validate_reductions(batch_reduction, point_reduction)
    if norm not in (1, 2):
        raise ValueError(f"Support for 1 or 2 norm: norm must be 1 or 2; got {norm!r}")
    if point_reduction == "max" and (x_normals is not None or y_normals is not None):
        raise ValueError('Normals must be None if point_reduction is "max"')
    x, x_lengths, x_normals = _handle_input(x, x_lengths, x_normals, "x")
    y, y_lengths, y_normals = _handle_input(y, y_lengths, y_normals, "y")
    N = x.shape[0]
    if y.shape[0] != N or y.shape[2] != x.shape[2]:
        raise ValueError(
            f"y does not have the correct shape: y must have shape ({N}, P2, {x.shape[2]}) to "
            f"match x; got {tuple(y.shape)}"
        )
    if weights is not None:
        with with_phrase("weights must be of shape (N,)"):
            check_tensor(weights, "weights", (N,), "float")
        if not bool((weights >= 0).all()):
            raise ValueError("weights cannot be negative")
        if float(weights.sum()) == 0.0:
            zero = (x.sum((1, 2)) * weights) * 0.0  # (N,), keeps the graph
            if batch_reduction is not None:
                zero = zero.sum()
            return zero, zero
    cham_x, cham_nx = _single_direction(
        x, y, x_lengths, y_lengths, x_normals, y_normals, weights, point_reduction, norm, abs_cosine
    )
    if single_directional:
        loss, loss_normals = cham_x, cham_nx
    else:
        cham_y, cham_ny = _single_direction(
            y,
            x,
            y_lengths,
            x_lengths,
            y_normals,
            x_normals,
            weights,
            point_reduction,
            norm,
            abs_cosine,
        )
        if point_reduction == "max":
            loss, loss_normals = torch.maximum(cham_x, cham_y), None
        elif point_reduction is not None:
            loss = cham_x + cham_y
            loss_normals = cham_nx + cham_ny if cham_nx is not None else None
        else:
            loss = (cham_x, cham_y)
            loss_normals = (cham_nx, cham_ny) if cham_nx is not None else None
    return _batch_reduce(loss, loss_normals, weights, batch_reduction)
