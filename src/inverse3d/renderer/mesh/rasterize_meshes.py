"""Vectorized, chunked, differentiable mesh rasterization (PyTorch3D 0.7.9 semantics).

How it works (no loop over pixels or faces; loops only over chunks):

1. Faces are culled (zero area, a vertex with z < 1e-8, back faces when asked) and each face's
   screen bounding box, grown by sqrt(blur_radius), is turned into a range of pixel rows and
   columns.
2. The image rows of the whole batch are split into row chunks holding about ``_PAIR_BUDGET``
   (pixel, face) candidate pairs each; a chunk whose faces alone exceed the budget is split again
   over its faces and the partial results are merged. Nothing is ever dropped: the output is
   complete whatever ``bin_size`` / ``max_faces_per_bin`` say.
3. For each chunk the candidate pairs are enumerated from the bounding boxes, their barycentric
   coordinates, depth and squared distance are evaluated (without autograd), and the K nearest by
   depth per pixel are kept with one sort on a (pixel, depth) key.
4. The kept pairs are written into the dense (N, H, W, K) outputs through an autograd function
   whose backward recomputes the same formulas in chunks with autograd, so gradients of zbuf,
   bary_coords and dists reach the vertex positions with bounded memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from inverse3d._validation import check_finite, check_positive_int
from inverse3d.renderer.mesh.clip import (
    ClipFrustum,
    clip_faces,
    convert_clipped_rasterization_to_original_faces,
)

__all__ = ["rasterize_meshes"]

kEpsilon = 1e-8
# Candidate (pixel, face) pairs evaluated at once; bounds the working memory of a chunk.
_PAIR_BUDGET = 1 << 21
# Pairs recomputed at once in the backward pass.
_BACKWARD_CHUNK = 1 << 20


def _parse_image_size(image_size) -> tuple[int, int]:
    if isinstance(image_size, (tuple, list, torch.Size)):
        if len(image_size) != 2:
            raise ValueError(f"image_size must be an int or a pair (H, W); got {image_size!r}")
        h, w = image_size
        return (
            check_positive_int(h, "image_size[0] (H)"),
            check_positive_int(w, "image_size[1] (W)"),
        )
    s = check_positive_int(image_size, "image_size")
    return s, s


def _ndc_range(s1: int, s2: int) -> float:
    """Half extent of NDC along an image side of s1 pixels when the other side has s2."""
    return s1 / s2 if s1 > s2 else 1.0


def pixel_centers_ndc(
    H: int, W: int, dtype: torch.dtype = torch.float32, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """NDC centres of the pixel rows and columns of an HxW image.

    Returns ys: (H,) (row 0 is the largest +Y) and xs: (W,) (column 0 is the largest +X), using
    the non-square convention (the shorter side spans [-1, 1]).
    """
    offy, offx = _ndc_range(H, W), _ndc_range(W, H)
    yi = torch.arange(H - 1, -1, -1, dtype=dtype, device=device)
    xi = torch.arange(W - 1, -1, -1, dtype=dtype, device=device)
    ys = -offy + (2.0 * offy * yi + offy) / H
    xs = -offx + (2.0 * offx * xi + offx) / W
    return ys, xs


def _point_segment_dist2(px, py, ax, ay, bx, by):
    """Squared distance from p to segment a-b (PyTorch3D's PointLineDistanceForward)."""
    ex = bx - ax
    ey = by - ay
    l2 = ex * ex + ey * ey
    degenerate = l2 <= kEpsilon
    l2s = torch.where(degenerate, torch.ones_like(l2), l2)
    dx = px - ax
    dy = py - ay
    t = ((ex * dx + ey * dy) / l2s).clamp(0.0, 1.0)
    qx = px - (ax + t * ex)
    qy = py - (ay + t * ey)
    d = qx * qx + qy * qy
    if bool(degenerate.any()):
        d = torch.where(degenerate, (px - bx) ** 2 + (py - by) ** 2, d)
    return d


def _pair_geometry(fv, px, py, perspective_correct: bool, clip_barycentric_coords: bool):
    """Barycentrics, depth and squared distance of pixel centres (px, py) w.r.t. faces fv.

    fv: (9, M) float, the rows x0 y0 z0 x1 y1 z1 x2 y2 z2 of the face of each pair.
    Returns bary_clip (M, 3), pz (M,), dist (M,) unsigned squared distance, inside (M,) bool
    (inside uses the perspective corrected, unclipped barycentrics, strict > 0).
    """
    x0, y0, z0, x1, y1, z1, x2, y2, z2 = fv.unbind(0)
    area = (x2 - x0) * (y1 - y0) - (y2 - y0) * (x1 - x0) + kEpsilon
    w0 = ((px - x1) * (y2 - y1) - (py - y1) * (x2 - x1)) / area
    w1 = ((px - x2) * (y0 - y2) - (py - y2) * (x0 - x2)) / area
    w2 = ((px - x0) * (y1 - y0) - (py - y0) * (x1 - x0)) / area
    if perspective_correct:
        t0 = w0 * z1 * z2
        t1 = w1 * z0 * z2
        t2 = w2 * z0 * z1
        den = t0 + t1 + t2
        w0, w1, w2 = t0 / den, t1 / den, t2 / den
    inside = (w0 > 0) & (w1 > 0) & (w2 > 0)
    if clip_barycentric_coords:
        c0, c1, c2 = w0.clamp_min(0.0), w1.clamp_min(0.0), w2.clamp_min(0.0)
        s = (c0 + c1 + c2).clamp_min(1e-5)
        w0, w1, w2 = c0 / s, c1 / s, c2 / s
    pz = w0 * z0 + w1 * z1 + w2 * z2
    d01 = _point_segment_dist2(px, py, x0, y0, x1, y1)
    d02 = _point_segment_dist2(px, py, x0, y0, x2, y2)
    d12 = _point_segment_dist2(px, py, x1, y1, x2, y2)
    dist = torch.minimum(torch.minimum(d01, d02), d12)
    return torch.stack((w0, w1, w2), dim=1), pz, dist, inside


class _DenseFromPairs(torch.autograd.Function):
    """Write the kept pairs' (bary, zbuf, dists) into dense -1 padded buffers.

    The forward values come from the selection pass (computed without autograd) and are written
    in place into freshly allocated outputs; the backward gathers the output gradients at the
    kept slots, re-evaluates `_pair_geometry` for chunks of pairs under autograd and scatters the
    vertex gradients into face_verts.
    """

    @staticmethod
    def forward(ctx, face_verts, flat, face_idx, px, py, values, size, opts):
        bary, pz, sdist, inside = values
        dtype, dev = face_verts.dtype, face_verts.device
        zbuf = torch.full((size,), -1.0, dtype=dtype, device=dev)
        dists = torch.full((size,), -1.0, dtype=dtype, device=dev)
        bary_out = torch.full((size, 3), -1.0, dtype=dtype, device=dev)
        zbuf[flat] = pz
        dists[flat] = sdist
        bary_out[flat] = bary
        ctx.save_for_backward(face_verts, flat, face_idx, px, py, inside)
        ctx.opts = opts
        ctx.set_materialize_grads(False)
        return bary_out, zbuf, dists

    @staticmethod
    def backward(ctx, g_bary_all, g_z_all, g_dist_all):
        face_verts, flat, face_idx, px, py, inside = ctx.saved_tensors
        none = (None,) * 7
        if g_bary_all is None and g_z_all is None and g_dist_all is None:
            return (None,) + none
        persp, clipb = ctx.opts
        fv_t = face_verts.detach().reshape(-1, 9).t()  # (9, F)
        grad = torch.zeros_like(fv_t)
        M = face_idx.numel()
        for s in range(0, M, _BACKWARD_CHUNK):
            e = min(M, s + _BACKWARD_CHUNK)
            fi = face_idx[s:e]
            fl = flat[s:e]
            with torch.enable_grad():
                fv = fv_t.index_select(1, fi).requires_grad_(True)
                bary, pz, dist, _ = _pair_geometry(fv, px[s:e], py[s:e], persp, clipb)
                outs, grads = [], []
                if g_bary_all is not None:
                    outs.append(bary)
                    grads.append(g_bary_all.reshape(-1, 3)[fl])
                if g_z_all is not None:
                    outs.append(pz)
                    grads.append(g_z_all.reshape(-1)[fl])
                if g_dist_all is not None:
                    gd = g_dist_all.reshape(-1)[fl]
                    outs.append(dist)
                    grads.append(torch.where(inside[s:e], -gd, gd))
                (g_fv,) = torch.autograd.grad(outs, [fv], grads, allow_unused=True)
            if g_fv is not None:
                grad.index_add_(1, fi, g_fv)
        return (grad.t().reshape(face_verts.shape),) + none


def _face_pixel_ranges(fv_t, H, W, blur_radius, cull_backfaces):
    """Per face: validity and inclusive pixel row/column ranges of its grown bounding box."""
    x = fv_t[[0, 3, 6]]
    y = fv_t[[1, 4, 7]]
    z = fv_t[[2, 5, 8]]
    x0, y0, x1, y1, x2, y2 = fv_t[0], fv_t[1], fv_t[3], fv_t[4], fv_t[6], fv_t[7]
    face_area = (x0 - x1) * (y2 - y1) - (y0 - y1) * (x2 - x1)
    valid = (face_area.abs() > kEpsilon) & (z.min(0).values >= kEpsilon)
    if cull_backfaces:
        valid &= face_area >= 0
    r = math.sqrt(blur_radius) + 1e-5
    xmin, xmax = x.min(0).values.double() - r, x.max(0).values.double() + r
    ymin, ymax = y.min(0).values.double() - r, y.max(0).values.double() + r
    offy, offx = _ndc_range(H, W), _ndc_range(W, H)
    # NDC x of column j is offx * (W - 2j - 1) / W, decreasing in j; same for rows.
    j_lo = torch.ceil((W - xmax * W / offx - 1) / 2).clamp(0, W)
    j_hi = torch.floor((W - xmin * W / offx - 1) / 2).clamp(-1, W - 1)
    i_lo = torch.ceil((H - ymax * H / offy - 1) / 2).clamp(0, H)
    i_hi = torch.floor((H - ymin * H / offy - 1) / 2).clamp(-1, H - 1)
    valid &= (j_hi >= j_lo) & (i_hi >= i_lo)
    return valid, i_lo.long(), i_hi.long(), j_lo.long(), j_hi.long()


def _select_topk(pix, pz, face, dist, neighbor, K):
    """Indices of the candidates to keep (K nearest by depth per pixel) and their ranks."""
    M = pix.numel()
    dev = pix.device
    if neighbor is not None:
        drop = _neighbor_duplicates(pix, face, dist, neighbor)
        if drop is not None:
            keep = (~drop).nonzero().squeeze(1)
            idx, rank = _select_topk(pix[keep], pz[keep], face[keep], dist[keep], None, K)
            return keep[idx], rank
    if M == 0:
        empty = torch.zeros(0, dtype=torch.long, device=dev)
        return empty, empty
    if pz.dtype == torch.float32:
        # Non-negative float32 bit patterns sort like the floats: one int64 sort does it.
        zbits = (pz.clamp_min(0.0) + 0.0).view(torch.int32).long()
        key = (pix << 31) | zbits
        _, order = torch.sort(key, stable=True)
    else:
        order = torch.argsort(pz, stable=True)
        order = order[torch.argsort(pix[order], stable=True)]
    spix = pix[order]
    first = torch.ones(M, dtype=torch.bool, device=dev)
    first[1:] = spix[1:] != spix[:-1]
    pos = torch.arange(M, device=dev)
    start = torch.cummax(torch.where(first, pos, torch.zeros_like(pos)), 0).values
    rank = pos - start
    keep = rank < K
    return order[keep], rank[keep]


def _neighbor_duplicates(pix, face, dist, neighbor):
    """Mask of candidates to drop: of the two halves of a split face at one pixel keep one.

    As PyTorch3D: the lower-index half stays unless the other half is strictly closer.
    """
    nb = neighbor[face]
    cand = (nb >= 0).nonzero().squeeze(1)
    if cand.numel() < 2:
        return None
    group = torch.minimum(face[cand], nb[cand])
    key = pix[cand] * (int(neighbor.numel()) + 1) + group
    o = torch.argsort(key, stable=True)
    ks = key[o]
    dup = (ks[1:] == ks[:-1]).nonzero().squeeze(1)
    if dup.numel() == 0:
        return None
    a, b = cand[o[dup]], cand[o[dup + 1]]
    b_closer = dist[b] < dist[a]
    drop = torch.zeros(pix.numel(), dtype=torch.bool, device=pix.device)
    drop[torch.where(b_closer, a, b)] = True
    return drop


def _chunk_bounds(chunk_id: torch.Tensor) -> list[int]:
    """[0, b1, ..., n]: the boundaries of the runs of equal values in a sorted id tensor."""
    n = chunk_id.numel()
    change = (chunk_id[1:] != chunk_id[:-1]).nonzero().squeeze(1) + 1
    return [0] + change.tolist() + [n]


def rasterize_face_verts(
    face_verts: torch.Tensor,
    face_to_mesh: torch.Tensor,
    N: int,
    image_size: tuple[int, int],
    blur_radius: float,
    faces_per_pixel: int,
    perspective_correct: bool,
    clip_barycentric_coords: bool,
    cull_backfaces: bool,
    clipped_faces_neighbor_idx: torch.Tensor | None = None,
):
    """Rasterize packed faces. face_verts: (F, 3, 3) float NDC xy + view z;
    face_to_mesh: (F,) int64. Returns (pix_to_face, zbuf, bary_coords, dists) as
    `rasterize_meshes` (face indices into face_verts)."""
    H, W = image_size
    K = faces_per_pixel
    dev, dtype = face_verts.device, face_verts.dtype
    F = face_verts.shape[0]
    P = N * H * W
    fv_t = face_verts.detach().reshape(F, 9).t().contiguous()  # (9, F)
    ys, xs = pixel_centers_ndc(H, W, dtype, dev)

    valid, i_lo, i_hi, j_lo, j_hi = _face_pixel_ranges(fv_t, H, W, blur_radius, cull_backfaces)
    fidx = valid.nonzero().squeeze(1)
    g_lo = face_to_mesh[fidx] * H + i_lo[fidx]  # global rows (n * H + i)
    g_hi = face_to_mesh[fidx] * H + i_hi[fidx]
    j0 = j_lo[fidx]
    ncols = j_hi[fidx] - j0 + 1
    # Candidate pairs per global row -> row chunks of about _PAIR_BUDGET pairs.
    diff = torch.zeros(N * H + 1, dtype=torch.long, device=dev)
    diff.index_add_(0, g_lo, ncols)
    diff.index_add_(0, g_hi + 1, -ncols)
    row_pairs = diff[:-1].cumsum(0)
    row_cum = row_pairs.cumsum(0) - row_pairs
    bounds = _chunk_bounds(row_cum // _PAIR_BUDGET)

    kept_face, kept_flat, kept_px, kept_py = [], [], [], []
    kept_vals: list[list[torch.Tensor]] = [[], [], [], []]
    for R0, R1 in zip(bounds[:-1], bounds[1:]):
        sel = ((g_lo < R1) & (g_hi >= R0)).nonzero().squeeze(1)
        if sel.numel() == 0:
            continue
        r0 = g_lo[sel].clamp_min(R0)
        nrows = g_hi[sel].clamp_max(R1 - 1) - r0 + 1
        nc = ncols[sel]
        cnt = nrows * nc
        sub_bounds = _chunk_bounds((cnt.cumsum(0) - cnt) // _PAIR_BUDGET)
        carry = None
        for s0, s1 in zip(sub_bounds[:-1], sub_bounds[1:]):
            c = cnt[s0:s1]
            total = int(c.sum())
            rep = torch.repeat_interleave(torch.arange(s1 - s0, device=dev), c, output_size=total)
            start = torch.repeat_interleave(c.cumsum(0) - c, c, output_size=total)
            off = torch.arange(total, device=dev) - start
            ncr = nc[s0:s1][rep]
            grow = r0[s0:s1][rep] + off // ncr
            col = j0[sel[s0:s1]][rep] + off % ncr
            face = fidx[sel[s0:s1]][rep]
            row = grow % H
            px, py = xs[col], ys[row]
            bary, pz, dist, inside = _pair_geometry(
                fv_t.index_select(1, face), px, py, perspective_correct, clip_barycentric_coords
            )
            ok = (pz >= 0) & (inside | (dist < blur_radius))
            ok = ok.nonzero().squeeze(1)
            cand = [
                (grow[ok] - R0) * W + col[ok],
                face[ok],
                pz[ok],
                dist[ok],
                bary[ok],
                inside[ok],
                px[ok],
                py[ok],
            ]
            if carry is not None:
                cand = [torch.cat((a, b)) for a, b in zip(carry, cand)]
            idx, rank = _select_topk(
                cand[0], cand[2], cand[1], cand[3], clipped_faces_neighbor_idx, K
            )
            carry = [t[idx] for t in cand]
        lpix, face, pz, dist, bary, inside, px, py = carry
        kept_face.append(face)
        kept_flat.append((lpix + R0 * W) * K + rank)
        kept_px.append(px)
        kept_py.append(py)
        for lst, v in zip(kept_vals, (bary, pz, torch.where(inside, -dist, dist), inside)):
            lst.append(v)

    if kept_face:
        face = torch.cat(kept_face)
        flat = torch.cat(kept_flat)
        px, py = torch.cat(kept_px), torch.cat(kept_py)
        vals = tuple(torch.cat(v) for v in kept_vals)
    else:
        face = flat = torch.zeros(0, dtype=torch.long, device=dev)
        px = py = torch.zeros(0, dtype=dtype, device=dev)
        vals = (
            torch.zeros(0, 3, dtype=dtype, device=dev),
            px,
            px,
            torch.zeros(0, dtype=torch.bool, device=dev),
        )
    bary_out, zbuf, dists = _DenseFromPairs.apply(
        face_verts, flat, face, px, py, vals, P * K, (perspective_correct, clip_barycentric_coords)
    )
    pix_to_face = torch.full((P * K,), -1, dtype=torch.long, device=dev)
    pix_to_face[flat] = face
    return (
        pix_to_face.view(N, H, W, K),
        zbuf.view(N, H, W, K),
        bary_out.view(N, H, W, K, 3),
        dists.view(N, H, W, K),
    )


def rasterize_meshes(
    meshes,
    image_size: int | Sequence[int] = 256,
    blur_radius: float = 0.0,
    faces_per_pixel: int = 8,
    bin_size: int | None = None,
    max_faces_per_bin: int | None = None,
    perspective_correct: bool = False,
    clip_barycentric_coords: bool = False,
    cull_backfaces: bool = False,
    z_clip_value: float | None = None,
    cull_to_frustum: bool = False,
):
    """Rasterize a batch of meshes whose vertices are in NDC (x, y) with view-space z.

    Args:
        meshes: Meshes of batch size N (verts already projected: NDC x/y, view-space z).
        image_size: int S (an SxS image) or (H, W). NDC [-1, 1] spans the shorter side.
        blur_radius: squared-NDC-distance threshold: a face also covers pixels outside it whose
            squared distance to its boundary is < blur_radius (soft rasterization).
        faces_per_pixel: K, how many nearest faces to keep per pixel.
        bin_size, max_faces_per_bin: accepted for compatibility; the chunked rasterizer never
            overflows, so they do not change the output.
        perspective_correct: perspective-correct barycentrics (from the view-space z).
        clip_barycentric_coords: clamp barycentrics to >= 0 and renormalize before computing z.
        cull_backfaces: skip faces whose screen-space winding is negative (facing away).
        z_clip_value: if set, faces crossing the plane z = z_clip_value are clipped into the
            visible part (1 or 2 triangles) and results are mapped back to the original faces.
        cull_to_frustum: skip faces entirely outside the image's NDC extent.

    Returns:
        pix_to_face: (N, H, W, K) int64 packed face indices sorted by depth, -1 = empty.
        zbuf: (N, H, W, K) float view-space depth of each face at the pixel centre, -1 = empty.
        bary_coords: (N, H, W, K, 3) float barycentrics of the pixel centre, -1 = empty.
        dists: (N, H, W, K) float signed squared NDC distance to the face boundary (negative
            inside), -1 = empty.
    """
    for name in ("verts_packed", "faces_packed", "mesh_to_faces_packed_first_idx"):
        if not hasattr(meshes, name):
            raise TypeError(f"meshes must be a Meshes object; got {type(meshes).__name__}")
    H, W = _parse_image_size(image_size)
    K = check_positive_int(faces_per_pixel, "faces_per_pixel")
    blur_radius = float(blur_radius)
    if not math.isfinite(blur_radius) or blur_radius < 0:
        raise ValueError(f"blur_radius must be a finite float >= 0; got {blur_radius}")
    verts = meshes.verts_packed()
    faces = meshes.faces_packed()
    check_finite(verts, "meshes vertices")
    N = len(meshes)
    F = faces.shape[0]
    face_verts = verts[faces]  # (F, 3, 3)
    first = meshes.mesh_to_faces_packed_first_idx()
    num = meshes.num_faces_per_mesh()

    clipped = None
    neighbor = None
    if z_clip_value is not None or cull_to_frustum:
        ex, ey = _ndc_range(W, H), _ndc_range(H, W)
        frustum = ClipFrustum(
            left=-ex,
            right=ex,
            top=-ey,
            bottom=ey,
            perspective_correct=perspective_correct,
            z_clip_value=z_clip_value,
            cull=cull_to_frustum,
        )
        clipped = clip_faces(face_verts, first, num, frustum=frustum)
        face_verts = clipped.face_verts
        first = clipped.mesh_to_face_first_idx
        num = clipped.num_faces_per_mesh
        neighbor = clipped.clipped_faces_neighbor_idx
        F = face_verts.shape[0]
    face_to_mesh = torch.repeat_interleave(
        torch.arange(N, device=verts.device), num.to(verts.device), output_size=F
    )
    pix_to_face, zbuf, bary, dists = rasterize_face_verts(
        face_verts,
        face_to_mesh,
        N,
        (H, W),
        blur_radius,
        K,
        bool(perspective_correct),
        bool(clip_barycentric_coords),
        bool(cull_backfaces),
        neighbor,
    )
    if clipped is not None:
        pix_to_face, bary = convert_clipped_rasterization_to_original_faces(
            pix_to_face, bary, clipped
        )
    return pix_to_face, zbuf, bary, dists
