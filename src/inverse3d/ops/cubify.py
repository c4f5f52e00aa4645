"""Voxel grid to cube mesh (PyTorch3D `ops.cubify`)."""

from __future__ import annotations

import torch

from inverse3d._validation import check_choice, check_tensor
from inverse3d.common.datatypes import get_device

__all__ = ["cubify"]

# unit cube corners as (x, y, z) offsets, and its 12 outward-facing triangles, two per side:
# x=0, y=1, z=0, y=0, x=1, z=1 (PyTorch3D's corner numbering and face order)
_CUBE_VERTS = [
    (0, 0, 0),
    (0, 0, 1),
    (0, 1, 0),
    (0, 1, 1),
    (1, 0, 0),
    (1, 0, 1),
    (1, 1, 0),
    (1, 1, 1),
]
_CUBE_FACES = [
    (0, 1, 2), (1, 3, 2),  # x = 0
    (2, 3, 6), (3, 7, 6),  # y = 1
    (0, 2, 6), (0, 6, 4),  # z = 0
    (0, 5, 1), (0, 4, 5),  # y = 0
    (6, 7, 5), (6, 5, 4),  # x = 1
    (1, 7, 3), (1, 5, 7),  # z = 1
]  # fmt: skip
# neighbour offset (dz, dy, dx) across each pair of faces
_SIDES = [(0, 0, -1), (0, 1, 0), (-1, 0, 0), (0, -1, 0), (0, 0, 1), (1, 0, 0)]


@torch.no_grad()
def cubify(
    voxels: torch.Tensor,
    thresh: float,
    *,
    feats: torch.Tensor | None = None,
    device: str | torch.device | None = None,
    align: str = "topleft",
):
    """Replace every occupied voxel by a cube; shared vertices merged, interior faces removed.

    Args:
        voxels: (N, D, H, W) float occupancies; voxel (z, y, x) is occupied if value >= thresh
            (PyTorch3D's comparison).
        thresh: occupancy threshold.
        feats: optional (N, K, D, H, W) float voxel colours; with align="center" each face gets
            its voxel's colour as a TexturesAtlas of size 1 (as PyTorch3D; ignored otherwise).
        device: device of the output (default: voxels').
        align: where vertices sit relative to the grid, with x over W, y over H, z over D:
            "topleft": grid location i is the first corner of voxel i, x = 2 i / (W - 1) - 1;
            "corner": the cubes span [-1, 1], x = 2 i / W - 1;
            "center": grid locations are the cube centres, x = 2 (i - 0.5) / (W - 1) - 1.

    Returns:
        Meshes with N meshes, float32 vertices, outward normals. Order as PyTorch3D: vertices
        in (y, x, z) grid order; faces by voxel in (y, x, z) order, then by cube face slot.
        Empty grids give empty meshes.
    """
    from inverse3d.structures.meshes import Meshes

    check_tensor(voxels, "voxels", ("N", "D", "H", "W"))
    check_choice(align, "align", ["topleft", "corner", "center"])
    if isinstance(thresh, bool) or not isinstance(thresh, (int, float)):
        if not (torch.is_tensor(thresh) and thresh.numel() == 1):
            raise TypeError(f"thresh must be a float; got {type(thresh).__name__}")
    dev = get_device(voxels, device)
    N, D, H, W = voxels.shape
    if feats is not None:
        check_tensor(feats, "feats", (N, None, D, H, W), "float")
    occ = (voxels >= thresh).to(dev)  # (N, D, H, W)
    if N == 0:
        return Meshes(verts=[], faces=[])
    padded = torch.nn.functional.pad(occ, (1, 1, 1, 1, 1, 1))  # (N, D+2, H+2, W+2)
    exposed = []
    for dz, dy, dx in _SIDES:  # a side is drawn where the neighbour across it is empty
        nb = padded[:, 1 + dz : 1 + dz + D, 1 + dy : 1 + dy + H, 1 + dx : 1 + dx + W]
        exposed += [occ & ~nb] * 2
    slots = torch.stack(exposed, dim=-1)  # (N, D, H, W, 12)
    slots = slots.permute(0, 2, 3, 1, 4)  # (N, H, W, D, 12): PyTorch3D's voxel order
    n, y, x, z, s = slots.nonzero(as_tuple=True)  # (F,)
    cube_v = torch.tensor(_CUBE_VERTS, dtype=torch.int64, device=dev)  # (8, 3) xyz
    cube_f = torch.tensor(_CUBE_FACES, dtype=torch.int64, device=dev)  # (12, 3)
    corner = cube_v[cube_f[s]]  # (F, 3 corners, 3 xyz)
    gy = y[:, None] + corner[..., 1]
    gx = x[:, None] + corner[..., 0]
    gz = z[:, None] + corner[..., 2]
    gid = (gy * (W + 1) + gx) * (D + 1) + gz  # (F, 3) grid vertex ids, (y, x, z) order
    nverts = (H + 1) * (W + 1) * (D + 1)
    used = torch.zeros(N * nverts, dtype=torch.bool, device=dev)
    used[(gid + (n * nverts)[:, None]).reshape(-1)] = True
    used = used.reshape(N, nverts)
    new_id = used.cumsum(1) - 1  # (N, nverts) compact ids
    faces_all = new_id[n[:, None], gid]  # (F, 3)

    gyy, gxx, gzz = torch.meshgrid(
        torch.arange(H + 1, device=dev, dtype=torch.float32),
        torch.arange(W + 1, device=dev, dtype=torch.float32),
        torch.arange(D + 1, device=dev, dtype=torch.float32),
        indexing="ij",
    )
    if align == "center":
        gxx, gyy, gzz = gxx - 0.5, gyy - 0.5, gzz - 0.5
    margin = 0.0 if align == "corner" else 1.0
    grid = torch.stack(
        [gxx * 2.0 / (W - margin) - 1.0, gyy * 2.0 / (H - margin) - 1.0,
         gzz * 2.0 / (D - margin) - 1.0],
        dim=-1,
    ).reshape(-1, 3)  # fmt: skip
    counts = torch.bincount(n, minlength=N).tolist()
    faces_list = list(faces_all.split(counts, 0))
    verts_list = [grid[used[i]] for i in range(N)]
    textures = None
    if feats is not None and align == "center":
        from inverse3d.renderer.mesh.textures import TexturesAtlas

        f = feats.to(dev).permute(0, 3, 4, 2, 1)  # (N, H, W, D, K)
        colours = f[n, y, x, z]  # (F, K)
        atlas = colours[:, None, None, :]  # (F, 1, 1, K)
        textures = TexturesAtlas(atlas=list(atlas.split(counts, 0)))
    return Meshes(verts=verts_list, faces=faces_list, textures=textures)
