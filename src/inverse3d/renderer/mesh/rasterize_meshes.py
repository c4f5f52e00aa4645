"""Vectorized, chunked, differentiable mesh rasterization (PyTorch3D 0.7.9 semantics).

How it works (no loop over pixels or faces; loops only over chunks):

1. Faces are culled (zero area, a vertex with z < 1e-8, back faces when asked) and each face's
   screen bounding box, grown by sqrt(blur_radius), is turned into a range of pixel rows and
   columns.
2. The image rows of the whole batch are split into row chunks holding about ``_PAIR_BUDGET``
   (pixel, face) candidate pairs each; a chunk whose faces alone exceed the budget is split again
   over its faces and the partial results are merged. Nothing is ever dropped: the output is
   complete whatever ``bin_size`` / ``max_faces_per_bin`` say.
3. Within a chunk, faces are sorted by their pixel count and evaluated in dense (faces, pixels)
   blocks of similar counts, so per-face values broadcast; barycentrics, depth and squared
   distance are computed without autograd and the K nearest by depth per pixel are kept with one
   sort on a (pixel, depth) key (equal depths: lower face index first), then written straight
   into the -1 padded outputs.
4. One autograd Function wraps it all; the forward remembers the filled output slots, their
   faces and nearest edges, and the hand-written backward applies the derivatives of the same
   formulas chunk by chunk, so gradients of zbuf, bary_coords and dists reach the vertex
   positions with bounded memory (with only dists in the loss: one segment per pair).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from inverse3d._dispatch import use_triton
from inverse3d._validation import check_finite, check_positive_int
from inverse3d.renderer.mesh._rasterize_reference import (
    barycentric_coordinates,
    barycentric_coordinates_clip,
    edge_function,
    non_square_ndc_range,
    pix_to_non_square_ndc,
    point_line_distance,
    point_triangle_distance,
)
from inverse3d.renderer.mesh.clip import (
    ClipFrustum,
    clip_faces,
    convert_clipped_rasterization_to_original_faces,
)

__all__ = [
    "barycentric_coordinates",
    "barycentric_coordinates_clip",
    "edge_function",
    "non_square_ndc_range",
    "pix_to_non_square_ndc",
    "point_line_distance",
    "point_triangle_distance",
    "rasterize_meshes",
    "rasterize_meshes_python",
    "soft_silhouette_meshes",
]

kEpsilon = 1e-8
# Candidate (pixel, face) pairs evaluated at once; bounds the working memory of a chunk.
_PAIR_BUDGET = 1 << 19
# Pairs evaluated at once in one dense (faces, pixels) block.
_BLOCK = 1 << 16
# Count levels per doubling when grouping faces of similar pair counts (2**(1/3): <26% padding).
_LEVELS_PER_OCTAVE = 3.0
# Selected pairs filled in at once after the Triton selection.
_FILL_CHUNK = 1 << 20
# Pairs recomputed at once in the backward pass.
_BACKWARD_CHUNK = 1 << 18


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


# Rows of the per-face table gathered for every (pixel, face) pair.
_X0, _Y0, _X1, _Y1, _X2, _Y2 = range(6)
_E01X, _E01Y, _E02X, _E02Y, _E12X, _E12Y = range(6, 12)
_INV_AREA, _IL01, _IL02, _IL12 = range(12, 16)
_Z0, _Z1, _Z2, _Z12, _Z02, _Z01 = range(16, 22)


def _face_table(fv_t: torch.Tensor) -> torch.Tensor:
    """(22, F) per-face quantities used by every pixel of the face (see the row names above).

    fv_t: (9, F) rows x0 y0 z0 x1 y1 z1 x2 y2 z2. Edge vectors e_ab = v_b - v_a, the inverse of
    the (epsilon-shifted) doubled signed area, inverse squared edge lengths (0 for degenerate
    edges, whose distance is then taken to their first vertex) and depth products.
    """
    x0, y0, z0, x1, y1, z1, x2, y2, z2 = fv_t.unbind(0)
    e01x, e01y, e02x, e02y, e12x, e12y = x1 - x0, y1 - y0, x2 - x0, y2 - y0, x2 - x1, y2 - y1
    area = e02x * e01y - e02y * e01x + kEpsilon

    def inv_l2(ex, ey):
        l2 = ex * ex + ey * ey
        return torch.where(l2 > kEpsilon, 1.0 / l2.clamp_min(kEpsilon), torch.zeros_like(l2))

    rows = [x0, y0, x1, y1, x2, y2, e01x, e01y, e02x, e02y, e12x, e12y, 1.0 / area]
    rows += [inv_l2(e01x, e01y), inv_l2(e02x, e02y), inv_l2(e12x, e12y)]
    rows += [z0, z1, z2, z1 * z2, z0 * z2, z0 * z1]
    return torch.stack(rows)


def _pair_geometry(
    tab, px, py, perspective_correct: bool, clip_barycentric_coords: bool, edge_code=False
):
    """Barycentrics, depth and squared distance of pixel centres (px, py) w.r.t. faces.

    tab: (22, M) rows of `_face_table` for the face of each pair; px, py: (M,) float.
    Returns bary_clip (M, 3), pz (M,), dist (M,) unsigned squared distance to the boundary,
    inside (M,) bool (from the perspective corrected, unclipped barycentrics, strict > 0).
    Same formulas as PyTorch3D's kernels (edge functions over the epsilon-shifted area).
    """
    dx0, dy0 = px - tab[_X0], py - tab[_Y0]
    dx1, dy1 = px - tab[_X1], py - tab[_Y1]
    dx2, dy2 = px - tab[_X2], py - tab[_Y2]
    e01x, e01y, e02x, e02y, e12x, e12y = tab[_E01X : _E12Y + 1]
    inv_area = tab[_INV_AREA]
    w0 = (dx1 * e12y - dy1 * e12x) * inv_area
    w1 = (dy2 * e02x - dx2 * e02y) * inv_area
    w2 = (dx0 * e01y - dy0 * e01x) * inv_area
    if perspective_correct:
        t0, t1, t2 = w0 * tab[_Z12], w1 * tab[_Z02], w2 * tab[_Z01]
        inv_s = 1.0 / (t0 + t1 + t2)
        w0, w1, w2 = t0 * inv_s, t1 * inv_s, t2 * inv_s
    inside = (w0 > 0) & (w1 > 0) & (w2 > 0)
    if clip_barycentric_coords:
        c0, c1, c2 = w0.clamp_min(0.0), w1.clamp_min(0.0), w2.clamp_min(0.0)
        inv_s = 1.0 / (c0 + c1 + c2).clamp_min(1e-5)
        w0, w1, w2 = c0 * inv_s, c1 * inv_s, c2 * inv_s
    pz = w0 * tab[_Z0] + w1 * tab[_Z1] + w2 * tab[_Z2]

    def seg(dx, dy, ex, ey, il):
        t = ((dx * ex + dy * ey) * il).clamp_(0.0, 1.0)
        qx = dx - t * ex
        qy = dy - t * ey
        return qx * qx + qy * qy

    d01 = seg(dx0, dy0, e01x, e01y, tab[_IL01])
    d02 = seg(dx0, dy0, e02x, e02y, tab[_IL02])
    d12 = seg(dx1, dy1, e12x, e12y, tab[_IL12])
    d0 = torch.minimum(d01, d02)
    dist = torch.minimum(d0, d12)
    bary = torch.stack((w0, w1, w2), dim=-1)
    if not edge_code:
        return bary, pz, dist, inside, None
    # nearest edge: 0 = (v0, v1), 1 = (v0, v2), 2 = (v1, v2); ties go to the earlier edge
    code = torch.where(d12 < d0, 2, (d02 < d01).to(torch.uint8)).to(torch.uint8)
    return bary, pz, dist, inside, code


def _pair_rows(small: torch.Tensor) -> list[torch.Tensor]:
    """The 22 `_face_table` rows (as a list) from the 13 gathered ones of the backward pass."""
    x0, y0, x1, y1, x2, y2, z0, z1, z2, inv_area, il01, il02, il12 = small.unbind(0)
    return [x0, y0, x1, y1, x2, y2, x1 - x0, y1 - y0, x2 - x0, y2 - y0, x2 - x1, y2 - y1] + [
        inv_area,
        il01,
        il02,
        il12,
        z0,
        z1,
        z2,
        z1 * z2,
        z0 * z2,
        z0 * z1,
    ]


def _edge_dist_backward(a, b, il, px, py, g_dist):
    """Gradients (M, 2), (M, 2) w.r.t. the endpoints a, b (M, 2) of each pair's nearest edge of
    sum(g_dist * dist), dist the squared distance from (px, py) to the segment [a, b] (il: its
    inverse squared length, 0 for a degenerate edge: distance to a)."""
    dx, dy = px - a[:, 0], py - a[:, 1]
    ex, ey = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
    t = ((dx * ex + dy * ey) * il).clamp_(0.0, 1.0)
    rx = dx - t * ex
    ry = dy - t * ey
    kb = -2.0 * g_dist * t
    ka = -2.0 * g_dist - kb  # -2 g (1 - t)
    return torch.stack((ka * rx, ka * ry), 1), torch.stack((kb * rx, kb * ry), 1)


def _scatter_dist_grad(vxy, il, grad, face, code, px, py, g_dist):
    """Add to grad (3 F, 2) the gradient w.r.t. the (face, vertex) xy vxy (3 F, 2) of
    sum(g_dist * dist) over pairs (face, pixel centre (px, py)), dist the unsigned squared
    distance to the pair's nearest edge `code` (uint8: 0 (v0 v1), 1 (v0 v2), 2 (v1 v2)); il
    (3 F,): inverse squared length of each (face, edge)."""
    code = code.long()
    base = face * 3
    ia = base + (code >> 1)  # edge start: v0, v0, v1
    ib = base + 1 + (code > 0)  # edge end: v1, v2, v2
    a, b = vxy.index_select(0, ia), vxy.index_select(0, ib)
    ga, gb = _edge_dist_backward(a, b, il.index_select(0, base + code), px, py, g_dist)
    grad.index_add_(0, ia, ga)
    grad.index_add_(0, ib, gb)


def _pair_geometry_backward(tab, px, py, persp, clipb, g_bary, g_z, g_dist):
    """Gradient w.r.t. the 9 vertex coordinates (9, M) of
    sum(g_bary * bary) + sum(g_z * pz) + sum(g_dist * dist) for `_pair_geometry`'s outputs
    (g_dist already carries the sign of the signed distance). Any gradient may be None."""
    dx0, dy0 = px - tab[_X0], py - tab[_Y0]
    dx1, dy1 = px - tab[_X1], py - tab[_Y1]
    dx2, dy2 = px - tab[_X2], py - tab[_Y2]
    e01x, e01y, e02x, e02y, e12x, e12y = tab[_E01X : _E12Y + 1]
    z0, z1, z2 = tab[_Z0], tab[_Z1], tab[_Z2]
    zero = torch.zeros_like(px)
    gx = [zero, zero, zero]
    gy = [zero, zero, zero]
    gzv = [zero, zero, zero]
    if g_bary is not None or g_z is not None:
        inv_area = tab[_INV_AREA]
        w = [
            (dx1 * e12y - dy1 * e12x) * inv_area,
            (dy2 * e02x - dx2 * e02y) * inv_area,
            (dx0 * e01y - dy0 * e01x) * inv_area,
        ]
        u = w
        if persp:
            t = [w[0] * tab[_Z12], w[1] * tab[_Z02], w[2] * tab[_Z01]]
            inv_s = 1.0 / (t[0] + t[1] + t[2])
            u = [ti * inv_s for ti in t]
        b = u
        if clipb:
            c = [ui.clamp_min(0.0) for ui in u]
            s_raw = c[0] + c[1] + c[2]
            inv_c = 1.0 / s_raw.clamp_min(1e-5)
            b = [ci * inv_c for ci in c]
        gb = [zero, zero, zero] if g_bary is None else list(g_bary.unbind(1))
        if g_z is not None:
            gb = [gb[0] + g_z * z0, gb[1] + g_z * z1, gb[2] + g_z * z2]
            gzv = [g_z * b[0], g_z * b[1], g_z * b[2]]
        gu = gb
        if clipb:
            dot = (gb[0] * b[0] + gb[1] * b[1] + gb[2] * b[2]) * (s_raw >= 1e-5)
            gu = [(gb[i] - dot) * inv_c * (u[i] >= 0) for i in range(3)]
        gw = gu
        if persp:
            dot = gu[0] * u[0] + gu[1] * u[1] + gu[2] * u[2]
            gt = [(gu[i] - dot) * inv_s for i in range(3)]
            gw = [gt[0] * tab[_Z12], gt[1] * tab[_Z02], gt[2] * tab[_Z01]]
            gzv = [
                gzv[0] + gt[1] * w[1] * z2 + gt[2] * w[2] * z1,
                gzv[1] + gt[0] * w[0] * z2 + gt[2] * w[2] * z0,
                gzv[2] + gt[0] * w[0] * z1 + gt[1] * w[1] * z0,
            ]
        g0, g1, g2 = (g * inv_area for g in gw)
        ga = -(gw[0] * w[0] + gw[1] * w[1] + gw[2] * w[2]) * inv_area
        gx = [
            g2 * dy1 - g1 * dy2 + ga * e12y,
            g0 * dy2 - g2 * dy0 - ga * e02y,
            g1 * dy0 - g0 * dy1 + ga * e01y,
        ]
        gy = [
            g1 * dx2 - g2 * dx1 - ga * e12x,
            g2 * dx0 - g0 * dx2 + ga * e02x,
            g0 * dx1 - g1 * dx0 - ga * e01x,
        ]
    if g_dist is not None:
        parts = []
        for ia, ib, dx, dy, ex, ey, il in (
            (0, 1, dx0, dy0, e01x, e01y, tab[_IL01]),
            (0, 2, dx0, dy0, e02x, e02y, tab[_IL02]),
            (1, 2, dx1, dy1, e12x, e12y, tab[_IL12]),
        ):
            t = ((dx * ex + dy * ey) * il).clamp(0.0, 1.0)
            rx = dx - t * ex
            ry = dy - t * ey
            parts.append((ia, ib, t, rx, ry, rx * rx + ry * ry))
        d01, d02, d12 = parts[0][5], parts[1][5], parts[2][5]
        m01 = (d01 <= d02) & (d01 <= d12)
        m02 = ~m01 & (d02 <= d12)
        m12 = ~(m01 | m02)
        for (ia, ib, t, rx, ry, _), m in zip(parts, (m01, m02, m12)):
            k = torch.where(m, -2.0 * g_dist, zero)
            kb = k * t
            ka = k - kb
            gx[ia] = gx[ia] + ka * rx
            gy[ia] = gy[ia] + ka * ry
            gx[ib] = gx[ib] + kb * rx
            gy[ib] = gy[ib] + kb * ry
    return torch.stack((gx[0], gy[0], gzv[0], gx[1], gy[1], gzv[1], gx[2], gy[2], gzv[2]))


class _RasterizeFaceVerts(torch.autograd.Function):
    """Chunked rasterization (forward, no autograd graph) with a hand-written backward.

    The forward writes the kept (pixel, face) pairs straight into the dense -1 padded outputs;
    the backward takes the kept pairs saved by the forward, gathers the output gradients there
    and applies `_pair_geometry_backward` chunk by chunk, scattering into face_verts.
    """

    @staticmethod
    def forward(ctx, face_verts, face_to_mesh, N, image_size, settings, neighbor):
        keep_pairs = ctx.needs_input_grad[0]
        outs, kept = _rasterize_forward(
            face_verts.detach(), face_to_mesh, N, image_size, settings, neighbor, keep_pairs
        )
        pix_to_face, zbuf, bary, dists = outs
        # kept: the filled output slots (flat indices, increasing) and their faces, so that the
        # backward needs no scan of the (N, H, W, K) outputs
        ctx.save_for_backward(face_verts, dists, *kept)
        ctx.image_size = image_size
        ctx.settings = settings
        ctx.mark_non_differentiable(pix_to_face)
        ctx.set_materialize_grads(False)
        return outs

    @staticmethod
    def backward(ctx, _g_p2f, g_z_all, g_bary_all, g_dist_all):
        none = (None,) * 5
        if g_bary_all is None and g_z_all is None and g_dist_all is None:
            return (None,) + none
        face_verts, dists, flat_all, face_all, code_all = ctx.saved_tensors
        H, W = ctx.image_size
        _, _, K, persp, clipb, _ = ctx.settings
        dtype, dev = face_verts.dtype, face_verts.device
        ys, xs = pixel_centers_ndc(H, W, dtype, dev)
        fv_t = face_verts.detach().reshape(-1, 9).t().contiguous()  # (9, F)
        full = _face_table(fv_t)
        # gathered per pair: vertex coordinates, inverse area, inverse squared edge lengths
        rows = [_X0, _Y0, _X1, _Y1, _X2, _Y2, _Z0, _Z1, _Z2, _INV_AREA, _IL01, _IL02, _IL12]
        small = full[rows].contiguous()
        grad = torch.zeros_like(fv_t)
        dist_only = g_bary_all is None and g_z_all is None
        if dist_only:  # e.g. silhouettes: only x, y of the vertices get gradients
            F = fv_t.shape[1]
            # per (face, vertex) xy and per (face, edge) inverse squared length, edge order
            # (v0 v1), (v0 v2), (v1 v2) as the saved nearest-edge codes
            vxy = face_verts.detach()[..., :2].reshape(F * 3, 2)
            il = full[[_IL01, _IL02, _IL12]].t().reshape(F * 3)
            grad = fv_t.new_zeros(F * 3, 2)
        M = flat_all.numel()
        # flat views, made once (a non-contiguous gradient is copied here, not per chunk)
        gb_all = None if g_bary_all is None else g_bary_all.reshape(-1, 3)
        gz_all = None if g_z_all is None else g_z_all.reshape(-1)
        gd_all = None if g_dist_all is None else g_dist_all.reshape(-1)
        d_all = dists.reshape(-1)
        flat_int32 = d_all.numel() < 2**31
        for s in range(0, M, _BACKWARD_CHUNK):
            flat = flat_all[s : s + _BACKWARD_CHUNK]
            face = face_all[s : s + _BACKWARD_CHUNK]
            # pixel of each slot (int32 arithmetic when the outputs are small enough)
            pix = (flat.int() if flat_int32 else flat) // K
            px = xs.index_select(0, pix % W)
            py = ys.index_select(0, (pix // W) % H)
            gb = None if gb_all is None else gb_all.index_select(0, flat)
            gz = None if gz_all is None else gz_all.index_select(0, flat)
            gd = None
            if gd_all is not None:
                gd = gd_all.index_select(0, flat)
                gd = torch.where(torch.signbit(d_all.index_select(0, flat)), -gd, gd)
            if dist_only:
                code = code_all[s : s + _BACKWARD_CHUNK]
                _scatter_dist_grad(vxy, il, grad, face, code, px, py, gd)
                continue
            else:
                g = _pair_geometry_backward(
                    _pair_rows(small.index_select(1, face)), px, py, persp, clipb, gb, gz, gd
                )
            grad.index_add_(1, face, g)
        if dist_only:
            out = face_verts.new_zeros(face_verts.shape)
            out[..., :2] = grad.view(-1, 3, 2)
            return (out,) + none
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
        skey, order = torch.sort(key)
        eq = skey[1:] == skey[:-1]
        if bool(eq.any()):
            # Equal depths at a pixel (e.g. clipped barycentrics meeting at a shared vertex):
            # order each run of equal keys by face index, as PyTorch3D orders (z, face).
            tie = torch.zeros(M, dtype=torch.bool, device=dev)
            tie[1:] |= eq
            tie[:-1] |= eq
            tpos = tie.nonzero().squeeze(1)
            same = eq[tpos[:-1]] & (tpos[1:] == tpos[:-1] + 1)
            run = torch.cumsum(~same, 0)
            run = torch.cat((run.new_zeros(1), run))
            sub = order[tpos]
            _, o = torch.sort((run << 32) | face[sub])
            order[tpos] = sub[o]
    else:
        order = torch.argsort(face, stable=True)
        order = order[torch.argsort(pz[order], stable=True)]
        order = order[torch.argsort(pix[order], stable=True)]
    spix = skey >> 31 if pz.dtype == torch.float32 else pix.index_select(0, order)
    first = torch.ones(M, dtype=torch.bool, device=dev)
    first[1:] = spix[1:] != spix[:-1]
    starts = first.nonzero().squeeze(1)  # where each pixel's run begins
    lens = torch.diff(starts, append=starts.new_full((1,), M))
    rank = torch.arange(M, device=dev) - torch.repeat_interleave(starts, lens, output_size=M)
    if int(lens.max()) <= K:  # no pixel has more than K candidates: keep them all
        return order, rank
    keep = (rank < K).nonzero().squeeze(1)
    return order.index_select(0, keep), rank.index_select(0, keep)


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
    swap = face[b] < face[a]  # a: the lower face index
    a, b = torch.where(swap, b, a), torch.where(swap, a, b)
    b_closer = dist[b] < dist[a]
    drop = torch.zeros(pix.numel(), dtype=torch.bool, device=pix.device)
    drop[torch.where(b_closer, a, b)] = True
    return drop


def _blocks(counts_sorted: torch.Tensor) -> list[tuple[int, int]]:
    """Split faces sorted by pair count into blocks evaluated as dense (faces, max count) grids:
    counts within a block differ by less than 25% (little padding) and a block holds about
    _BLOCK pairs."""
    level = torch.floor(torch.log2(counts_sorted.double()) * _LEVELS_PER_OCTAVE).long()
    cap = torch.ceil(torch.exp2((level + 1).double() / _LEVELS_PER_OCTAVE)).long()
    per_block = (_BLOCK // cap).clamp_min(1)
    n = counts_sorted.numel()
    pos = torch.arange(n, device=counts_sorted.device)
    first = torch.ones(n, dtype=torch.bool, device=counts_sorted.device)
    first[1:] = level[1:] != level[:-1]
    start = torch.cummax(torch.where(first, pos, torch.zeros_like(pos)), 0).values
    key = level * (1 << 32) + (pos - start) // per_block
    b = _chunk_bounds(key)
    return list(zip(b[:-1], b[1:]))


def _chunk_bounds(chunk_id: torch.Tensor) -> list[int]:
    """[0, b1, ..., n]: the boundaries of the runs of equal values in a sorted id tensor."""
    n = chunk_id.numel()
    change = (chunk_id[1:] != chunk_id[:-1]).nonzero().squeeze(1) + 1
    return [0] + change.tolist() + [n]


def _fill_selection(p2f, tab, xs, ys, settings, outs, keep_pairs):
    """Fill the -1 padded outputs `outs` at the selected (pixel, face) pairs p2f (N, H, W, K)
    with the pair geometry of the reference (same formulas, hence identical values).

    Returns outs and, if keep_pairs, (flat, face, edge code) of the filled slots as
    `_rasterize_forward` (else empty tensors)."""
    K, persp, clipb = settings[2], settings[3], settings[4]
    pix_to_face, zbuf, bary_out, dists = (t.view(-1) for t in outs)
    bary_out = bary_out.view(-1, 3)
    H, W = ys.numel(), xs.numel()
    sel = p2f.reshape(-1)
    pix_to_face.copy_(sel)
    flat_all = (sel >= 0).nonzero().squeeze(1)
    kept_face, kept_code = [], []
    for s in range(0, flat_all.numel(), _FILL_CHUNK):
        flat = flat_all[s : s + _FILL_CHUNK]
        face = sel.index_select(0, flat)
        pix = flat // K
        px = xs.index_select(0, pix % W)
        py = ys.index_select(0, (pix // W) % H)
        bary, pz, dist, inside, code = _pair_geometry(
            tab.index_select(1, face), px, py, persp, clipb, keep_pairs
        )
        zbuf.index_copy_(0, flat, pz)
        dists.index_copy_(0, flat, torch.where(inside, -dist, dist))
        bary_out.index_copy_(0, flat, bary)
        if keep_pairs:
            kept_face.append(face)
            kept_code.append(code)
    none = torch.zeros(0, dtype=torch.long, device=sel.device)
    if not keep_pairs or not kept_face:
        return outs, (none, none, none.to(torch.uint8))
    return outs, (flat_all, torch.cat(kept_face), torch.cat(kept_code))


def _rasterize_forward(fv, face_to_mesh, N, image_size, settings, neighbor, keep_pairs=False):
    """The chunked forward pass (no autograd). fv: (F, 3, 3).

    Returns the four outputs and, if keep_pairs, (flat, face): the flat indices (increasing)
    of the filled output slots and their face indices (else two empty tensors)."""
    H, W = image_size
    blur_radius, _, K, perspective_correct, clip_barycentric_coords, cull_backfaces = settings
    dev, dtype = fv.device, fv.dtype
    F = fv.shape[0]
    P = N * H * W
    fv_t = fv.reshape(F, 9).t().contiguous()  # (9, F)
    tab = _face_table(fv_t)
    if not perspective_correct:
        tab = tab[: _Z2 + 1]
    ys, xs = pixel_centers_ndc(H, W, dtype, dev)
    pix_to_face = torch.full((P * K,), -1, dtype=torch.long, device=dev)
    zbuf = torch.full((P * K,), -1.0, dtype=dtype, device=dev)
    dists = torch.full((P * K,), -1.0, dtype=dtype, device=dev)
    bary_out = torch.full((P * K, 3), -1.0, dtype=dtype, device=dev)
    outs = (
        pix_to_face.view(N, H, W, K),
        zbuf.view(N, H, W, K),
        bary_out.view(N, H, W, K, 3),
        dists.view(N, H, W, K),
    )
    kept_flat, kept_face, kept_code = [], [], []
    none = torch.zeros(0, dtype=torch.long, device=dev)
    ranges = _face_pixel_ranges(fv_t, H, W, blur_radius, cull_backfaces)
    if settings[1]:  # the Triton kernel selects the pairs, the shared geometry fills them in
        from inverse3d.renderer.mesh._triton.rasterize import select_faces

        p2f = select_faces(
            fv, tab, ranges, face_to_mesh, N, xs, ys, K,
            blur_radius, perspective_correct, clip_barycentric_coords, neighbor,
        )  # fmt: skip
        return _fill_selection(p2f, tab, xs, ys, settings, outs, keep_pairs)
    for R0, carry, rank in _kept_pairs(
        tab, xs, ys, face_to_mesh, N, settings, neighbor, keep_pairs, ranges
    ):
        lpix, face, pz, sdist, bary = carry[:5]
        flat = (lpix + R0 * W) * K + rank
        pix_to_face.index_copy_(0, flat, face)
        zbuf.index_copy_(0, flat, pz)
        dists.index_copy_(0, flat, sdist)
        bary_out.index_copy_(0, flat, bary)
        if keep_pairs:
            kept_flat.append(flat)
            kept_face.append(face)
            kept_code.append(carry[5])
    if not kept_flat:
        return outs, (none, none, none.to(torch.uint8))
    return outs, (torch.cat(kept_flat), torch.cat(kept_face), torch.cat(kept_code))


def _kept_pairs(tab, xs, ys, face_to_mesh, N, settings, neighbor, keep_code, ranges):
    """The chunked reference selection: yields, per chunk of global image rows [R0, R1),
    (R0, [lpix, face, pz, signed dist, bary (, edge code)], rank) for the kept (pixel, face)
    pairs (the K nearest by depth per pixel), lpix = (global row - R0) * W + column, rank the
    slot k of the pair. tab: (>= 19, F) `_face_table`; ranges: `_face_pixel_ranges`."""
    H, W = ys.numel(), xs.numel()
    blur_radius, _, K, perspective_correct, clip_barycentric_coords, _ = settings
    dev = tab.device
    valid, i_lo, i_hi, j_lo, j_hi = ranges
    fidx = valid.nonzero().squeeze(1)
    if fidx.numel() == 0:
        return
    g_lo = face_to_mesh[fidx] * H + i_lo[fidx]  # global rows (n * H + i)
    g_hi = face_to_mesh[fidx] * H + i_hi[fidx]
    j0 = j_lo[fidx]
    ncols = j_hi[fidx] - j0 + 1
    j0_i = j0.int()
    # Candidate pairs per global row -> row chunks of about _PAIR_BUDGET pairs.
    diff = torch.zeros(N * H + 1, dtype=torch.long, device=dev)
    diff.index_add_(0, g_lo, ncols)
    diff.index_add_(0, g_hi + 1, -ncols)
    row_pairs = diff[:-1].cumsum(0)
    row_cum = row_pairs.cumsum(0) - row_pairs
    bounds = _chunk_bounds(row_cum // _PAIR_BUDGET)

    for R0, R1 in zip(bounds[:-1], bounds[1:]):
        sel = ((g_lo < R1) & (g_hi >= R0)).nonzero().squeeze(1)
        if sel.numel() == 0:
            continue
        r0 = g_lo[sel].clamp_min(R0)
        nrows = g_hi[sel].clamp_max(R1 - 1) - r0 + 1
        nc = ncols[sel]
        cnt = nrows * nc
        # int32 copies for the per-pair index arithmetic (half the memory traffic of int64)
        r0_i, nc_i, cnt_i = (r0 - R0).int(), nc.int(), cnt.int()
        sub_bounds = _chunk_bounds((cnt.cumsum(0) - cnt) // _PAIR_BUDGET)
        carry = None
        for s0, s1 in zip(sub_bounds[:-1], sub_bounds[1:]):
            pieces = [] if carry is None else [carry]
            c = cnt[s0:s1]
            cs, order = torch.sort(c)
            for b0, b1 in _blocks(cs):
                o = order[b0:b1] + s0  # positions in sel
                fi = sel[o]  # positions in fidx
                face_id = fidx[fi]
                C = int(cs[b1 - 1])
                ar = torch.arange(C, device=dev, dtype=torch.int32)[None, :]
                c_o, nc_o = cnt_i[o, None], nc_i[o, None]
                off = torch.minimum(ar, c_o - 1)
                rr = off // nc_o
                col = j0_i[fi, None] + (off - rr * nc_o)
                lrow = r0_i[o, None] + rr  # row within the chunk
                irow = lrow + (R0 - face_to_mesh[face_id] * H).int()[:, None]  # row in the image
                bary, pz, dist, inside, code = _pair_geometry(
                    tab[:, face_id, None],
                    xs.index_select(0, col.view(-1)).view(col.shape),
                    ys.index_select(0, irow.view(-1)).view(irow.shape),
                    perspective_correct,
                    clip_barycentric_coords,
                    keep_code,
                )
                ok = (pz >= 0) & (inside | (dist < blur_radius))
                ok &= ar < c_o
                q = ok.view(-1).nonzero().squeeze(1)
                dq = dist.view(-1).index_select(0, q)
                pieces.append(
                    [
                        (lrow * W + col).view(-1).index_select(0, q).long(),
                        face_id.index_select(0, q // C),
                        pz.view(-1).index_select(0, q),
                        torch.where(inside.view(-1).index_select(0, q), -dq, dq),
                        bary.view(-1, 3).index_select(0, q),
                    ]
                    + ([code.view(-1).index_select(0, q)] if keep_code else [])
                )
            cand = [torch.cat(ts) for ts in zip(*pieces)]
            idx, rank = _select_topk(cand[0], cand[2], cand[1], cand[3].abs(), neighbor, K)
            carry = [t.index_select(0, idx) for t in cand]
        yield R0, carry, rank


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
    kernel: bool = False,
):
    """Rasterize packed faces. face_verts: (F, 3, 3) float NDC xy + view z;
    face_to_mesh: (F,) int64. Returns (pix_to_face, zbuf, bary_coords, dists) as
    `rasterize_meshes` (face indices into face_verts). kernel: select the faces with the
    Triton kernel (float32 only; same outputs and gradients), else the chunked reference."""
    if kernel and face_verts.dtype != torch.float32:
        raise TypeError(f"kernel=True needs float32 face_verts; got {face_verts.dtype}")
    settings = (
        float(blur_radius),
        bool(kernel),
        int(faces_per_pixel),
        bool(perspective_correct),
        bool(clip_barycentric_coords),
        bool(cull_backfaces),
    )
    p, z, b, d = _RasterizeFaceVerts.apply(
        face_verts, face_to_mesh, N, tuple(image_size), settings, clipped_faces_neighbor_idx
    )
    return p, z, b, d


def _check_projected_finite(verts: torch.Tensor, name: str) -> None:
    """Vertices must be finite, except x/y of vertices on or behind the camera plane (z <= 0).

    A world-space vertex at the camera centre projects to x/y = 0/0: as in PyTorch3D, its faces
    (which have a vertex at z <= 0) are simply not drawn, and the rest of the batch is.
    """
    v = verts.detach()
    if v.numel() == 0 or bool(torch.isfinite(v).all()):
        return
    z = v[..., 2]
    xy_ok = torch.isfinite(v[..., :2]).all(-1) | (z <= 0)
    if not bool(torch.isfinite(z).all()) or not bool(xy_ok.all()):
        check_finite(v, name)


def _prepare(meshes, H, W, blur_radius, perspective_correct, z_clip_value, cull_to_frustum):
    """Checks and packs the faces of `rasterize_meshes`' arguments: returns face_verts (F, 3, 3)
    (clipped when asked), face_to_mesh (F,), the clipped faces' neighbours (or None), the
    clipping record (or None) and whether the Triton kernel runs."""
    for name in ("verts_packed", "faces_packed", "mesh_to_faces_packed_first_idx"):
        if not hasattr(meshes, name):
            raise TypeError(f"meshes must be a Meshes object; got {type(meshes).__name__}")
    blur_radius = float(blur_radius)
    if not math.isfinite(blur_radius) or blur_radius < 0:
        raise ValueError(f"blur_radius must be a finite float >= 0; got {blur_radius}")
    verts = meshes.verts_packed()
    faces = meshes.faces_packed()
    _check_projected_finite(verts, "meshes vertices")
    N = len(meshes)
    F = faces.shape[0]
    face_verts = verts[faces]  # (F, 3, 3)
    bad = ~torch.isfinite(face_verts.detach()).all(-1).all(-1)  # (F,) faces at the camera centre
    if bool(bad.any()):
        # Zeroed faces have z = 0 and are never drawn; `where` keeps NaN out of the gradients of
        # their other vertices.
        face_verts = torch.where(bad[:, None, None], torch.zeros_like(face_verts), face_verts)
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
    # float64 stays on the reference (the kernel's depth keys are float32 bit patterns)
    kernel = face_verts.dtype == torch.float32 and use_triton(face_verts, experimental=True)
    return face_verts, face_to_mesh, neighbor, clipped, kernel


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
    H, W = _parse_image_size(image_size)
    K = check_positive_int(faces_per_pixel, "faces_per_pixel")
    face_verts, face_to_mesh, neighbor, clipped, kernel = _prepare(
        meshes, H, W, blur_radius, perspective_correct, z_clip_value, cull_to_frustum
    )
    N = len(meshes)
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
        kernel,
    )
    if clipped is not None:
        pix_to_face, bary = convert_clipped_rasterization_to_original_faces(
            pix_to_face, bary, clipped
        )
    return pix_to_face, zbuf, bary, dists


class _SoftSilhouette(torch.autograd.Function):
    """alpha = 1 - prod_k sigmoid(d_k / sigma) over the K nearest (pixel, face) pairs, never
    holding (N, H, W, K) tensors: the forward reduces each chunk of selected pairs into the
    per-pixel log c = sum_k log sigmoid(d_k / sigma) and keeps only log c (N H W,); the
    backward selects the pairs again, chunk by chunk, and pushes
    d alpha / d d_k = -c sigmoid(-d_k / sigma) / sigma = -exp(log c + log sigmoid(-d_k / sigma))
    / sigma through each pair's nearest edge to the vertex x, y (d_k does not depend on z)."""

    @staticmethod
    def forward(ctx, face_verts, face_to_mesh, N, image_size, settings, neighbor, sigma):
        fv = face_verts.detach()
        if settings[1]:
            from inverse3d.renderer.mesh._triton.rasterize import silhouette_forward

            logc = silhouette_forward(
                fv, *_silhouette_inputs(fv, image_size, settings)[1:], face_to_mesh, N,
                settings, neighbor, sigma,
            )  # fmt: skip
        else:
            logc = _silhouette_logc(fv, face_to_mesh, N, image_size, settings, neighbor, sigma)
        ctx.save_for_backward(face_verts, face_to_mesh, logc, neighbor)
        ctx.image_size, ctx.settings, ctx.sigma, ctx.N = image_size, settings, sigma, N
        H, W = image_size
        return (-torch.expm1(logc)).view(N, H, W)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_alpha):
        face_verts, face_to_mesh, logc, neighbor = ctx.saved_tensors
        fv = face_verts.detach()
        settings, sigma, N = ctx.settings, ctx.sigma, ctx.N
        g = g_alpha.reshape(-1).to(fv.dtype)
        if settings[1]:
            from inverse3d.renderer.mesh._triton.rasterize import silhouette_backward

            grad = silhouette_backward(
                fv, *_silhouette_inputs(fv, ctx.image_size, settings)[1:], face_to_mesh, N,
                settings, neighbor, sigma, logc, g,
            )  # fmt: skip
        else:
            grad = _silhouette_grad(fv, face_to_mesh, N, ctx.image_size, settings, neighbor,
                                    sigma, logc, g)  # fmt: skip
        out = fv.new_zeros(fv.shape)
        out[..., :2] = grad.view(-1, 3, 2)
        return out, None, None, None, None, None, None


