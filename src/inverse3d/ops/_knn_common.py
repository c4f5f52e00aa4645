"""Pieces shared by the neighbour searches (knn_points, ball_query, sample_farthest_points)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from inverse3d._validation import check_tensor

__all__ = ["KNN", "check_lengths"]


class KNN(NamedTuple):
    """What `knn_points` and `ball_query` return: dists, idx and (optionally) the points."""

    dists: torch.Tensor
    idx: torch.Tensor
    knn: torch.Tensor | None


def check_lengths(
    lengths: torch.Tensor | None, name: str, N: int, P: int, device: torch.device
) -> torch.Tensor:
    """(N,) int64 cloud lengths: P for every cloud when None, else `lengths` checked to be an
    (N,) int tensor with values in [0, P] (ValueError naming `name` otherwise)."""
    if lengths is None:
        return torch.full((N,), P, dtype=torch.int64, device=device)
    check_tensor(lengths, name, (N,), "int")
    lengths = lengths.to(device=device, dtype=torch.int64)
    if N and (int(lengths.min()) < 0 or int(lengths.max()) > P):
        raise ValueError(
            f"{name} values must lie in [0, {P}] (the padded size); got min {int(lengths.min())}, "
            f"max {int(lengths.max())}"
        )
    return lengths
