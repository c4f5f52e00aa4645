"""Pairs of views of procedural indoor-like scenes, for novel view synthesis (`models.synsin`).

A scene is a closed room (floor, ceiling, four walls) seen from inside, each wall a checkerboard
of two random colours with per-cell brightness noise, and 2-3 boxes of random size and colour
(shaded per corner) standing on the floor in front of the camera. A pair is two cameras near the
room centre: the source looks roughly along +z (yaw jitter), the target is turned by a yaw in
[-max_angle, max_angle] degrees and moved by up to `max_shift` sideways/forward. Both are
rendered with our mesh renderer (flat vertex colours, anti-aliased) with the source depth.

Cameras are pinhole with focal `focal` (NDC units), as `PerspectiveCameras(focal_length=focal)`
on square images; the relative camera (R, T) maps source view points to target view points,
X_t = X_s R + T (row vectors). Pair i is a pure function of (seed, i).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from inverse3d._validation import check_positive_int
from inverse3d.datasets.procedural_shapes import shape_mesh
from inverse3d.structures.meshes import Meshes

__all__ = ["ViewPairs", "indoor_scene_mesh", "make_view_pairs", "relative_camera", "yaw_matrix"]

# Room extent: x in [-ROOM_X, ROOM_X], y in [FLOOR_Y, CEIL_Y], z in [-BACK_Z, FRONT_Z].
ROOM_X, FLOOR_Y, CEIL_Y, BACK_Z, FRONT_Z = 2.0, -1.0, 1.5, 1.5, 4.0


def yaw_matrix(angle: torch.Tensor) -> torch.Tensor:
    """Rotation about +y by `angle` radians: (...) -> (..., 3, 3)."""
    c, s = torch.cos(angle), torch.sin(angle)
    z, o = torch.zeros_like(angle), torch.ones_like(angle)
    return torch.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(*angle.shape, 3, 3)


def relative_camera(
    R_src: torch.Tensor, T_src: torch.Tensor, R_tgt: torch.Tensor, T_tgt: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, T) with X_tgt_view = X_src_view R + T for world->view cameras X_v = X_w R_* + T_*.

    R_*: (N, 3, 3), T_*: (N, 3). Returns R (N, 3, 3), T (N, 3).
    """
    for name, t, shape in (("R_src", R_src, 3), ("R_tgt", R_tgt, 3)):
        if not isinstance(t, torch.Tensor) or t.dim() != 3 or t.shape[1:] != (shape, shape):
            raise ValueError(f"{name} must be (N, 3, 3); got {getattr(t, 'shape', None)}")
    R = R_src.transpose(1, 2) @ R_tgt
    T = T_tgt - (T_src[:, None, :] @ R)[:, 0]
    return R, T


def _wall(axis: int, value: float, lo: tuple, hi: tuple, n: int, inward: float, cols, gen):
    """A checkerboard n x n quad grid on the plane coord[axis] = value, facing `inward`."""
    other = [i for i in range(3) if i != axis]
    verts, faces, colours = [], [], []
    for i in range(n):
        for j in range(n):
            a0 = lo[0] + (hi[0] - lo[0]) * i / n
            a1 = lo[0] + (hi[0] - lo[0]) * (i + 1) / n
            b0 = lo[1] + (hi[1] - lo[1]) * j / n
            b1 = lo[1] + (hi[1] - lo[1]) * (j + 1) / n
            q = torch.zeros(4, 3)
            q[:, axis] = value
            q[:, other[0]] = torch.tensor([a0, a1, a1, a0])
            q[:, other[1]] = torch.tensor([b0, b0, b1, b1])
            base = 4 * len(verts)
            f = torch.tensor([[0, 1, 2], [0, 2, 3]]) + base
            normal = torch.linalg.cross(q[1] - q[0], q[2] - q[0])
            if float(normal[axis]) * inward < 0:
                f = f[:, [0, 2, 1]]
            verts.append(q)
            faces.append(f)
            shade = 0.8 + 0.2 * torch.rand(1, generator=gen)
            colours.append((cols[(i + j) % 2] * shade).expand(4, 3))
    return torch.cat(verts), torch.cat(faces), torch.cat(colours)


def indoor_scene_mesh(seed: int, cells: int = 6) -> Meshes:
    """The room and boxes of scene `seed` (module docstring) as one mesh with TexturesVertex."""
    from inverse3d.renderer.mesh.textures import TexturesVertex

    gen = torch.Generator().manual_seed(int(seed) * 7919 + 17)
    u = lambda *s: torch.rand(*s, generator=gen)  # noqa: E731
    X, Y0, Y1, Z0, Z1 = ROOM_X, FLOOR_Y, CEIL_Y, -BACK_Z, FRONT_Z
    walls = [  # (axis, value, (lo_a, lo_b), (hi_a, hi_b), inward sign)
        (1, Y0, (-X, Z0), (X, Z1), 1.0),  # floor, coords (x, z)
        (1, Y1, (-X, Z0), (X, Z1), -1.0),  # ceiling
        (0, -X, (Y0, Z0), (Y1, Z1), 1.0),  # wall x = -X, coords (y, z)
        (0, X, (Y0, Z0), (Y1, Z1), -1.0),
        (2, Z1, (-X, Y0), (X, Y1), -1.0),  # front wall, coords (x, y)
        (2, Z0, (-X, Y0), (X, Y1), 1.0),
    ]
    vs, fs, cs, nv = [], [], [], 0
    for axis, value, lo, hi, inward in walls:
        c0 = 0.15 + 0.8 * u(3)
        cols = (c0, (c0 * (0.4 + 0.4 * u(1))).clamp(0, 1))
        v, f, c = _wall(axis, value, lo, hi, cells, inward, cols, gen)
        vs.append(v)
        fs.append(f + nv)
        cs.append(c)
        nv += v.shape[0]
    bv, bf = shape_mesh("box")  # [-1, 1]^3, 8 corners
    n_boxes = 2 + int(torch.randint(2, (1,), generator=gen))
    for _ in range(n_boxes):
        half = torch.tensor([0.2, 0.2, 0.2]) + torch.tensor([0.35, 0.5, 0.35]) * u(3)
        centre = torch.stack([(u(1)[0] - 0.5) * 2.4, FLOOR_Y + half[1], 1.8 + 1.6 * u(1)[0]])
        v = bv * half + centre
        colour = 0.1 + 0.85 * u(3)
        corner_shade = 0.55 + 0.45 * (bv[:, 1:2] + 1) / 2 * (0.8 + 0.2 * (bv[:, :1] + 1) / 2)
        vs.append(v)
        fs.append(bf + nv)
        cs.append((colour * corner_shade).clamp(0, 1))
        nv += v.shape[0]
    return Meshes(
        [torch.cat(vs)], [torch.cat(fs)], textures=TexturesVertex([torch.cat(cs).float()])
    )


