"""Training images for GIRAFFE (`models.giraffe`): K procedural objects on a plain background.

Each image shows K (default 1) boxes or cylinders (`procedural_shapes.shape_mesh`), each fitted
into the canonical box [-1, 1]^3 with a random aspect, scaled by s, rotated about y and placed
at (0, 0, depth) + t in the view frame (camera at the origin looking along +z, PyTorch3D axes,
NDC focal length `focal`), with a random colour, shaded by a point light at the camera, on a
random plain background colour. The poses are drawn independently from
`models.giraffe.PoseRanges`, the same ranges as the generator's. The K objects are joined into
one mesh, so the rasterizer's depth test decides per pixel which one is seen (objects may
interpenetrate, as the generator's may). Image i is a pure function of (seed, i); with K = 1 the
images are those of earlier versions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from inverse3d._validation import check_positive_int
from inverse3d.datasets.procedural_shapes import shape_mesh
from inverse3d.models.giraffe import ObjectPoses, PoseRanges, rotation_y
from inverse3d.structures.meshes import Meshes

__all__ = ["GIRAFFE_KINDS", "GiraffeImages", "GiraffeScene", "giraffe_scene", "make_giraffe_images"]

GIRAFFE_KINDS = ("box", "cylinder")


@dataclass
class GiraffeImages:
    """N training images (N, 3, S, S) float in [0, 1], their object masks (N, S, S) (the union
    of the K objects), the object poses (N, K), the objects' base colours (N, K, 3) and shape
    kinds (N tuples of K names)."""

    images: torch.Tensor
    masks: torch.Tensor
    poses: ObjectPoses
    kinds: list[tuple[str, ...]]
    colours: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]


@dataclass
class GiraffeScene:
    """One training scene: K objects as world-space meshes (verts (V_k, 3), faces (F_k, 3)),
    base colours (K, 3), kinds, poses (scale (K,), translation (K, 3), rotation (K,)) and the
    background colour."""

    verts: list[torch.Tensor]
    faces: list[torch.Tensor]
    colours: torch.Tensor
    kinds: tuple[str, ...]
    scale: torch.Tensor
    translation: torch.Tensor
    rotation: torch.Tensor
    background: tuple[float, float, float]

    def mesh(self, objects: list[int] | None = None) -> Meshes:
        """The chosen objects (default all) joined into one mesh (batch 1), vertex colours."""
        from inverse3d.renderer.mesh.textures import TexturesVertex

        ks = list(range(len(self.verts))) if objects is None else list(objects)
        if not ks or any(not 0 <= k < len(self.verts) for k in ks):
            raise ValueError(f"objects must be indices in 0..{len(self.verts) - 1}; got {objects}")
        offsets = [0]
        for k in ks:
            offsets.append(offsets[-1] + self.verts[k].shape[0])
        verts = torch.cat([self.verts[k] for k in ks])
        faces = torch.cat([self.faces[k] + o for k, o in zip(ks, offsets)])
        cols = torch.cat([self.colours[k].expand(self.verts[k].shape[0], 3) for k in ks])
        return Meshes([verts], [faces], textures=TexturesVertex([cols]))


def giraffe_scene(
    seed: int,
    index: int,
    kinds: tuple[str, ...] = GIRAFFE_KINDS,
    pose_ranges: PoseRanges | None = None,
    depth: float = 4.0,
    n_objects: int = 1,
) -> GiraffeScene:
    """Scene `index` of the dataset `seed` (module docstring), a pure function of its arguments.

    Drawn per object, in order: the kind, the pose (`ObjectPoses.sample`), the aspect (per-axis
    factors in [0.5, 1] of the canonical shape), the colour; then the background colour.
    """
    if not kinds or any(k not in GIRAFFE_KINDS for k in kinds):
        raise ValueError(f"kinds must be a non-empty tuple of {GIRAFFE_KINDS}; got {kinds!r}")
    k_obj = check_positive_int(n_objects, "n_objects")
    if k_obj > 8:
        raise ValueError(f"n_objects must be in 1..8; got {k_obj}")
    if depth <= 0:
        raise ValueError(f"depth must be positive; got {depth}")
    ranges = pose_ranges or PoseRanges()
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(index))
    centre0 = torch.tensor([0.0, 0.0, float(depth)])
    verts, faces, cols, names, ps, ts, rs = [], [], [], [], [], [], []
    for _ in range(k_obj):
        kind = kinds[int(torch.randint(len(kinds), (1,), generator=gen))]
        pose = ObjectPoses.sample(1, 1, ranges, gen)
        v, f = shape_mesh(kind)
        v = v * (0.5 + 0.5 * torch.rand(3, generator=gen))  # aspect, inside [-1, 1]^3
        s, t, th = pose.scale[0, 0], pose.translation[0, 0], pose.rotation[0, 0]
        verts.append((v * s) @ rotation_y(th).T + t + centre0)
        faces.append(f)
        cols.append(0.15 + 0.85 * torch.rand(3, generator=gen))
        names.append(kind)
        ps.append(s)
        ts.append(t)
        rs.append(th)
    bg = (float(c) for c in torch.rand(3, generator=gen))
    return GiraffeScene(
        verts, faces, torch.stack(cols), tuple(names), torch.stack(ps), torch.stack(ts),
        torch.stack(rs), tuple(bg),  # type: ignore[arg-type]
    )  # fmt: skip


def make_giraffe_images(
    n: int,
    seed: int = 0,
    image_size: int = 32,
    kinds: tuple[str, ...] = GIRAFFE_KINDS,
    pose_ranges: PoseRanges | None = None,
    focal: float = 2.0,
    depth: float = 4.0,
    n_objects: int = 1,
) -> GiraffeImages:
    """Render n images (module docstring): image i is `giraffe_scene(seed, i, ...)`.

    Args:
        n: number of images; seed: dataset seed; image_size: S (>= 8); kinds: subset of
        GIRAFFE_KINDS; pose_ranges: pose distribution (default PoseRanges()); focal, depth:
        the camera and the scene centre as the generator's; n_objects: K objects per image
        (1 to 8).
    """
    from inverse3d.renderer.cameras import PerspectiveCameras
    from inverse3d.renderer.lighting import PointLights
    from inverse3d.renderer.mesh.render_views import render_mesh_views

    n = check_positive_int(n, "n")
    size = check_positive_int(image_size, "image_size")
    if size < 8:
        raise ValueError(f"image_size must be >= 8; got {size}")
    if focal <= 0 or depth <= 0:
        raise ValueError(f"focal and depth must be positive; got {focal} and {depth}")
    cams = PerspectiveCameras(focal_length=float(focal))
    light = PointLights(location=[[0.0, 1.0, 0.0]])
    scenes = [giraffe_scene(seed, i, kinds, pose_ranges, depth, n_objects) for i in range(n)]
    images, masks = [], []
    for sc in scenes:
        rgba = render_mesh_views(sc.mesh(), cams, size, lights=light, background=sc.background)[0]
        images.append(rgba[..., :3].permute(2, 0, 1))
        masks.append(rgba[..., 3])
    poses = ObjectPoses(
        torch.stack([sc.scale for sc in scenes]),
        torch.stack([sc.translation for sc in scenes]),
        torch.stack([sc.rotation for sc in scenes]),
    )
    return GiraffeImages(
        torch.stack(images).clamp(0, 1),
        torch.stack(masks),
        poses,
        [sc.kinds for sc in scenes],
        torch.stack([sc.colours for sc in scenes]),
    )
