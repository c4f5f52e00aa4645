"""Training images for GIRAFFE (`models.giraffe`): one procedural object on a plain background.

Each image shows one box or cylinder (`procedural_shapes.shape_mesh`) fitted into the canonical
box [-1, 1]^3, scaled by s, rotated about y and placed at (0, 0, depth) + t in the view frame
(camera at the origin looking along +z, PyTorch3D axes, NDC focal length `focal`), with a random
colour, shaded by a point light at the camera, on a random plain background colour. The pose is
drawn from `models.giraffe.PoseRanges`, the same ranges as the generator's. Image i is a pure
function of (seed, i).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from inverse3d._validation import check_positive_int
from inverse3d.datasets.procedural_shapes import shape_mesh
from inverse3d.models.giraffe import ObjectPoses, PoseRanges, rotation_y
from inverse3d.structures.meshes import Meshes

__all__ = ["GIRAFFE_KINDS", "GiraffeImages", "make_giraffe_images"]

GIRAFFE_KINDS = ("box", "cylinder")


@dataclass
class GiraffeImages:
    """N training images (N, 3, S, S) float in [0, 1], their masks (N, S, S), the object poses
    (K = 1) and shape kinds."""

    images: torch.Tensor
    masks: torch.Tensor
    poses: ObjectPoses
    kinds: list[str]

    def __len__(self) -> int:
        return self.images.shape[0]


def make_giraffe_images(
    n: int,
    seed: int = 0,
    image_size: int = 32,
    kinds: tuple[str, ...] = GIRAFFE_KINDS,
    pose_ranges: PoseRanges | None = None,
    focal: float = 2.0,
    depth: float = 4.0,
) -> GiraffeImages:
    """Render n images (module docstring).

    Args:
        n: number of images; seed: dataset seed; image_size: S (>= 8); kinds: subset of
        GIRAFFE_KINDS; pose_ranges: pose distribution (default PoseRanges()); focal, depth:
        the camera and the scene centre as the generator's.
    """
    from inverse3d.renderer.cameras import PerspectiveCameras
    from inverse3d.renderer.lighting import PointLights
    from inverse3d.renderer.mesh.render_views import render_mesh_views
    from inverse3d.renderer.mesh.textures import TexturesVertex

    n = check_positive_int(n, "n")
    size = check_positive_int(image_size, "image_size")
    if size < 8:
        raise ValueError(f"image_size must be >= 8; got {size}")
    if not kinds or any(k not in GIRAFFE_KINDS for k in kinds):
        raise ValueError(f"kinds must be a non-empty tuple of {GIRAFFE_KINDS}; got {kinds!r}")
    if focal <= 0 or depth <= 0:
        raise ValueError(f"focal and depth must be positive; got {focal} and {depth}")
    ranges = pose_ranges or PoseRanges()
    cams = PerspectiveCameras(focal_length=float(focal))
    light = PointLights(location=[[0.0, 1.0, 0.0]])
    images, masks, scales, trans, rots, chosen = [], [], [], [], [], []
    for i in range(n):
        gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + i)
        kind = kinds[int(torch.randint(len(kinds), (1,), generator=gen))]
        pose = ObjectPoses.sample(1, 1, ranges, gen)
        v, f = shape_mesh(kind)
        v = v * (0.5 + 0.5 * torch.rand(3, generator=gen))  # aspect, inside [-1, 1]^3
        s, t, th = pose.scale[0, 0], pose.translation[0, 0], pose.rotation[0, 0]
        v = (v * s) @ rotation_y(th).T + t + torch.tensor([0.0, 0.0, float(depth)])
        colour = 0.15 + 0.85 * torch.rand(3, generator=gen)
        bg = tuple(float(c) for c in torch.rand(3, generator=gen))
        mesh = Meshes([v], [f], textures=TexturesVertex([colour.expand(v.shape[0], 3)]))
        rgba = render_mesh_views(mesh, cams, size, lights=light, background=bg)[0]
        images.append(rgba[..., :3].permute(2, 0, 1))
        masks.append(rgba[..., 3])
        scales.append(s)
        trans.append(t)
        rots.append(th)
        chosen.append(kind)
    poses = ObjectPoses(
        torch.stack(scales)[:, None], torch.stack(trans)[:, None], torch.stack(rots)[:, None]
    )
    return GiraffeImages(torch.stack(images).clamp(0, 1), torch.stack(masks), poses, chosen)