@dataclass
class ViewPairs:
    """N view pairs (all tensors on the CPU, float32).

    source, target: (N, 3, S, S) RGB in [0, 1]; depth: (N, 1, S, S) source view-frame z;
    R: (N, 3, 3), T: (N, 3) relative camera (X_t = X_s R + T); angle: (N,) target yaw in degrees
    relative to the source; focal: focal length (NDC).
    """

    source: torch.Tensor
    target: torch.Tensor
    depth: torch.Tensor
    R: torch.Tensor
    T: torch.Tensor
    angle: torch.Tensor
    focal: float

    def __len__(self) -> int:
        return self.source.shape[0]

    def subset(self, idx: list[int]) -> ViewPairs:
        """The pairs `idx` as a new ViewPairs."""
        return ViewPairs(
            self.source[idx],
            self.target[idx],
            self.depth[idx],
            self.R[idx],
            self.T[idx],
            self.angle[idx],
            self.focal,
        )


def make_view_pairs(
    n: int,
    seed: int = 0,
    image_size: int = 32,
    max_angle: float = 15.0,
    max_shift: float = 0.2,
    focal: float = 1.0,
) -> ViewPairs:
    """Render `n` view pairs (module docstring); pair i is a pure function of (seed, i).

    Args:
        n: number of pairs; seed: dataset seed; image_size: S (a multiple of 4);
        max_angle: largest |yaw| of the target relative to the source, degrees;
        max_shift: largest sideways / forward camera move; focal: NDC focal length.

    Returns:
        ViewPairs.
    """
    from inverse3d.renderer.cameras import PerspectiveCameras
    from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
    from inverse3d.renderer.mesh.render_views import render_mesh_views

    n = check_positive_int(n, "n")
    size = check_positive_int(image_size, "image_size")
    if size % 4:
        raise ValueError(f"image_size must be a multiple of 4; got {size}")
    if not 0.0 <= max_angle <= 90.0:
        raise ValueError(f"max_angle must be in [0, 90] degrees; got {max_angle}")
    if not 0.0 <= max_shift <= 0.5:
        raise ValueError(f"max_shift must be in [0, 0.5]; got {max_shift}")
    if not focal > 0:
        raise ValueError(f"focal must be > 0; got {focal}")
    src, tgt, dep, Rs, Ts, angles = [], [], [], [], [], []
    raster = MeshRasterizer(raster_settings=RasterizationSettings(image_size=size))
    for i in range(n):
        gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + i)
        u = lambda *s, g=gen: torch.rand(*s, generator=g)  # noqa: E731
        mesh = indoor_scene_mesh(int(seed) * 1_000_003 + i)
        yaw_s = (u(1)[0] - 0.5) * math.radians(20.0)
        delta = (2 * u(1)[0] - 1) * math.radians(max_angle)
        c_s = torch.tensor([(u(1)[0] - 0.5) * 0.4, 0.0, (u(1)[0] - 0.5) * 0.4])
        c_t = c_s + torch.tensor(
            [(2 * u(1)[0] - 1) * max_shift, 0.0, (2 * u(1)[0] - 1) * max_shift]
        )
        Rw = yaw_matrix(torch.stack([yaw_s, yaw_s + delta]))  # camera->world axes (columns)
        C = torch.stack([c_s, c_t])
        T = -(C[:, None, :] @ Rw)[:, 0]  # X_v = (X_w - C) Rw
        cams = PerspectiveCameras(focal_length=focal, R=Rw, T=T)
        rgba = render_mesh_views(mesh, cams, size)
        with torch.no_grad():
            z = raster(mesh, cameras=cams[[0]]).zbuf[0, ..., 0]
        src.append(rgba[0, ..., :3].permute(2, 0, 1))
        tgt.append(rgba[1, ..., :3].permute(2, 0, 1))
        dep.append(z[None])
        R_rel, T_rel = relative_camera(Rw[:1], T[:1], Rw[1:], T[1:])
        Rs.append(R_rel[0])
        Ts.append(T_rel[0])
        angles.append(math.degrees(float(delta)))
    return ViewPairs(
        torch.stack(src),
        torch.stack(tgt),
        torch.stack(dep),
        torch.stack(Rs),
        torch.stack(Ts),
        torch.tensor(angles),
        float(focal),
    )
