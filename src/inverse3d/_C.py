"""Stand-in for PyTorch3D's compiled extension `pytorch3d._C`, for code that calls it directly.

The functions keep the compiled extension's positional signatures and return tuples, and are
implemented with this package's pure-PyTorch ops (no compiler involved). Outputs are plain
tensors as the extension's are; the `*_backward` functions compute the same vector-Jacobian
products (analytically or by autograd through our references). Names of the extension not
provided here (marching_cubes, mesh_normal_consistency_find_verts, rasterize_meshes_backward,
the Pulsar classes and the testing-only `_rasterize_*` entry points) are listed in
docs/compat_names.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from inverse3d._validation import check_tensor
from inverse3d.ops.ball_query import ball_query as _ball_query
from inverse3d.ops.graph_conv import gather_scatter as _gather_scatter
from inverse3d.ops.interp_face_attrs import interpolate_face_attributes
from inverse3d.ops.iou_box3d import box3d_overlap
from inverse3d.ops.knn import knn_points
from inverse3d.ops.mesh_face_areas_normals import mesh_face_areas_normals
from inverse3d.ops.mesh_sdf import point_segment_distance, point_triangle_distance
from inverse3d.ops.packed_to_padded import packed_to_padded as _packed_to_padded
from inverse3d.ops.packed_to_padded import padded_to_packed as _padded_to_packed
from inverse3d.ops.points_to_volumes import add_points_features_to_volume_densities_features
from inverse3d.renderer.blending import BlendParams
from inverse3d.renderer.blending import sigmoid_alpha_blend as _sigmoid_alpha_blend
from inverse3d.renderer.compositing import alpha_composite, norm_weighted_sum, weighted_sum
from inverse3d.renderer.mesh.rasterize_meshes import pixel_centers_ndc, rasterize_face_verts
from inverse3d.renderer.points.rasterize_points import rasterize_points as _rasterize_points
from inverse3d.structures.pointclouds import Pointclouds

__all__ = [
    "accum_alphacomposite",
    "accum_alphacomposite_backward",
    "accum_weightedsum",
    "accum_weightedsum_backward",
    "accum_weightedsumnorm",
    "accum_weightedsumnorm_backward",
    "ball_query",
    "edge_point_dist_backward",
    "edge_point_dist_forward",
    "face_areas_normals_backward",
    "face_areas_normals_forward",
    "face_point_dist_backward",
    "face_point_dist_forward",
    "gather_scatter",
    "interp_face_attrs_backward",
    "interp_face_attrs_forward",
    "iou_box3d",
    "knn_points_backward",
    "knn_points_idx",
    "packed_to_padded",
    "padded_to_packed",
    "point_edge_array_dist_backward",
    "point_edge_array_dist_forward",
    "point_edge_dist_backward",
    "point_edge_dist_forward",
    "point_face_array_dist_backward",
    "point_face_array_dist_forward",
    "point_face_dist_backward",
    "point_face_dist_forward",
    "points_to_volumes_backward",
    "points_to_volumes_forward",
    "rasterize_meshes",
    "rasterize_points",
    "rasterize_points_backward",
    "sample_farthest_points",
    "sample_pdf",
    "sigmoid_alpha_blend",
    "sigmoid_alpha_blend_backward",
]

# Pairs (points x primitives) evaluated at once by the brute-force nearest searches.
_CHUNK_PAIRS = 1 << 22
# PyTorch3D's default minimum triangle area of the point-mesh distances.
_MIN_TRIANGLE_AREA = 5e-3


def _vjp(
    fn: Callable[..., torch.Tensor], inputs: Sequence[torch.Tensor], grad: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """Gradients of <fn(*inputs), grad> with respect to every input (zeros if unused)."""
    with torch.enable_grad():
        xs = [x.detach().requires_grad_(True) for x in inputs]
        out = fn(*xs)
        gs = torch.autograd.grad(out, xs, grad, allow_unused=True)
    return tuple(torch.zeros_like(x) if g is None else g for x, g in zip(xs, gs))


def _batch_of(first_idx: torch.Tensor, total: int) -> torch.Tensor:
    """(total,) int64 batch index of each packed row, from the (N,) first-row indices."""
    rows = torch.arange(total, device=first_idx.device)
    return torch.searchsorted(first_idx.long().contiguous(), rows, right=True) - 1


# ---- packed / padded, face areas, interpolation, graph ops ---------------------------------
def packed_to_padded(inputs: torch.Tensor, first_idxs: torch.Tensor, max_size: int) -> torch.Tensor:
    """inputs: (F,) or (F, D) -> (N, max_size[, D]) zero-padded."""
    return _packed_to_padded(inputs, first_idxs, int(max_size))


def padded_to_packed(
    inputs: torch.Tensor, first_idxs: torch.Tensor, num_inputs: int
) -> torch.Tensor:
    """inputs: (N, M) or (N, M, D) -> (num_inputs[, D]) packed."""
    return _padded_to_packed(inputs, first_idxs, int(num_inputs))


def face_areas_normals_forward(
    verts: torch.Tensor, faces: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """verts: (V, 3), faces: (F, 3) -> areas (F,), unit normals (F, 3)."""
    with torch.no_grad():
        return mesh_face_areas_normals(verts, faces)


def face_areas_normals_backward(
    grad_areas: torch.Tensor, grad_normals: torch.Tensor, verts: torch.Tensor, faces: torch.Tensor
) -> torch.Tensor:
    """Gradient (V, 3) of <areas, grad_areas> + <normals, grad_normals> w.r.t. verts."""

    def fn(v: torch.Tensor) -> torch.Tensor:
        areas, normals = mesh_face_areas_normals(v, faces)
        return (areas * grad_areas).sum() + (normals * grad_normals).sum()

    return _vjp(fn, [verts], torch.ones((), dtype=verts.dtype, device=verts.device))[0]


def interp_face_attrs_forward(
    pix_to_face: torch.Tensor, barycentric_coords: torch.Tensor, face_attrs: torch.Tensor
) -> torch.Tensor:
    """(N, H, W, K), (N, H, W, K, 3), (F, 3, D) -> (N, H, W, K, D)."""
    with torch.no_grad():
        return interpolate_face_attributes(pix_to_face, barycentric_coords, face_attrs)


def interp_face_attrs_backward(
    pix_to_face: torch.Tensor,
    barycentric_coords: torch.Tensor,
    face_attrs: torch.Tensor,
    grad_pix_attrs: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(grad_barycentric_coords, grad_face_attrs)."""
    return _vjp(
        lambda b, f: interpolate_face_attributes(pix_to_face, b, f),
        [barycentric_coords, face_attrs],
        grad_pix_attrs,
    )


