"""Interpolate per-face-vertex attributes at rasterized pixels with barycentric coordinates."""

from __future__ import annotations

import torch

from inverse3d._validation import check_same_device, check_tensor

__all__ = ["interpolate_face_attributes"]

# Pixels processed per chunk: bounds the (P, D) temporaries for large images and feature dims.
_CHUNK_ELEMENTS = 1 << 24


def interpolate_face_attributes(
    pix_to_face: torch.Tensor,
    barycentric_coords: torch.Tensor,
    face_attributes: torch.Tensor,
) -> torch.Tensor:
    """Interpolate the attributes of the three vertices of each face at every pixel.

    Args:
        pix_to_face: (N, H, W, K) int, index of the face (into `face_attributes`, i.e. the packed
            faces) covering each pixel for each of its K layers; -1 marks an empty slot.
        barycentric_coords: (N, H, W, K, 3) float, barycentric coordinates of each pixel in its face.
        face_attributes: (F, 3, D) float, the attribute of each vertex of each face.

    Returns:
        pixel_vals: (N, H, W, K, D) float, ``sum_j bary[..., j] * face_attributes[face, j]``; zero
        where `pix_to_face` is -1. Differentiable w.r.t. `barycentric_coords` and `face_attributes`.
    """
    check_tensor(face_attributes, "face_attributes", (None, None, None))
    if face_attributes.shape[1] != 3:
        raise ValueError(
            "face_attributes must have shape (F, 3, D) (faces have three vertices); "
            f"got {tuple(face_attributes.shape)}"
        )
    check_tensor(barycentric_coords, "barycentric_coords", ("N", "H", "W", "K", 3), dtype="float")
    check_tensor(pix_to_face, "pix_to_face", ("N", "H", "W", "K"), dtype="int")
    if tuple(pix_to_face.shape) != tuple(barycentric_coords.shape[:-1]):
        raise ValueError(
            "pix_to_face must have shape barycentric_coords.shape[:-1] = "
            f"{tuple(barycentric_coords.shape[:-1])}; got {tuple(pix_to_face.shape)}"
        )
    check_same_device("pix_to_face", pix_to_face, "barycentric_coords", barycentric_coords)
    check_same_device("pix_to_face", pix_to_face, "face_attributes", face_attributes)

    F, _, D = face_attributes.shape
    out_shape = tuple(pix_to_face.shape) + (D,)
    dtype = torch.promote_types(barycentric_coords.dtype, face_attributes.dtype)
    if not dtype.is_floating_point:
        dtype = barycentric_coords.dtype
    p2f = pix_to_face.reshape(-1)  # (P,)
    bary = barycentric_coords.reshape(-1, 3).to(dtype)  # (P, 3)
    attrs = face_attributes.to(dtype)
    P = p2f.shape[0]
    if P == 0 or F == 0:
        # No pixel or no face: every slot is empty (any face index would be out of range).
        return bary.new_zeros(out_shape) + 0.0 * attrs.sum() + 0.0 * bary.sum()

    if int(p2f.max()) >= F:
        raise ValueError(
            f"pix_to_face must index face_attributes (F={F}); got a face index {int(p2f.max())}"
        )
    chunk = max(1, _CHUNK_ELEMENTS // max(1, 3 * D))
    outs = []
    for start in range(0, P, chunk):
        idx = p2f[start : start + chunk]
        b = bary[start : start + chunk]
        empty = idx < 0
        safe = idx.clamp(min=0)
        vals = attrs[safe]  # (p, 3, D)
        out = (b.unsqueeze(-1) * vals).sum(dim=1)  # (p, D)
        outs.append(torch.where(empty.unsqueeze(-1), torch.zeros_like(out), out))
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=0)
    return out.reshape(out_shape)