def _silhouette_inputs(fv, image_size, settings):
    """fv_t (9, F), the face table, pixel centres xs (W,), ys (H,) and `_face_pixel_ranges`."""
    H, W = image_size
    F = fv.shape[0]
    fv_t = fv.reshape(F, 9).t().contiguous()
    tab = _face_table(fv_t)
    if not settings[3]:
        tab = tab[: _Z2 + 1]
    ys, xs = pixel_centers_ndc(H, W, fv.dtype, fv.device)
    ranges = _face_pixel_ranges(fv_t, H, W, settings[0], settings[5])
    return fv_t, tab, xs, ys, ranges


def _silhouette_logc(fv, face_to_mesh, N, image_size, settings, neighbor, sigma):
    """(N H W,) log prod_k sigmoid(d_k / sigma) of the reference selection (0: no face)."""
    H, W = image_size
    _, tab, xs, ys, ranges = _silhouette_inputs(fv, image_size, settings)
    logc = fv.new_zeros(N * H * W)
    inv = 1.0 / sigma
    for R0, carry, _ in _kept_pairs(
        tab, xs, ys, face_to_mesh, N, settings, neighbor, False, ranges
    ):
        logc.index_add_(0, carry[0] + R0 * W, torch.nn.functional.logsigmoid(carry[3] * inv))
    return logc