def gather_scatter(
    input: torch.Tensor, edges: torch.Tensor, directed: bool, backward: bool
) -> torch.Tensor:
    """input: (V, D), edges: (E, 2) -> (V, D) neighbour sums; backward=True reverses the
    direction of the edges (the transpose, used for gradients)."""
    if backward:
        edges = edges.flip(1)
    with torch.no_grad():
        return _gather_scatter(input, edges, bool(directed))


# ---- nearest neighbours ---------------------------------------------------------------------
def knn_points_idx(
    p1: torch.Tensor,
    p2: torch.Tensor,
    lengths1: torch.Tensor,
    lengths2: torch.Tensor,
    norm: int,
    K: int,
    version: int = -1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """p1: (N, P1, D), p2: (N, P2, D) -> idx (N, P1, K) int64, dists (N, P1, K) (sorted)."""
    with torch.no_grad():
        out = knn_points(p1, p2, lengths1, lengths2, norm=int(norm), K=int(K))
    return out.idx, out.dists


def knn_points_backward(
    p1: torch.Tensor,
    p2: torch.Tensor,
    lengths1: torch.Tensor,
    lengths2: torch.Tensor,
    idxs: torch.Tensor,
    norm: int,
    grad_dists: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients (grad_p1 (N, P1, D), grad_p2 (N, P2, D)) of <dists, grad_dists>, where
    dists[n, i, k] = |p1[n, i] - p2[n, idxs[n, i, k]]|^2 (norm 2) or its L1 norm (norm 1);
    entries with i >= lengths1[n], k >= lengths2[n] or idxs < 0 contribute nothing."""
    N, P1, D = p1.shape
    K = idxs.shape[2]
    ar_i = torch.arange(P1, device=p1.device)[None, :, None]
    ar_k = torch.arange(K, device=p1.device)[None, None, :]
    valid = (ar_i < lengths1.view(N, 1, 1)) & (ar_k < lengths2.view(N, 1, 1)) & (idxs >= 0)
    safe = idxs.clamp(min=0)
    nn = torch.gather(p2, 1, safe.reshape(N, -1, 1).expand(-1, -1, D)).view(N, P1, K, D)
    diff = p1[:, :, None, :] - nn  # (N, P1, K, D)
    g = grad_dists * valid.to(grad_dists.dtype)
    if int(norm) == 2:
        per = 2.0 * diff * g[..., None]
    elif int(norm) == 1:
        per = torch.sign(diff) * g[..., None]
    else:
        raise ValueError(f"norm must be 1 or 2; got {norm}")
    grad_p1 = per.sum(2)
    grad_p2 = torch.zeros_like(p2).scatter_add_(
        1, safe.reshape(N, -1, 1).expand(-1, -1, D), -per.reshape(N, -1, D)
    )
    return grad_p1, grad_p2


def ball_query(
    p1: torch.Tensor,
    p2: torch.Tensor,
    lengths1: torch.Tensor,
    lengths2: torch.Tensor,
    K: int,
    radius: float,
    skip_points_outside_cube: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (idx (N, P1, K) int64, -1 padded; dists (N, P1, K) squared, 0 padded).
    skip_points_outside_cube only speeds up the compiled version; results are the same."""
    with torch.no_grad():
        out = _ball_query(
            p1, p2, lengths1, lengths2, K=int(K), radius=float(radius), return_nn=False
        )
    return out.idx, out.dists


def sample_farthest_points(
    points: torch.Tensor,
    lengths: torch.Tensor,
    K: torch.Tensor,
    start_idxs: torch.Tensor,
    max_K_known: int = -1,
) -> torch.Tensor:
    """Farthest point sampling from given start points.

    Args:
        points: (N, P, D) float; lengths: (N,) int64; K: (N,) int64 samples per cloud;
        start_idxs: (N,) int64 first selected point of each cloud; max_K_known: max(K) or -1.

    Returns:
        (N, max(K)) int64 indices, -1 beyond min(K[n], lengths[n]).
    """
    check_tensor(points, "points", ("N", "P", "D"), "float")
    N, P, _ = points.shape
    max_k = int(K.max()) if max_K_known < 0 and K.numel() else max(int(max_K_known), 0)
    idx = torch.full((N, max_k), -1, dtype=torch.int64, device=points.device)
    if max_k == 0 or P == 0:
        return idx
    pts = points.detach()
    valid = torch.arange(P, device=points.device)[None] < lengths.view(N, 1)
    counts = torch.minimum(lengths.view(N), K.view(N).to(lengths.dtype))
    rows = torch.arange(N, device=points.device)
    last = start_idxs.view(N).long().clone()
    best = torch.full((N, P), float("inf"), dtype=pts.dtype, device=points.device)
    for k in range(max_k):
        take = k < counts
        idx[:, k] = torch.where(take, last, idx[:, k])
        d = ((pts - pts[rows, last][:, None]) ** 2).sum(-1)  # (N, P)
        best = torch.minimum(best, d)
        score = torch.where(valid, best, torch.full_like(best, -1.0))
        last = score.argmax(1)  # first maximum: ties go to the smaller index
    return idx


# ---- point / mesh distances -----------------------------------------------------------------
def _nearest(
    rows: torch.Tensor,
    row_batch: torch.Tensor,
    col_batch: torch.Tensor,
    dist_fn: Callable[[torch.Tensor, slice], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row, the minimum of dist_fn over the columns of its batch: (dists, col idx)."""
    R, C = rows.shape[0], col_batch.shape[0]
    dists = rows.new_zeros((R,))
    idx = torch.zeros((R,), dtype=torch.int64, device=rows.device)
    if R == 0 or C == 0:
        return dists, idx
    step = max(1, _CHUNK_PAIRS // C)
    for s in range(0, R, step):
        sl = slice(s, min(R, s + step))
        d = dist_fn(rows[sl], sl)  # (r, C)
        d = d.masked_fill(row_batch[sl, None] != col_batch[None], float("inf"))
        dists[sl], idx[sl] = d.min(1)
    return dists, idx


def _tri_dists(p: torch.Tensor, tris: torch.Tensor, area: float) -> torch.Tensor:
    """(P, 3) points x (T, 3, 3) triangles -> (P, T) squared distances."""
    return point_triangle_distance(
        p[:, None], tris[None, :, 0], tris[None, :, 1], tris[None, :, 2], area
    )


def _seg_dists(p: torch.Tensor, segms: torch.Tensor) -> torch.Tensor:
    """(P, 3) points x (S, 2, 3) segments -> (P, S) squared distances."""
    return point_segment_distance(p[:, None], segms[None, :, 0], segms[None, :, 1])


def point_face_dist_forward(
    points: torch.Tensor,
    points_first_idx: torch.Tensor,
    tris: torch.Tensor,
    tris_first_idx: torch.Tensor,
    max_points: int,
    min_triangle_area: float = _MIN_TRIANGLE_AREA,
) -> tuple[torch.Tensor, torch.Tensor]:
    """points: (P, 3), tris: (T, 3, 3) packed, with (N,) first indices -> squared distance
    (P,) of each point to the nearest triangle of its batch element and that triangle's
    packed index (P,)."""
    with torch.no_grad():
        pb = _batch_of(points_first_idx, points.shape[0])
        tb = _batch_of(tris_first_idx, tris.shape[0])
        return _nearest(points, pb, tb, lambda p, _: _tri_dists(p, tris, min_triangle_area))


def face_point_dist_forward(
    points: torch.Tensor,
    points_first_idx: torch.Tensor,
    tris: torch.Tensor,
    tris_first_idx: torch.Tensor,
    max_tris: int,
    min_triangle_area: float = _MIN_TRIANGLE_AREA,
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> squared distance (T,) of each triangle to the nearest point of its batch element and
    that point's packed index (T,)."""
    with torch.no_grad():
        pb = _batch_of(points_first_idx, points.shape[0])
        tb = _batch_of(tris_first_idx, tris.shape[0])
        return _nearest(tris, tb, pb, lambda t, _: _tri_dists(points, t, min_triangle_area).t())


def point_edge_dist_forward(
    points: torch.Tensor,
    points_first_idx: torch.Tensor,
    segms: torch.Tensor,
    segms_first_idx: torch.Tensor,
    max_points: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """points: (P, 3), segms: (S, 2, 3) -> (P,) squared distances, (P,) nearest segment."""
    with torch.no_grad():
        pb = _batch_of(points_first_idx, points.shape[0])
        sb = _batch_of(segms_first_idx, segms.shape[0])
        return _nearest(points, pb, sb, lambda p, _: _seg_dists(p, segms))


def edge_point_dist_forward(
    points: torch.Tensor,
    points_first_idx: torch.Tensor,
    segms: torch.Tensor,
    segms_first_idx: torch.Tensor,
    max_segms: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (S,) squared distances of each segment to its nearest point, (S,) that point."""
    with torch.no_grad():
        pb = _batch_of(points_first_idx, points.shape[0])
        sb = _batch_of(segms_first_idx, segms.shape[0])
        return _nearest(segms, sb, pb, lambda s, _: _seg_dists(points, s).t())


def point_face_dist_backward(
    points: torch.Tensor,
    tris: torch.Tensor,
    idx_tris: torch.Tensor,
    grad_dists: torch.Tensor,
    min_triangle_area: float = _MIN_TRIANGLE_AREA,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(grad_points (P, 3), grad_tris (T, 3, 3)) of <dists, grad_dists>."""

    def fn(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        s = t[idx_tris]
        return point_triangle_distance(p, s[:, 0], s[:, 1], s[:, 2], min_triangle_area)

    return _vjp(fn, [points, tris], grad_dists)


def face_point_dist_backward(
    points: torch.Tensor,
    tris: torch.Tensor,
    idx_points: torch.Tensor,
    grad_dists: torch.Tensor,
    min_triangle_area: float = _MIN_TRIANGLE_AREA,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(grad_points (P, 3), grad_tris (T, 3, 3)) of <dists, grad_dists>."""

    def fn(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return point_triangle_distance(p[idx_points], t[:, 0], t[:, 1], t[:, 2], min_triangle_area)

    return _vjp(fn, [points, tris], grad_dists)


def point_edge_dist_backward(
    points: torch.Tensor, segms: torch.Tensor, idx_segms: torch.Tensor, grad_dists: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(grad_points (P, 3), grad_segms (S, 2, 3))."""

    def fn(p: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return point_segment_distance(p, s[idx_segms, 0], s[idx_segms, 1])

    return _vjp(fn, [points, segms], grad_dists)


def edge_point_dist_backward(
    points: torch.Tensor, segms: torch.Tensor, idx_points: torch.Tensor, grad_dists: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(grad_points (P, 3), grad_segms (S, 2, 3))."""

    def fn(p: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return point_segment_distance(p[idx_points], s[:, 0], s[:, 1])

    return _vjp(fn, [points, segms], grad_dists)


def point_face_array_dist_forward(
    points: torch.Tensor, tris: torch.Tensor, min_triangle_area: float = _MIN_TRIANGLE_AREA
) -> torch.Tensor:
    """(P, 3) x (T, 3, 3) -> (P, T) squared distances of every pair."""
    with torch.no_grad():
        return _tri_dists(points, tris, min_triangle_area)


def point_face_array_dist_backward(
    points: torch.Tensor,
    tris: torch.Tensor,
    grad_dists: torch.Tensor,
    min_triangle_area: float = _MIN_TRIANGLE_AREA,
) -> tuple[torch.Tensor, torch.Tensor]:
    return _vjp(lambda p, t: _tri_dists(p, t, min_triangle_area), [points, tris], grad_dists)


def point_edge_array_dist_forward(points: torch.Tensor, segms: torch.Tensor) -> torch.Tensor:
    """(P, 3) x (S, 2, 3) -> (P, S) squared distances of every pair."""
    with torch.no_grad():
        return _seg_dists(points, segms)


def point_edge_array_dist_backward(
    points: torch.Tensor, segms: torch.Tensor, grad_dists: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    return _vjp(_seg_dists, [points, segms], grad_dists)


# ---- volumes --------------------------------------------------------------------------------
def _splat(points_3d, points_features, grid_sizes, mask, point_weight, align_corners, splat, D):
    N, P, C = points_features.shape
    dens0 = points_3d.new_zeros((N, 1, *D))
    return add_points_features_to_volume_densities_features(
        points_3d,
        points_features,
        dens0,
        None,
        mode="trilinear" if splat else "nearest",
        mask=mask.to(points_3d.dtype) * float(point_weight),
        grid_sizes=grid_sizes,
        rescale_features=False,
        align_corners=bool(align_corners),
    )


def points_to_volumes_forward(
    points_3d: torch.Tensor,
    points_features: torch.Tensor,
    volume_densities: torch.Tensor,
    volume_features: torch.Tensor,
    grid_sizes: torch.Tensor,
    mask: torch.Tensor,
    point_weight: float,
    align_corners: bool,
    splat: bool,
) -> None:
    """Add the votes of the points to volume_densities (N, 1, D, H, W) and volume_features
    (N, C, D, H, W) in place (trilinear if splat else nearest, weight point_weight * mask)."""
    with torch.no_grad():
        f, d = _splat(
            points_3d, points_features, grid_sizes, mask, point_weight, align_corners, splat,
            volume_densities.shape[2:],
        )  # fmt: skip
        volume_densities.add_(d)
        volume_features.add_(f)


def points_to_volumes_backward(
    points_3d: torch.Tensor,
    points_features: torch.Tensor,
    grid_sizes: torch.Tensor,
    mask: torch.Tensor,
    point_weight: float,
    align_corners: bool,
    splat: bool,
    grad_volume_densities: torch.Tensor,
    grad_volume_features: torch.Tensor,
    grad_points_3d: torch.Tensor,
    grad_points_features: torch.Tensor,
) -> None:
    """Write the gradients w.r.t. the points (splat only) and features in place."""

    def fn(p: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        vf, vd = _splat(
            p, f, grid_sizes, mask, point_weight, align_corners, splat,
            grad_volume_densities.shape[2:],
        )  # fmt: skip
        return (vd * grad_volume_densities).sum() + (vf * grad_volume_features).sum()

    one = torch.ones((), dtype=points_3d.dtype, device=points_3d.device)
    gp, gf = _vjp(fn, [points_3d, points_features], one)
    if splat:
        grad_points_3d.copy_(gp)
    grad_points_features.copy_(gf)


# ---- rasterization --------------------------------------------------------------------------
def rasterize_points(
    points: torch.Tensor,
    cloud_to_packed_first_idx: torch.Tensor,
    num_points_per_cloud: torch.Tensor,
    image_size: Any,
    radius: Any,
    points_per_pixel: int,
    bin_size: int = 0,
    max_points_per_bin: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """points: (P, 3) packed NDC points -> (idx, zbuf, dists), each (N, H, W, K).

    image_size: (H, W) or an int; radius: a float or a (P,) tensor of per-point radii.
    """
    counts = [int(c) for c in num_points_per_cloud.tolist()]
    firsts = [int(f) for f in cloud_to_packed_first_idx.tolist()]
    clouds = [points[f : f + c] for f, c in zip(firsts, counts)]
    if torch.is_tensor(radius) and radius.dim() == 1 and radius.numel() == points.shape[0]:
        radius = torch.cat([radius[f : f + c] for f, c in zip(firsts, counts)])
    with torch.no_grad():
        return _rasterize_points(
            Pointclouds([c.detach() for c in clouds]),
            image_size=image_size,
            radius=radius.detach() if torch.is_tensor(radius) else radius,
            points_per_pixel=int(points_per_pixel),
        )


def rasterize_points_backward(
    points: torch.Tensor, idxs: torch.Tensor, grad_zbuf: torch.Tensor, grad_dists: torch.Tensor
) -> torch.Tensor:
    """Gradient (P, 3) of <zbuf, grad_zbuf> + <dists, grad_dists> w.r.t. the packed points:
    zbuf = z of the point, dists = squared xy distance to the pixel centre."""
    N, H, W, K = idxs.shape
    ys, xs = pixel_centers_ndc(H, W, dtype=points.dtype, device=points.device)
    valid = idxs >= 0
    safe = idxs.clamp(min=0)
    p = points[safe]  # (N, H, W, K, 3)
    dx = p[..., 0] - xs[None, None, :, None]
    dy = p[..., 1] - ys[None, :, None, None]
    m = valid.to(points.dtype)
    g = torch.stack(
        [2 * dx * grad_dists * m, 2 * dy * grad_dists * m, grad_zbuf * m], dim=-1
    ).reshape(-1, 3)
    return torch.zeros_like(points).index_add_(0, safe.reshape(-1), g)


def rasterize_meshes(
    face_verts: torch.Tensor,
    mesh_to_face_first_idx: torch.Tensor,
    num_faces_per_mesh: torch.Tensor,
    *args: Any,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """face_verts: (F, 3, 3) NDC xy + view z -> (pix_to_face, zbuf, bary_coords, dists).

    Accepts the current argument list (clipped_faces_neighbor_idx, image_size, blur_radius,
    faces_per_pixel, bin_size, max_faces_per_bin, perspective_correct,
    clip_barycentric_coords, cull_backfaces) and the older ones without
    clipped_faces_neighbor_idx (and without clip_barycentric_coords).
    """
    neighbor = None
    if args and (torch.is_tensor(args[0]) or args[0] is None) and len(args) == 9:
        neighbor, args = args[0], args[1:]
    if len(args) == 7:  # no clip_barycentric_coords
        args = (*args[:6], False, args[6])
    if len(args) != 8:
        raise TypeError(
            "rasterize_meshes takes (face_verts, mesh_to_face_first_idx, num_faces_per_mesh, "
            "[clipped_faces_neighbor_idx,] image_size, blur_radius, faces_per_pixel, bin_size, "
            "max_faces_per_bin, perspective_correct, [clip_barycentric_coords,] cull_backfaces)"
        )
    image_size, blur, K, _bin, _max_bin, persp, clip_bary, cull = args
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    N = num_faces_per_mesh.shape[0]
    F = face_verts.shape[0]
    face_to_mesh = _batch_of(mesh_to_face_first_idx, F)
    if neighbor is not None and bool((neighbor < 0).all()):
        neighbor = None
    with torch.no_grad():
        return rasterize_face_verts(
            face_verts,
            face_to_mesh,
            N,
            (int(image_size[0]), int(image_size[1])),
            float(blur),
            int(K),
            bool(persp),
            bool(clip_bary),
            bool(cull),
            neighbor,
        )


# ---- blending and compositing ---------------------------------------------------------------
class _Frags(NamedTuple):
    pix_to_face: torch.Tensor
    dists: torch.Tensor


def _alphas(distances: torch.Tensor, pix_to_face: torch.Tensor, sigma: float) -> torch.Tensor:
    colors = distances.new_zeros((*distances.shape, 1))
    out = _sigmoid_alpha_blend(colors, _Frags(pix_to_face, distances), BlendParams(sigma=sigma))
    return out[..., -1]


def sigmoid_alpha_blend(
    distances: torch.Tensor, pix_to_face: torch.Tensor, sigma: float
) -> torch.Tensor:
    """(N, H, W, K) dists and faces -> (N, H, W) alpha = 1 - prod_k (1 - sigmoid(-d_k / sigma))."""
    with torch.no_grad():
        return _alphas(distances, pix_to_face, float(sigma))


def sigmoid_alpha_blend_backward(
    grad_alphas: torch.Tensor,
    alphas: torch.Tensor,
    distances: torch.Tensor,
    pix_to_face: torch.Tensor,
    sigma: float,
) -> torch.Tensor:
    """Gradient (N, H, W, K) w.r.t. distances."""
    return _vjp(lambda d: _alphas(d, pix_to_face, float(sigma)), [distances], grad_alphas)[0]


def _accum(fn: Callable[..., torch.Tensor]):
    def forward(features: torch.Tensor, alphas: torch.Tensor, points_idx: torch.Tensor):
        with torch.no_grad():
            return fn(points_idx, alphas, features)

    def backward(grad_outputs, features, alphas, points_idx):
        return _vjp(lambda f, a: fn(points_idx, a, f), [features, alphas], grad_outputs)

    return forward, backward


accum_alphacomposite, accum_alphacomposite_backward = _accum(alpha_composite)
accum_weightedsum, accum_weightedsum_backward = _accum(weighted_sum)
accum_weightedsumnorm, accum_weightedsumnorm_backward = _accum(norm_weighted_sum)
for _f in (accum_alphacomposite, accum_weightedsum, accum_weightedsumnorm):
    _f.__doc__ = "features (C, P), alphas (N, K, H, W), points_idx (N, K, H, W) -> (N, C, H, W)."
for _f in (
    accum_alphacomposite_backward,
    accum_weightedsum_backward,
    accum_weightedsumnorm_backward,
):
    _f.__doc__ = "(grad_outputs, features, alphas, points_idx) -> (grad_features, grad_alphas)."


# ---- sampling, boxes ------------------------------------------------------------------------
def sample_pdf(
    bins: torch.Tensor, weights: torch.Tensor, outputs: torch.Tensor, eps: float
) -> None:
    """Inverse-CDF sampling in place: outputs (B, S) holds uniform numbers u in [0, 1] on
    input and the samples on output.

    bins: (B, n_bins + 1) sorted edges, weights: (B, n_bins). As the compiled version: the
    target mass is u * (sum(weights) + eps); it falls in the first bin whose running sum
    reaches it (the last bin if none) and is placed linearly inside that bin (at its start
    when the bin's weight is <= eps, at its end when the mass overshoots the bin).
    """
    with torch.no_grad():
        n_bins = weights.shape[1]
        cums = weights.cumsum(1)  # (B, n_bins)
        total = cums[:, -1:] + eps
        u = outputs * total
        i = torch.searchsorted(cums[:, :-1].contiguous(), u.contiguous(), right=False)
        i = i.clamp(max=n_bins - 1)
        before = torch.where(i > 0, cums.gather(1, (i - 1).clamp(min=0)), torch.zeros_like(u))
        rem = u - before
        start, end = bins.gather(1, i), bins.gather(1, i + 1)
        w = weights.gather(1, i)
        inside = start + rem / torch.where(w > eps, w, torch.ones_like(w)) * (end - start)
        value = torch.where(rem > w, end, torch.where(w > eps, inside, start))
        outputs.copy_(value)


def iou_box3d(boxes1: torch.Tensor, boxes2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, 8, 3), (N, 8, 3) box corners -> (vol (M, N), iou (M, N))."""
    with torch.no_grad():
        return box3d_overlap(boxes1, boxes2)
