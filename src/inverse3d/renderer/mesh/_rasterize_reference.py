"""Per-point geometry of the rasterizer, as the small reference functions PyTorch3D exposes in
`renderer.mesh.rasterize_meshes` (re-exported there). They work on single points / triangles
(or on tensors whose FIRST dimension holds the coordinates), not batches: the vectorised
rasterizer does not use them.
"""

from __future__ import annotations

import torch

__all__ = [
    "barycentric_coordinates",
    "barycentric_coordinates_clip",
    "edge_function",
    "non_square_ndc_range",
    "pix_to_non_square_ndc",
    "point_line_distance",
    "point_triangle_distance",
]

_EPS = 1e-8  # kEpsilon of PyTorch3D's rasterizer


def edge_function(p: torch.Tensor, v0: torch.Tensor, v1: torch.Tensor) -> torch.Tensor:
    """Signed area of the parallelogram spanned by v1 - v0 and p - v0 (2D cross product).

    Args:
        p, v0, v1: (2, ...) float, x = [0], y = [1] (extra rows, e.g. z, are ignored).

    Returns:
        (...) float: positive when p is on the right of the edge v0 -> v1.
    """
    return (p[0] - v0[0]) * (v1[1] - v0[1]) - (p[1] - v0[1]) * (v1[0] - v0[0])


def barycentric_coordinates(
    p: torch.Tensor, v0: torch.Tensor, v1: torch.Tensor, v2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Barycentric coordinates (w0, w1, w2) of p in the triangle (v0, v1, v2).

    Args:
        p, v0, v1, v2: (2, ...) float points (x = [0], y = [1]).

    Returns:
        (w0, w1, w2), each (...) float; they sum to 1 (up to the 1e-8 added to the area, as
        PyTorch3D does, so that a degenerate triangle gives no division by zero).
    """
    area = edge_function(v2, v0, v1) + _EPS  # twice the signed area
    return (
        edge_function(p, v1, v2) / area,
        edge_function(p, v2, v0) / area,
        edge_function(p, v0, v1) / area,
    )


def barycentric_coordinates_clip(
    bary: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clamp barycentric coordinates at 0 and renormalise them to sum 1 (the sum is clamped at
    1e-5 first, as in PyTorch3D)."""
    w = [torch.clamp(b, min=0.0) for b in (bary[0], bary[1], bary[2])]
    total = torch.clamp(w[0] + w[1] + w[2], min=1e-5)
    return (w[0] / total, w[1] / total, w[2] / total)


def non_square_ndc_range(S1: int, S2: int) -> float:
    """NDC extent along an image side of S1 pixels when the other side has S2: 2 on the
    shorter side, 2 S1 / S2 on the longer one."""
    return 2.0 * S1 / S2 if S1 > S2 else 2.0


def pix_to_non_square_ndc(i: int | float, S1: int, S2: int) -> float:
    """NDC coordinate of the centre of pixel i along a side of S1 pixels (other side S2),
    counted from the -extent / 2 end."""
    extent = non_square_ndc_range(S1, S2)
    return -extent / 2.0 + extent * (i + 0.5) / S1


def _check_same_shape(*points: torch.Tensor) -> None:
    shapes = {tuple(p.shape) for p in points}
    if len(shapes) != 1:
        raise ValueError(
            f"All points must have the same number of coordinates; got shapes {sorted(shapes)}"
        )


def point_line_distance(p: torch.Tensor, v0: torch.Tensor, v1: torch.Tensor) -> torch.Tensor:
    """SQUARED distance from the point p to the segment v0 v1 (any dimension D).

    Args:
        p, v0, v1: (D,) float.

    Returns:
        () float. A segment shorter than sqrt(1e-8) counts as the point v1.
    """
    _check_same_shape(p, v0, v1)
    edge = v1 - v0
    length_sq = edge.dot(edge)
    if length_sq <= _EPS:
        return (p - v1).dot(p - v1)
    t = torch.clamp(edge.dot(p - v0) / length_sq, min=0.0, max=1.0)
    delta = v0 + t * edge - p
    return delta.dot(delta)


def point_triangle_distance(
    p: torch.Tensor, v0: torch.Tensor, v1: torch.Tensor, v2: torch.Tensor
) -> torch.Tensor:
    """SQUARED distance from p to the nearest EDGE of the triangle (v0, v1, v2) (the
    rasterizer's boundary distance: 0 only on the boundary, also for points inside).

    Args:
        p, v0, v1, v2: (D,) float.

    Returns:
        () float.
    """
    _check_same_shape(p, v0, v1, v2)
    d01 = point_line_distance(p, v0, v1)
    d02 = point_line_distance(p, v0, v2)
    d12 = point_line_distance(p, v1, v2)
    return torch.minimum(torch.minimum(d01, d02), d12)
