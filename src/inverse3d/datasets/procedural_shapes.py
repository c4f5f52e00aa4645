"""Procedural single-image shape samples for training a mesh head (`models.mesh_rcnn`).

Each sample is one closed shape (box, cylinder, torus or the built-in mug) with a random
anisotropic scale and taper, a random rotation, a random colour and a random point light,
rendered by our renderer from a camera at the origin (view frame = world frame, PyTorch3D axes)
with the object centred at depth `frustum.depth`. Its farthest vertex is at radius 0.55 .. 0.75
from the object centre, so the object stays inside the frustum grid of `models.mesh_rcnn.Frustum`
(focal 3, depth 3 +- 1 by default). Samples are a pure function of (seed, index).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from inverse3d._validation import check_positive_int
from inverse3d.models.mesh_rcnn import Frustum, grid_to_view
from inverse3d.ops.fast_winding import fast_winding_number
from inverse3d.ops.sample_points_from_meshes import sample_points_from_meshes
from inverse3d.structures.meshes import Meshes
from inverse3d.transforms.rotation_conversions import axis_angle_to_matrix
from inverse3d.utils.torus import torus

__all__ = ["SHAPE_KINDS", "ShapeBatch", "make_shape_samples", "shape_mesh"]

SHAPE_KINDS = ("box", "cylinder", "torus", "mug")


def _box() -> tuple[torch.Tensor, torch.Tensor]:
    v = torch.tensor(
        [[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)]
    )  # index = 4 ix + 2 iy + iz
    f = torch.tensor(
        [[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5],  # x = -1, x = +1
         [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6],  # y = -1, y = +1
         [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]]  # z = -1, z = +1
    )  # fmt: skip
    return v, f


def _cylinder(n: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.arange(n) * (2 * math.pi / n)
    ring = torch.stack([torch.cos(a), torch.zeros(n), torch.sin(a)], 1)
    bottom = ring + torch.tensor([0.0, -1.0, 0.0])
    top = ring + torch.tensor([0.0, 1.0, 0.0])
    v = torch.cat([bottom, top, torch.tensor([[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]])])
    i = torch.arange(n)
    j = (i + 1) % n
    side = torch.cat([torch.stack([i, n + i, j], 1), torch.stack([j, n + i, n + j], 1)])
    caps = torch.cat(
        [torch.stack([torch.full_like(i, 2 * n), i, j], 1),
         torch.stack([torch.full_like(i, 2 * n + 1), n + j, n + i], 1)]
    )  # fmt: skip
    return v, torch.cat([side, caps])


def shape_mesh(kind: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The canonical closed, outward-oriented mesh of a shape kind (before any randomness).

    Args:
        kind: one of SHAPE_KINDS.
        seed: the mug's colour seed (its geometry does not depend on it).

    Returns:
        verts (V, 3) float32, faces (F, 3) int64.
    """
    if kind == "box":
        return _box()
    if kind == "cylinder":
        return _cylinder()
    if kind == "torus":
        t = torus(0.35, 0.8, 12, 24)
        return t.verts_packed(), t.faces_packed()
    if kind == "mug":
        from inverse3d.datasets.synthetic import mug_mesh

        m = mug_mesh(seed)
        return m.verts_packed(), m.faces_packed()
    raise ValueError(f"kind must be one of {SHAPE_KINDS}; got {kind!r}")


@dataclass
class ShapeBatch:
    """A batch of N rendered samples (all in the view frame).

    images: (N, 3, S, S) float RGB in [0, 1]; masks: (N, S, S) float coverage.
    meshes: Meshes, the N ground-truth meshes.
    voxels: (N, G, G, G) float {0, 1} occupancy of the frustum grid's voxel centres (d, h, w).
    points, normals: (N, P, 3) float surface samples of the ground truth and their normals.
    kinds: the N shape kinds.
    """

    images: torch.Tensor
    masks: torch.Tensor
    meshes: Meshes
    voxels: torch.Tensor
    points: torch.Tensor
    normals: torch.Tensor
    kinds: list[str]

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, idx: list[int]) -> ShapeBatch:
        """The samples `idx` as a new batch."""
        return ShapeBatch(
            self.images[idx],
            self.masks[idx],
            self.meshes[idx],
            self.voxels[idx],
            self.points[idx],
            self.normals[idx],
            [self.kinds[i] for i in idx],
        )


