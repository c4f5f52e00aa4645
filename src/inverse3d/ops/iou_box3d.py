"""Exact intersection volume and IoU of oriented 3D boxes (PyTorch3D `ops.box3d_overlap`).

Boxes are 8 corners in PyTorch3D's order: corners 0-3 go round one face (0 -> 1 -> 2 -> 3) and
corners 4-7 are the same corners of the opposite face::

    (4) +---------+ (5)
        | (0) +---+-----+ (1)
    (7) +-----+---+ (6) |
          (3) +---------+ (2)

The intersection of two boxes is a convex polytope bounded by their 12 face planes. Its vertices
are among: the corners of each box inside the other and the points where an edge of one box
crosses a face plane of the other, inside both. With c the mean of those vertices (an interior
point), its volume is sum over planes f of area_f * dist(c, plane_f) / 3, where area_f is the
area of the convex polygon of the vertices lying on plane f (ordered by angle). Everything is
vectorized over box pairs, in chunks of pairs to bound memory; the result is differentiable
almost everywhere in the corners.
"""

from __future__ import annotations

import torch

from inverse3d._validation import check_positive_float, check_tensor

__all__ = ["box3d_overlap"]

_BOX_PLANES = [[0, 1, 2, 3], [3, 2, 6, 7], [0, 1, 5, 4], [0, 3, 7, 4], [1, 2, 6, 5], [4, 5, 6, 7]]
_BOX_EDGES = [
    [0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4], [0, 4], [1, 5], [2, 6], [3, 7]
]  # fmt: skip
_PAIRS_PER_CHUNK = 512  # ~150 kB of temporaries per pair