def _silhouette_grad(fv, face_to_mesh, N, image_size, settings, neighbor, sigma, logc, g):
    """(3 F, 2) gradient w.r.t. the (face, vertex) x, y of sum(g * alpha), g: (N H W,)."""
    H, W = image_size
    fv_t, tab, xs, ys, ranges = _silhouette_inputs(fv, image_size, settings)
    F = fv.shape[0]
    vxy = fv[..., :2].reshape(F * 3, 2)
    il = _face_table(fv_t)[[_IL01, _IL02, _IL12]].t().reshape(F * 3)
    grad = fv.new_zeros(F * 3, 2)
    inv = 1.0 / sigma
    for R0, carry, _ in _kept_pairs(tab, xs, ys, face_to_mesh, N, settings, neighbor, True, ranges):
        gpix = carry[0] + R0 * W
        face, sd, code = carry[1], carry[3], carry[5]
        pix = gpix % (H * W)
        px = xs.index_select(0, pix % W)
        py = ys.index_select(0, pix // W)
        w = torch.exp(logc.index_select(0, gpix) + torch.nn.functional.logsigmoid(sd * -inv))
        g_sd = g.index_select(0, gpix) * w * -inv
        g_d = torch.where(torch.signbit(sd), -g_sd, g_sd)  # d = -dist inside the face
        _scatter_dist_grad(vxy, il, grad, face, code, px, py, g_d)
    return grad


def soft_silhouette_meshes(
    meshes,
    sigma: float = 1e-4,
    image_size: int | Sequence[int] = 256,
    blur_radius: float = 0.0,
    faces_per_pixel: int = 8,
    perspective_correct: bool = False,
    clip_barycentric_coords: bool = False,
    cull_backfaces: bool = False,
    z_clip_value: float | None = None,
    cull_to_frustum: bool = False,
) -> torch.Tensor:
    """Fused soft silhouette of meshes already in NDC: the alpha channel of
    `rasterize_meshes` followed by `sigmoid_alpha_blend` (SoftSilhouetteShader), computed
    without (N, H, W, K) tensors in the forward or in the autograd graph.

    alpha = 1 - prod_k (1 - sigmoid(-d_k / sigma)) over the (at most) K = faces_per_pixel
    nearest faces by depth that `rasterize_meshes` keeps at the pixel (same selection, same
    signed squared distances d_k: negative inside), evaluated in log space. Only the per-pixel
    log of the product (N H W floats) is saved for the backward, which selects the pairs again.
    CUDA float32 inputs run a Triton kernel when INVERSE3D_KERNELS=triton (experimental).

    Args:
        meshes: Meshes of batch size N (verts already projected: NDC x/y, view-space z).
        sigma: > 0, the sigmoid's width (BlendParams.sigma).
        image_size, blur_radius, faces_per_pixel, perspective_correct,
            clip_barycentric_coords, cull_backfaces, z_clip_value, cull_to_frustum: as
            `rasterize_meshes` (perspective_correct and clip_barycentric_coords only change
            which K faces are the nearest).

    Returns:
        (N, H, W) float alpha, differentiable w.r.t. the vertex positions.
    """
    sigma = float(sigma)
    if not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a finite float > 0; got {sigma}")
    H, W = _parse_image_size(image_size)
    K = check_positive_int(faces_per_pixel, "faces_per_pixel")
    face_verts, face_to_mesh, neighbor, _, kernel = _prepare(
        meshes, H, W, blur_radius, perspective_correct, z_clip_value, cull_to_frustum
    )
    settings = (
        float(blur_radius),
        bool(kernel),
        K,
        bool(perspective_correct),
        bool(clip_barycentric_coords),
        bool(cull_backfaces),
    )
    return _SoftSilhouette.apply(
        face_verts, face_to_mesh, len(meshes), (H, W), settings, neighbor, sigma
    )


def rasterize_meshes_python(
    meshes,
    image_size: int | Sequence[int] = 256,
    blur_radius: float = 0.0,
    faces_per_pixel: int = 8,
    perspective_correct: bool = False,
    clip_barycentric_coords: bool = False,
    cull_backfaces: bool = False,
    z_clip_value: float | None = None,
    cull_to_frustum: bool = True,
    clipped_faces_neighbor_idx: torch.Tensor | None = None,
):
    """PyTorch3D's pure-Python reference rasterizer, same arguments and outputs (note its
    default cull_to_frustum=True). Here it is `rasterize_meshes` itself, which computes the
    same (pix_to_face, zbuf, bary_coords, dists) exactly, without PyTorch3D's per-pixel loops;
    clipped_faces_neighbor_idx is accepted and unused (the clipping is recomputed)."""
    return rasterize_meshes(
        meshes,
        image_size=image_size,
        blur_radius=blur_radius,
        faces_per_pixel=faces_per_pixel,
        bin_size=0,
        perspective_correct=perspective_correct,
        clip_barycentric_coords=clip_barycentric_coords,
        cull_backfaces=cull_backfaces,
        z_clip_value=z_clip_value,
        cull_to_frustum=cull_to_frustum,
    )