def _voxel_centres(grid: int, frustum: Frustum) -> torch.Tensor:
    c = (torch.arange(grid, dtype=torch.float32) + 0.5) * (2.0 / grid) - 1.0
    gz, gy, gx = torch.meshgrid(c, c, c, indexing="ij")  # (d, h, w)
    return grid_to_view(torch.stack([gx, gy, gz], -1).reshape(-1, 3), frustum)


def _occupancy(points: torch.Tensor, verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(P,) float 1 where a point is inside the closed mesh (winding number > 0.5), else 0;
    only points inside the mesh's bounding box are tested."""
    occ = torch.zeros(points.shape[0])
    near = ((points >= verts.min(0).values) & (points <= verts.max(0).values)).all(1)
    if near.any():
        occ[near] = (fast_winding_number(points[near], verts, faces) > 0.5).float()
    return occ


def make_shape_samples(
    n: int,
    seed: int = 0,
    image_size: int = 64,
    grid: int = 16,
    n_points: int = 2000,
    kinds: tuple[str, ...] = SHAPE_KINDS,
    frustum: Frustum | None = None,
) -> ShapeBatch:
    """Render `n` random shapes (module docstring); sample i is a pure function of (seed, i).

    Args:
        n: number of samples; seed: dataset seed; image_size: S (a multiple of 8);
        grid: G voxels per side of the ground-truth grid; n_points: P surface samples;
        kinds: the shape kinds to draw from (uniformly); frustum: the grid's frustum.

    Returns:
        ShapeBatch on the CPU.
    """
    from inverse3d.renderer.cameras import PerspectiveCameras
    from inverse3d.renderer.lighting import PointLights
    from inverse3d.renderer.mesh.render_views import render_mesh_views
    from inverse3d.renderer.mesh.textures import TexturesVertex

    n = check_positive_int(n, "n")
    size = check_positive_int(image_size, "image_size")
    if size % 8:
        raise ValueError(f"image_size must be a multiple of 8; got {size}")
    grid = check_positive_int(grid, "grid")
    n_points = check_positive_int(n_points, "n_points")
    if not kinds or any(k not in SHAPE_KINDS for k in kinds):
        raise ValueError(f"kinds must be a non-empty tuple of {SHAPE_KINDS}; got {kinds!r}")
    fr = frustum or Frustum()
    centres = _voxel_centres(grid, fr)
    cams = PerspectiveCameras(focal_length=fr.focal)  # R = I, T = 0: world = view frame
    images, masks, verts_l, faces_l, voxels, chosen = [], [], [], [], [], []
    for i in range(n):
        gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + i)
        u = lambda *s, g=gen: torch.rand(*s, generator=g)  # noqa: E731
        kind = kinds[int(torch.randint(len(kinds), (1,), generator=gen))]
        v, f = shape_mesh(kind, seed=i)
        v = v * (0.6 + 0.4 * u(3))  # anisotropic scale
        taper = 1.0 + (u(1) - 0.5) * 0.6 * v[:, 1]  # x, z scaled along y
        v = v * torch.stack([taper, torch.ones_like(taper), taper], 1)
        v = v - 0.5 * (v.max(0).values + v.min(0).values)
        v = v * ((0.55 + 0.2 * u(1)) / v.norm(dim=1).max())
        axis = torch.nn.functional.normalize(torch.randn(3, generator=gen), dim=0)
        rot = axis_angle_to_matrix(axis * (u(1) * math.pi))
        v = v @ rot.T + torch.tensor([0.0, 0.0, fr.depth])
        colour = 0.2 + 0.8 * u(3)
        mesh = Meshes([v], [f], textures=TexturesVertex([colour.expand(v.shape[0], 3)]))
        light = torch.cat([(u(2) - 0.5) * 4.0, torch.zeros(1)])[None]
        rgba = render_mesh_views(mesh, cams, size, lights=PointLights(location=light))[0]
        images.append(rgba[..., :3].permute(2, 0, 1))
        masks.append(rgba[..., 3])
        voxels.append(_occupancy(centres, v, f).reshape(grid, grid, grid))
        verts_l.append(v)
        faces_l.append(f)
        chosen.append(kind)
    meshes = Meshes(verts_l, faces_l)
    gen_state = torch.random.fork_rng()
    with gen_state:
        torch.manual_seed(int(seed))
        pts, nrm = sample_points_from_meshes(meshes, n_points, return_normals=True)
    return ShapeBatch(
        torch.stack(images), torch.stack(masks), meshes, torch.stack(voxels), pts, nrm, chosen
    )