def _planes(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Outward unit normals (B, 6, 3) and offsets (B, 6): inside is n . x <= d."""
    idx = torch.tensor(_BOX_PLANES, device=boxes.device)
    v = boxes[:, idx]  # (B, 6, 4, 3)
    n = torch.cross(v[:, :, 2] - v[:, :, 0], v[:, :, 3] - v[:, :, 1], dim=-1)
    n = torch.nn.functional.normalize(n, dim=-1)
    centre = boxes.mean(1)[:, None]  # (B, 1, 3)
    face_c = v.mean(2)  # (B, 6, 3)
    sign = torch.where(((face_c - centre) * n).sum(-1, keepdim=True) < 0, -1.0, 1.0)
    n = n * sign.to(n.dtype)
    return n, (n * face_c).sum(-1)


def _check_boxes(boxes: torch.Tensor, name: str, eps: float) -> None:
    idx = torch.tensor(_BOX_PLANES, device=boxes.device)
    v = boxes[:, idx]  # (B, 6, 4, 3)
    e0 = torch.nn.functional.normalize(v[:, :, 1] - v[:, :, 0], dim=-1)
    e1 = torch.nn.functional.normalize(v[:, :, 2] - v[:, :, 0], dim=-1)
    n = torch.cross(e0, e1, dim=-1)
    area = 0.5 * torch.cross(v[:, :, 2] - v[:, :, 0], v[:, :, 3] - v[:, :, 1], dim=-1).norm(dim=-1)
    if bool((area < eps).any()) or bool((n.norm(dim=-1) < eps).any()):
        raise ValueError(f"{name}: planes have zero areas (degenerate boxes)")
    n = torch.nn.functional.normalize(n, dim=-1)
    off = ((v[:, :, 3] - v[:, :, 0]) * n).sum(-1).abs()  # (B, 6)
    if bool((off >= eps).any()):
        bad = int((off >= eps).any(1).nonzero()[0, 0])
        raise ValueError(
            f"{name}: plane vertices are not coplanar (box {bad}); corners must follow "
            "PyTorch3D's order"
        )


def _box_volume(boxes: torch.Tensor) -> torch.Tensor:
    """(B,) volumes: sum over faces of area * distance(centre, face) / 3."""
    idx = torch.tensor(_BOX_PLANES, device=boxes.device)
    v = boxes[:, idx]  # (B, 6, 4, 3)
    area = 0.5 * torch.cross(v[:, :, 2] - v[:, :, 0], v[:, :, 3] - v[:, :, 1], dim=-1).norm(dim=-1)
    n, d = _planes(boxes)
    h = d - (n * boxes.mean(1)[:, None]).sum(-1)
    return (area * h).sum(1) / 3


def _edge_plane_points(a: torch.Tensor, nb: torch.Tensor, db: torch.Tensor):
    """Points where the 12 edges of boxes a (K, 8, 3) cross the 6 planes of boxes b.

    Returns points (K, 72, 3) and validity (K, 72) (the crossing lies on the edge).
    """
    e = torch.tensor(_BOX_EDGES, device=a.device)
    p0, p1 = a[:, e[:, 0]], a[:, e[:, 1]]  # (K, 12, 3)
    s0 = (p0[:, :, None] * nb[:, None]).sum(-1) - db[:, None]  # (K, 12, 6)
    s1 = (p1[:, :, None] * nb[:, None]).sum(-1) - db[:, None]
    den = s0 - s1
    ok = (s0 * s1 <= 0) & (den.abs() > 1e-12)
    t = s0 / torch.where(ok, den, torch.ones_like(den))
    t = t.clamp(0, 1)
    pts = p0[:, :, None] + t[..., None] * (p1 - p0)[:, :, None]  # (K, 12, 6, 3)
    return pts.reshape(len(a), 72, 3), ok.reshape(len(a), 72)


def _overlap_pairs(b1: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """Intersection volumes (K,) of box pairs b1[k], b2[k] (K, 8, 3)."""
    n1, d1 = _planes(b1)
    n2, d2 = _planes(b2)
    n = torch.cat([n1, n2], 1)  # (K, 12, 3)
    d = torch.cat([d1, d2], 1)  # (K, 12)
    scale = torch.cat([b1, b2], 1).flatten(1).abs().amax(1).clamp(min=1e-12)  # (K,)
    tol = 256 * torch.finfo(b1.dtype).eps * scale  # coplanarity / inside tolerance
    p12, ok12 = _edge_plane_points(b1, n2, d2)
    p21, ok21 = _edge_plane_points(b2, n1, d1)
    pts = torch.cat([b1, b2, p12, p21], 1)  # (K, Q, 3), Q = 160
    ok = torch.cat([torch.ones_like(ok12[:, :16]), ok12, ok21], 1)
    dist = (pts[:, :, None] * n[:, None]).sum(-1) - d[:, None]  # (K, Q, 12)
    inside = ok & (dist <= tol[:, None, None]).all(-1)  # (K, Q)
    cnt = inside.sum(1)  # (K,)
    w = inside.to(pts.dtype)
    c = (pts * w[..., None]).sum(1) / cnt.clamp(min=1)[:, None].to(pts.dtype)  # (K, 3)
    # area of the polygon on each of the 12 planes
    on = inside[:, :, None] & (dist.abs() <= tol[:, None, None])  # (K, Q, 12)
    on = on.permute(0, 2, 1)  # (K, 12, Q)
    q = pts[:, None] - c[:, None, None]  # (K, 1, Q, 3) relative to c
    won = on.to(pts.dtype)
    pc = (q * won[..., None]).sum(2) / won.sum(2).clamp(min=1)[..., None]  # (K, 12, 3)
    rel = q - pc[:, :, None]  # (K, 12, Q, 3)
    ref = torch.where(n[..., 0:1].abs() < 0.9, 1.0, 0.0).to(pts.dtype)
    helper = torch.cat([ref, 1 - ref, torch.zeros_like(ref)], -1)  # (K, 12, 3) not parallel to n
    u = torch.nn.functional.normalize(torch.cross(n, helper, dim=-1), dim=-1)
    v = torch.cross(n, u, dim=-1)
    x = (rel * u[:, :, None]).sum(-1)  # (K, 12, Q)
    y = (rel * v[:, :, None]).sum(-1)
    ang = torch.atan2(y.detach(), x.detach())
    ang = torch.where(on, ang, torch.full_like(ang, float("inf")))
    order = ang.argsort(dim=-1)
    x = x.gather(-1, order)
    y = y.gather(-1, order)
    on_s = on.gather(-1, order)
    x = torch.where(on_s, x, x[..., :1])  # unused slots repeat the first point
    y = torch.where(on_s, y, y[..., :1])
    xn, yn = x.roll(-1, dims=-1), y.roll(-1, dims=-1)
    area = 0.5 * (x * yn - xn * y).sum(-1)  # (K, 12), counter-clockwise about n
    area = area.clamp(min=0) * (on.sum(-1) >= 3).to(pts.dtype)
    # a plane shared by both boxes (coplanar faces) must be counted once
    same = ((n[:, :, None] * n[:, None]).sum(-1) > 1 - 1e-5) & (
        (d[:, :, None] - d[:, None]).abs() <= tol[:, None, None]
    )  # (K, 12, 12)
    earlier = torch.ones(12, 12, dtype=torch.bool, device=n.device).tril(-1)
    area = area * (~(same & earlier).any(-1)).to(pts.dtype)
    h = (d - (n * c[:, None]).sum(-1)).clamp(min=0)  # (K, 12)
    vol = (area * h).sum(1) / 3
    return torch.where(cnt >= 4, vol, torch.zeros_like(vol))


def box3d_overlap(
    boxes1: torch.Tensor, boxes2: torch.Tensor, eps: float = 1e-4
) -> tuple[torch.Tensor, torch.Tensor]:
    """Intersection volume and IoU of every pair of boxes.

    Args:
        boxes1: (M, 8, 3) float box corners (PyTorch3D's order, see the module docstring).
        boxes2: (N, 8, 3) float box corners.
        eps: tolerance of the input checks: every face must be planar (4th corner within eps
            of the plane of the first 3) and have area >= eps.

    Returns:
        vol: (M, N) float intersection volumes; iou: (M, N) float intersection over union.

    Raises:
        ValueError if a box has a non-planar or degenerate face.
    """
    check_tensor(boxes1, "boxes1", (None, 8, 3), "float")
    check_tensor(boxes2, "boxes2", (None, 8, 3), "float")
    eps = check_positive_float(eps, "eps")
    if boxes1.device != boxes2.device:
        raise ValueError(
            f"boxes1 and boxes2 must be on the same device; got {boxes1.device} and {boxes2.device}"
        )
    _check_boxes(boxes1, "boxes1", eps)
    _check_boxes(boxes2, "boxes2", eps)
    M, N = boxes1.shape[0], boxes2.shape[0]
    dtype = torch.promote_types(boxes1.dtype, boxes2.dtype)
    b1, b2 = boxes1.to(dtype), boxes2.to(dtype)
    i1 = torch.arange(M, device=b1.device).repeat_interleave(N)
    i2 = torch.arange(N, device=b1.device).repeat(M)
    vols = [
        _overlap_pairs(b1[i1[s : s + _PAIRS_PER_CHUNK]], b2[i2[s : s + _PAIRS_PER_CHUNK]])
        for s in range(0, M * N, _PAIRS_PER_CHUNK)
    ]
    vol = torch.cat(vols).reshape(M, N) if vols else b1.new_zeros((M, N))
    v1, v2 = _box_volume(b1), _box_volume(b2)
    union = v1[:, None] + v2[None] - vol
    iou = vol / union.clamp(min=1e-12)
    return vol, iou
