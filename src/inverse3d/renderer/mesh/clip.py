"""Near-plane clipping and frustum culling of faces before rasterization (PyTorch3D semantics).

A face is classified by how many of its vertices lie behind the plane z = z_clip_value:

* 0 behind: kept as is;
* 3 behind (or entirely outside the frustum when culling): removed;
* 2 behind: replaced by the smaller triangle in front of the plane;
* 1 behind: the visible part is a quadrilateral, replaced by two triangles (neighbours).

z is view-space depth while x, y may already be projected (NDC); for perspective cameras the
new vertices are found in view space (x, y multiplied by z) and projected back. The rasterized
barycentrics of a clipped triangle are mapped back to the original face with a 3x3 matrix per
clipped triangle, and face indices with an index map.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "ClipFrustum",
    "ClippedFaces",
    "clip_faces",
    "convert_clipped_rasterization_to_original_faces",
]


@dataclass
class ClipFrustum:
    """Planes used to cull and clip faces; None disables a plane.

    left/right bound x, top/bottom bound y (NDC), znear/zfar bound view-space z. cull: drop faces
    with all three vertices outside one plane. z_clip_value: clip faces to z >= z_clip_value.
    perspective_correct: x, y are perspective projections (x_ndc ~ x_view / z).
    """

    left: float | None = None
    right: float | None = None
    top: float | None = None
    bottom: float | None = None
    znear: float | None = None
    zfar: float | None = None
    perspective_correct: bool = False
    cull: bool = True
    z_clip_value: float | None = None


@dataclass
class ClippedFaces:
    """Clipped faces and what is needed to map rasterization results back.

    face_verts: (F', 3, 3) clipped faces; mesh_to_face_first_idx, num_faces_per_mesh: (N,);
    faces_clipped_to_unclipped_idx: (F',) original face of each clipped face (None: identity);
    barycentric_conversion: (T, 3, 3), column k holds the barycentrics of clipped vertex k in the
    original face; faces_clipped_to_conversion_idx: (F',) row of barycentric_conversion or -1;
    clipped_faces_neighbor_idx: (F',) the other half of a face split in two, else -1.
    """

    face_verts: torch.Tensor
    mesh_to_face_first_idx: torch.Tensor
    num_faces_per_mesh: torch.Tensor
    faces_clipped_to_unclipped_idx: torch.Tensor | None = None
    barycentric_conversion: torch.Tensor | None = None
    faces_clipped_to_conversion_idx: torch.Tensor | None = None
    clipped_faces_neighbor_idx: torch.Tensor | None = None


def _culled(face_verts: torch.Tensor, frustum: ClipFrustum) -> torch.Tensor:
    out = torch.zeros(face_verts.shape[0], dtype=torch.bool, device=face_verts.device)
    if not frustum.cull:
        return out
    planes = (
        (frustum.left, 0, -1),
        (frustum.right, 0, 1),
        (frustum.top, 1, -1),
        (frustum.bottom, 1, 1),
        (frustum.znear, 2, -1),
        (frustum.zfar, 2, 1),
    )
    for value, axis, side in planes:
        if value is None:
            continue
        c = face_verts[:, :, axis]
        outside = c < value if side < 0 else c > value
        out |= outside.all(dim=1)
    return out


def _edge_point(pa, pb, clip_value, perspective_correct):
    """Point where segment pa-pb crosses z = clip_value, and its weight w along pa->pb."""
    w = (pa[:, 2] - clip_value) / (pa[:, 2] - pb[:, 2])
    w_ = w[:, None]
    p = pa * (1 - w_) + pb * w_
    if perspective_correct:
        xy = (pa[:, :2] * pa[:, 2:3] * (1 - w_) + pb[:, :2] * pb[:, 2:3] * w_) / clip_value
        p = torch.cat((xy, p[:, 2:3]), dim=1)
    return p, w


def _split(face_verts, lone, clip_value, perspective_correct):
    """For faces where vertex `lone` is on its own side of the plane: the corner points
    (p1 = lone, p2, p3 in cyclic order, p4 on p1-p2, p5 on p1-p3) and their barycentrics."""
    T = face_verts.shape[0]
    ar = torch.arange(T, device=face_verts.device)
    i1, i2, i3 = lone, (lone + 1) % 3, (lone + 2) % 3
    p1, p2, p3 = face_verts[ar, i1], face_verts[ar, i2], face_verts[ar, i3]
    p4, w2 = _edge_point(p1, p2, clip_value, perspective_correct)
    p5, w3 = _edge_point(p1, p3, clip_value, perspective_correct)
    zeros = face_verts.new_zeros(T, 3).detach()
    b = [zeros.clone() for _ in range(5)]
    one = torch.ones_like(w2).detach()
    b[0][ar, i1] = one
    b[1][ar, i2] = one
    b[2][ar, i3] = one
    w2d, w3d = w2.detach(), w3.detach()
    b[3][ar, i1] = 1 - w2d
    b[3][ar, i2] = w2d
    b[4][ar, i1] = 1 - w3d
    b[4][ar, i3] = w3d
    return (p1, p2, p3, p4, p5), b


def clip_faces(
    face_verts_unclipped: torch.Tensor,
    mesh_to_face_first_idx: torch.Tensor,
    num_faces_per_mesh: torch.Tensor,
    frustum: ClipFrustum,
) -> ClippedFaces:
    """Cull faces outside `frustum` and clip faces crossing z = frustum.z_clip_value.

    Args:
        face_verts_unclipped: (F, 3, 3) float, x/y (NDC or screen), z in view space.
        mesh_to_face_first_idx: (N,) int64 first face of each mesh.
        num_faces_per_mesh: (N,) int64.
        frustum: ClipFrustum.
    Returns:
        ClippedFaces; a split face becomes two consecutive faces.
    """
    fv = face_verts_unclipped
    F = fv.shape[0]
    dev = fv.device
    culled = _culled(fv, frustum)
    zc = frustum.z_clip_value
    if zc is not None:
        behind = fv[:, :, 2] < zc
        n_behind = behind.sum(1)
    else:
        behind = None
        n_behind = torch.zeros(F, dtype=torch.long, device=dev)
    if not bool(culled.any()) and not bool((n_behind > 0).any()):
        return ClippedFaces(fv, mesh_to_face_first_idx, num_faces_per_mesh)

    gone = culled | (n_behind == 3)
    case3 = (n_behind == 2) & ~gone
    case4 = (n_behind == 1) & ~gone
    keep = (n_behind == 0) & ~gone
    size = 1 + case4.long() - gone.long()  # faces each original face becomes
    new_start = size.cumsum(0) - size  # (F,) position of each face in the output
    F2 = int(size.sum())
    # Faces of a mesh are contiguous in packed order: count the outputs per mesh.
    counts = num_faces_per_mesh.to(dev).long()
    face_to_mesh = torch.repeat_interleave(torch.arange(counts.numel(), device=dev), counts)
    num2 = torch.zeros_like(counts).index_add_(0, face_to_mesh, size)
    first2 = num2.cumsum(0) - num2

    out = fv.new_zeros(F2, 3, 3)
    to_orig = torch.zeros(F2, dtype=torch.long, device=dev)
    idx1 = keep.nonzero().squeeze(1)
    out = out.index_put((new_start[idx1],), fv[idx1])
    to_orig[new_start[idx1]] = idx1
    idx3 = case3.nonzero().squeeze(1)
    idx4 = case4.nonzero().squeeze(1)
    if idx3.numel() + idx4.numel() == 0:
        return ClippedFaces(out, first2, num2, to_orig)

    convs, conv_rows = [], []
    neighbor = torch.full((F2,), -1, dtype=torch.long, device=dev)
    persp = frustum.perspective_correct
    if idx3.numel():
        # Two vertices behind: keep triangle (p4, p5, p1) with p1 the vertex in front.
        lone = (~behind[idx3]).long().argmax(1)
        (p1, _, _, p4, p5), b = _split(fv[idx3], lone, zc, persp)
        pos = new_start[idx3]
        out = out.index_put((pos,), torch.stack((p4, p5, p1), 1))
        to_orig[pos] = idx3
        convs.append(torch.stack((b[3], b[4], b[0]), 2))
        conv_rows.append(pos)
    if idx4.numel():
        # One vertex behind: quadrilateral p4 p2 p3 p5 split into (p4, p2, p5) and (p5, p2, p3).
        lone = behind[idx4].long().argmax(1)
        (_, p2, p3, p4, p5), b = _split(fv[idx4], lone, zc, persp)
        pos = new_start[idx4]
        out = out.index_put((pos,), torch.stack((p4, p2, p5), 1))
        out = out.index_put((pos + 1,), torch.stack((p5, p2, p3), 1))
        to_orig[pos] = idx4
        to_orig[pos + 1] = idx4
        convs += [torch.stack((b[3], b[1], b[4]), 2), torch.stack((b[4], b[1], b[2]), 2)]
        conv_rows += [pos, pos + 1]
        neighbor[pos] = pos + 1
        neighbor[pos + 1] = pos
    conversion = torch.cat(convs)
    rows = torch.cat(conv_rows)
    conv_idx = torch.full((F2,), -1, dtype=torch.long, device=dev)
    conv_idx[rows] = torch.arange(rows.numel(), device=dev)
    return ClippedFaces(out, first2, num2, to_orig, conversion, conv_idx, neighbor)


def convert_clipped_rasterization_to_original_faces(
    pix_to_face_clipped: torch.Tensor,
    bary_coords_clipped: torch.Tensor,
    clipped_faces: ClippedFaces,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Map pix_to_face (N, H, W, K) and bary_coords (N, H, W, K, 3) of clipped faces back to
    the original faces. Empty entries (-1) stay -1."""
    to_orig = clipped_faces.faces_clipped_to_unclipped_idx
    if to_orig is None or to_orig.numel() == 0:
        return pix_to_face_clipped, bary_coords_clipped
    empty = pix_to_face_clipped < 0
    safe = pix_to_face_clipped.clamp_min(0)
    pix_to_face = torch.where(empty, pix_to_face_clipped, to_orig[safe])
    conv_idx = clipped_faces.faces_clipped_to_conversion_idx
    if conv_idx is None:
        return pix_to_face, bary_coords_clipped
    row = torch.where(empty, torch.full_like(safe, -1), conv_idx[safe])
    sel = (row >= 0).nonzero(as_tuple=True)
    if sel[0].numel() == 0:
        return pix_to_face, bary_coords_clipped
    mats = clipped_faces.barycentric_conversion[row[sel]]  # (S, 3, 3)
    new = torch.einsum("sij,sj->si", mats.to(bary_coords_clipped.dtype), bary_coords_clipped[sel])
    bary = bary_coords_clipped.index_put(sel, new)
    return pix_to_face, bary
