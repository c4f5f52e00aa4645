"""A visual hull's occupancy grid turned into a closed triangle mesh (blur + marching cubes).

This is how the "mesh" and "silhouette" methods mesh the carver's output (`ops.visual_hull`):
the boolean grid is blurred (a Gaussian of `smooth_sigma` cells, so that the staircase of the
voxels does not become the surface) and meshed at the 0.5 level, faces oriented outwards.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from inverse3d._validation import check_positive_float, check_tensor
from inverse3d.ops.marching_cubes import marching_cubes

__all__ = ["blur_volume", "occupancy_mesh"]


def blur_volume(vol: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a volume, edges replicated.

    vol: (D, H, W) float.
    sigma: standard deviation in cells (>= 0; 0 returns `vol`); the kernel spans 3 sigma.
    Returns: (D, H, W) float.
    """
    vol = check_tensor(vol, "vol", (None, None, None), "float")
    sigma = check_positive_float(sigma, "sigma", allow_zero=True)
    if sigma == 0:
        return vol
    r = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-r, r + 1, dtype=vol.dtype, device=vol.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = vol[None, None]
    for dim in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + dim] = k.numel()
        pad = [0, 0, 0, 0, 0, 0]
        pad[2 * (2 - dim)] = pad[2 * (2 - dim) + 1] = r
        x = F.conv3d(F.pad(x, pad, mode="replicate"), k.reshape(shape))
    return x[0, 0]


def occupancy_mesh(
    occupancy: torch.Tensor, bound: float, smooth_sigma: float = 0.8
) -> tuple[torch.Tensor, torch.Tensor]:
    """Surface of an occupancy grid over the cube [-bound, bound]^3.

    occupancy: (R, R, R) bool or float, indexed (z, y, x) with cell centres as in
        `visual_hull_grid_points([[-bound] * 3, [bound] * 3], R)` (the layout `visual_hull`
        returns).
    bound: > 0, half side of the cube.
    smooth_sigma: Gaussian blur (cells, >= 0) applied before marching cubes at 0.5. The grid is
        padded by one empty cell so that the surface is closed at the cube's faces.
    Returns: verts (V, 3) float32 in world units and faces (F, 3) int64 oriented outwards (V and
    F are 0 for an empty grid).
    """
    occ = check_tensor(occupancy, "occupancy", ("R", "R", "R"), ("bool", "float"), dims={})
    bound = check_positive_float(bound, "bound")
    r = occ.shape[0]
    vol = F.pad(blur_volume(occ.float(), smooth_sigma), (1, 1, 1, 1, 1, 1))
    verts, faces = marching_cubes(vol[None], isolevel=0.5, return_local_coords=False)
    v, f = verts[0].detach(), faces[0].long()
    # Index coordinates of the padded grid -> world: cell centre c maps to (c + 0.5) / r.
    v = ((v - 1.0 + 0.5) / r * 2.0 - 1.0) * bound
    # marching_cubes orients normals towards increasing values (the inside here): flip them.
    return v.float(), f[:, [0, 2, 1]]
