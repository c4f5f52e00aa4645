"""Uniform random sampling of points on the surface of a batch of meshes."""

from __future__ import annotations

from typing import NamedTuple

import torch

from inverse3d._validation import check_positive_int
from inverse3d.ops.mesh_face_areas_normals import mesh_face_areas_normals
from inverse3d.ops.packed_to_padded import packed_to_padded

__all__ = ["sample_points_from_meshes"]


class _SampleFragments(NamedTuple):
    # Same fields as the rasterizer's Fragments: what Meshes.sample_textures reads.
    pix_to_face: torch.Tensor
    zbuf: torch.Tensor
    bary_coords: torch.Tensor
    dists: torch.Tensor


def _rand_barycentric_coords(n: int, s: int, dtype, device):
    """Barycentrics (w0, w1, w2), each (n, s), uniform over a triangle (sqrt(u) method)."""
    u, v = torch.rand(2, n, s, dtype=dtype, device=device)
    su = u.sqrt()
    return 1.0 - su, su * (1.0 - v), su * v


def sample_points_from_meshes(
    meshes,
    num_samples: int = 10000,
    return_normals: bool = False,
    return_textures: bool = False,
):
    """Sample points uniformly (by area) on each mesh of a batch.

    A face is picked with probability proportional to its area, then a point inside it with
    barycentrics (1 - sqrt(u), sqrt(u)(1 - v), sqrt(u) v), u, v ~ U(0, 1).

    Args:
        meshes: Meshes with N meshes.
        num_samples: S, points per mesh.
        return_normals: also return the (unit) normal of the face each sample lies on.
        return_textures: also return the texture colour at each sample (needs textures).

    Returns:
        samples (N, S, 3) float, and then normals (N, S, 3) float and/or textures (N, S, C)
        float when requested. Differentiable in the vertex positions (the face choice is not).
        Meshes with no faces, or whose faces all have zero area, give zeros.

    Raises:
        ValueError: if every mesh is empty, the vertices are not finite, or textures are asked
            for on a mesh without textures.
    """
    num_samples = check_positive_int(num_samples, "num_samples")
    if meshes.isempty():
        raise ValueError("Meshes are empty: nothing to sample from")
    verts = meshes.verts_packed()
    if not bool(torch.isfinite(verts).all()):
        raise ValueError("Meshes contain nan or inf vertices")
    if return_textures and getattr(meshes, "textures", None) is None:
        raise ValueError("Meshes do not contain textures; cannot return_textures")
    faces = meshes.faces_packed()
    first = meshes.mesh_to_faces_packed_first_idx()
    nf = meshes.num_faces_per_mesh()
    N = len(meshes)
    S = num_samples
    device, dtype = verts.device, verts.dtype

    with torch.no_grad():
        areas, _ = mesh_face_areas_normals(verts, faces)
        max_faces = int(nf.max())
        areas_padded = packed_to_padded(areas, first, max_faces)  # (N, Fmax)
        ok = areas_padded.sum(1) > 0  # meshes we can sample from
        face_idx = torch.zeros((N, S), dtype=torch.int64, device=device)
        if bool(ok.any()):
            face_idx[ok] = areas_padded[ok].multinomial(S, replacement=True)
        face_idx = face_idx + first[:, None]
        face_idx = torch.where(ok[:, None], face_idx, torch.zeros_like(face_idx))

    tri = verts[faces[face_idx]]  # (N, S, 3, 3)
    w0, w1, w2 = _rand_barycentric_coords(N, S, dtype, device)
    samples = (
        w0[..., None] * tri[:, :, 0] + w1[..., None] * tri[:, :, 1] + w2[..., None] * tri[:, :, 2]
    )
    samples = samples * ok[:, None, None]
    out = [samples]
    if return_normals:
        n = torch.linalg.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 1], dim=-1)
        n = n / n.norm(dim=-1, keepdim=True).clamp(min=torch.finfo(dtype).eps)
        out.append(n * ok[:, None, None])
    if return_textures:
        pix_to_face = torch.where(ok[:, None], face_idx, torch.full_like(face_idx, -1))
        bary = torch.stack((w0, w1, w2), dim=2)[:, :, None, None, :]  # (N, S, 1, 1, 3)
        dummy = torch.zeros((N, S, 1, 1), dtype=dtype, device=device)
        frags = _fragments(pix_to_face.view(N, S, 1, 1), dummy, bary, dummy)
        tex = meshes.sample_textures(frags)  # (N, S, 1, 1, C)
        out.append(tex[:, :, 0, 0, :] * ok[:, None, None])
    return out[0] if len(out) == 1 else tuple(out)


def _fragments(pix_to_face, zbuf, bary, dists):
    try:
        from inverse3d.renderer.mesh.rasterizer import Fragments

        return Fragments(pix_to_face=pix_to_face, zbuf=zbuf, bary_coords=bary, dists=dists)
    except ImportError:
        return _SampleFragments(pix_to_face, zbuf, bary, dists)
