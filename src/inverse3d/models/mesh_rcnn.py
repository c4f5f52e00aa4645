"""A Mesh R-CNN mesh head (Gkioxari et al. 2019) for single-image mesh prediction.

One image in, one mesh out, in the camera's view frame (PyTorch3D conventions: camera at the
origin looking along +z, +x left, +y up). The object is assumed to lie in a known frustum: NDC
x, y in [-1, 1] (focal length `focal`, NDC units) and depth z in [depth - half_depth,
depth + half_depth].

    image ─► Backbone ─► feature maps at 1/4 and 1/8 of the image size
                 └─► VoxelHead ─► (G, G, G) occupancy logits over the frustum grid
                          └─► cubify (threshold) ─► cube mesh, mapped into the view frame
                                   └─► RefineStage x 2: vert_align of the feature maps at the
                                        projected vertices + GraphConv layers ─► tanh-bounded
                                        vertex offsets

Frustum grid coordinates g = (gx, gy, gz) in [-1, 1]^3: gx, gy are grid_sample coordinates of
the image (gx right, gy down), gz = (z - depth) / half_depth. `grid_to_view` / `view_to_grid`
convert. Voxel (d, h, w) of a (G, G, G) grid spans gz in [2d/G - 1, 2(d+1)/G - 1], and likewise
gy over h, gx over w (cubify's align="corner").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from inverse3d._validation import check_positive_float, check_positive_int, check_tensor
from inverse3d.ops.cubify import cubify
from inverse3d.ops.graph_conv import GraphConv
from inverse3d.ops.vert_align import vert_align
from inverse3d.structures.meshes import Meshes
from inverse3d.utils.ico_sphere import ico_sphere

__all__ = [
    "Frustum",
    "MeshRCNNHead",
    "MeshRCNNOutput",
    "SmallBackbone",
    "VoxelHead",
    "RefineStage",
    "grid_to_view",
    "view_to_grid",
    "resnet_backbone",
]


@dataclass(frozen=True)
class Frustum:
    """The camera frustum the voxel grid covers.

    focal: NDC focal length (x_ndc = focal * x / z); depth: centre depth; half_depth: the grid
    spans z in [depth - half_depth, depth + half_depth] (0 < half_depth < depth).
    """

    focal: float = 3.0
    depth: float = 3.0
    half_depth: float = 1.0

    def __post_init__(self) -> None:
        check_positive_float(self.focal, "focal")
        check_positive_float(self.depth, "depth")
        check_positive_float(self.half_depth, "half_depth")
        if self.half_depth >= self.depth:
            raise ValueError(
                f"half_depth must be < depth; got half_depth={self.half_depth}, depth={self.depth}"
            )


def _check_points(x: torch.Tensor, name: str) -> None:
    if not torch.is_tensor(x) or not x.is_floating_point() or x.dim() < 1 or x.shape[-1] != 3:
        got = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"{name} must be a (..., 3) float tensor; got {got}")


def grid_to_view(g: torch.Tensor, frustum: Frustum) -> torch.Tensor:
    """Frustum grid coordinates to view-frame points.

    Args:
        g: (..., 3) float (gx, gy, gz), see the module docstring.
        frustum: the grid's frustum.

    Returns:
        (..., 3) float view-frame points: z = depth + half_depth gz, x = -gx z / focal,
        y = -gy z / focal (image right is -x, image down is -y).
    """
    _check_points(g, "g")
    z = frustum.depth + frustum.half_depth * g[..., 2]
    x = -g[..., 0] * z / frustum.focal
    y = -g[..., 1] * z / frustum.focal
    return torch.stack([x, y, z], dim=-1)


def view_to_grid(p: torch.Tensor, frustum: Frustum) -> torch.Tensor:
    """Inverse of `grid_to_view`: p (..., 3) float view points (z > 0) -> (..., 3) grid coords."""
    _check_points(p, "p")
    z = p[..., 2].clamp(min=1e-6)
    gx = -frustum.focal * p[..., 0] / z
    gy = -frustum.focal * p[..., 1] / z
    gz = (p[..., 2] - frustum.depth) / frustum.half_depth
    return torch.stack([gx, gy, gz], dim=-1)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.GroupNorm(4, cout), nn.ReLU()
    )


class SmallBackbone(nn.Module):
    """A few conv layers: image (N, 3, H, W) -> [(N, C1, H/4, W/4), (N, C2, H/8, W/8)] float.

    H and W must be multiples of 8.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = check_positive_int(width, "width")
        self.stem = nn.Sequential(_conv(3, w // 2, 2), _conv(w // 2, w, 2), _conv(w, w))
        self.down = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))
        self.channels = (w, 2 * w)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        check_tensor(images, "images", (None, 3, None, None), "float")
        if images.shape[2] % 8 or images.shape[3] % 8:
            raise ValueError(
                f"images height and width must be multiples of 8; got {tuple(images.shape[2:])}"
            )
        f4 = self.stem(images)
        return [f4, self.down(f4)]


def resnet_backbone(weights_path: str) -> nn.Module:
    """A torchvision ResNet-18 trunk (conv1 .. layer3) with weights from `weights_path`.

    Returns a module mapping (N, 3, H, W) images to [(N, 128, H/8, W/8), (N, 256, H/16, W/16)]
    with `.channels == (128, 256)`. torchvision is optional: ImportError with the fix when it is
    not installed. The weights file is loaded with `torch.load(weights_only=True)`.
    """
    try:
        import torchvision
    except ImportError as e:
        raise ImportError(
            "the ResNet backbone needs torchvision (pip install torchvision); the default "
            "backbone (backbone='small') does not"
        ) from e
    net = torchvision.models.resnet18(weights=None)
    net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))

    class _Trunk(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1)
            self.layer2, self.layer3 = net.layer2, net.layer3
            self.channels = (128, 256)

        def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
            f8 = self.layer2(self.stem(images))
            return [f8, self.layer3(f8)]

    return _Trunk()


class VoxelHead(nn.Module):
    """Coarsest feature map (N, C, h, w) -> (N, G, G, G) occupancy logits (d, h, w order).

    The map is resized to G x G and two convolutions give G channels: channel d is the depth
    slice d of the frustum grid (as Mesh R-CNN's voxel branch).
    """

    def __init__(self, in_channels: int, grid: int = 16, hidden: int = 64) -> None:
        super().__init__()
        self.grid = check_positive_int(grid, "grid")
        self.net = nn.Sequential(
            nn.Conv2d(check_positive_int(in_channels, "in_channels"), hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, grid, 1),
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        check_tensor(feats, "feats", (None, None, None, None), "float")
        g = self.grid
        x = F.interpolate(feats, size=(g, g), mode="bilinear", align_corners=False)
        return self.net(x)  # (N, G=d, G=h, G=w)


class RefineStage(nn.Module):
    """One mesh refinement stage: vertex features from the image, GraphConvs, offsets.

    Input per vertex: vert_align features of every map at the vertex's projection, its frustum
    grid coordinates (well scaled, unlike view-frame depths near 3) and the previous stage's
    hidden features. Output offsets are
    `max_offset * tanh(...)` in view-frame units.
    """

    def __init__(
        self,
        feat_channels: int,
        hidden: int = 64,
        prev_hidden: int = 0,
        n_graph_convs: int = 2,
        max_offset: float = 0.2,
    ) -> None:
        super().__init__()
        self.hidden = check_positive_int(hidden, "hidden")
        self.max_offset = check_positive_float(max_offset, "max_offset")
        self.bottleneck = nn.Linear(check_positive_int(feat_channels, "feat_channels"), hidden)
        self.gconvs = nn.ModuleList(
            [GraphConv(hidden + 3 + prev_hidden if i == 0 else hidden + 3, hidden)
             for i in range(check_positive_int(n_graph_convs, "n_graph_convs"))]
        )  # fmt: skip
        self.offset = nn.Linear(hidden + 3, 3)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)

    def forward(
        self,
        meshes: Meshes,
        feats: list[torch.Tensor],
        frustum: Frustum,
        prev: torch.Tensor | None = None,
    ) -> tuple[Meshes, torch.Tensor]:
        """meshes: N view-frame meshes; feats: maps (N, C_i, H_i, W_i); prev: (sum V, prev_hidden)
        or None. Returns (offset meshes, (sum V, hidden) float vertex features)."""
        vp = meshes.verts_padded()  # (N, Vmax, 3)
        g = view_to_grid(vp, frustum)
        sampled = vert_align(feats, g[..., :2], align_corners=False, padding_mode="border")
        idx = meshes.verts_padded_to_packed_idx()
        x = F.relu(self.bottleneck(sampled.reshape(-1, sampled.shape[-1])[idx]))
        pos = g.reshape(-1, 3)[idx]  # grid coordinates: position features in [-1, 1]
        edges = meshes.edges_packed()
        h = torch.cat([x, pos] + ([prev] if prev is not None else []), dim=1)
        for gc in self.gconvs:
            x = F.relu(gc(h, edges))
            h = torch.cat([x, pos], dim=1)
        off = self.max_offset * torch.tanh(self.offset(h))
        return meshes.offset_verts(off), x


@dataclass
class MeshRCNNOutput:
    """voxel_logits: (N, G, G, G) float; meshes: one Meshes batch per stage (the cubified mesh
    first, then each refinement stage's), all in the view frame."""

    voxel_logits: torch.Tensor
    meshes: list[Meshes]


class MeshRCNNHead(nn.Module):
    """Backbone + voxel head + cubify + refinement stages (module docstring).

    Args:
        grid: G, voxels per side of the frustum grid.
        n_stages: refinement stages.
        hidden: channels of the voxel head and of the refinement stages.
        width: SmallBackbone width (ignored with `backbone`).
        cubify_thresh: occupancy probability from which a voxel is kept.
        frustum: the frustum the grid covers.
        backbone: an alternative backbone module with `.channels` (e.g. `resnet_backbone`).
    """

    def __init__(
        self,
        grid: int = 16,
        n_stages: int = 2,
        hidden: int = 64,
        width: int = 32,
        cubify_thresh: float = 0.5,
        frustum: Frustum | None = None,
        backbone: nn.Module | None = None,
        max_offset: float = 0.2,
    ) -> None:
        super().__init__()
        if not 0.0 < float(cubify_thresh) < 1.0:
            raise ValueError(f"cubify_thresh must be in (0, 1); got {cubify_thresh}")
        self.frustum = frustum or Frustum()
        self.cubify_thresh = float(cubify_thresh)
        self.backbone = backbone if backbone is not None else SmallBackbone(width)
        c = self.backbone.channels
        self.voxel_head = VoxelHead(c[-1], grid, hidden)
        self.stages = nn.ModuleList(
            [RefineStage(sum(c), hidden, hidden if i else 0, max_offset=max_offset)
             for i in range(check_positive_int(n_stages, "n_stages"))]
        )  # fmt: skip

    @property
    def grid(self) -> int:
        return self.voxel_head.grid

    def cubify_logits(self, voxel_logits: torch.Tensor) -> Meshes:
        """(N, G, G, G) logits -> N view-frame cube meshes. A grid with no voxel above the
        threshold gets a small ico-sphere at the frustum centre (so every mesh is non-empty)."""
        check_tensor(voxel_logits, "voxel_logits", (None, None, None, None), "float")
        probs = torch.sigmoid(voxel_logits.detach())
        cubes = cubify(probs, self.cubify_thresh, align="corner")
        sphere = ico_sphere(2, device=voxel_logits.device)
        verts, faces = [], []
        for i in range(probs.shape[0]):
            v, f = cubes.verts_list()[i], cubes.faces_list()[i]
            if f.shape[0] == 0:
                v, f = sphere.verts_packed() * 0.3, sphere.faces_packed()
            verts.append(grid_to_view(v.to(voxel_logits.dtype), self.frustum))
            faces.append(f)
        return Meshes(verts, faces)

    def forward(self, images: torch.Tensor) -> MeshRCNNOutput:
        """images: (N, 3, H, W) float in [0, 1], H and W multiples of 8 (16 for ResNet)."""
        check_tensor(images, "images", (None, 3, None, None), "float")
        feats = self.backbone(images)
        logits = self.voxel_head(feats[-1])
        mesh = self.cubify_logits(logits)
        meshes, prev = [mesh], None
        for stage in self.stages:
            mesh, prev = stage(mesh, feats, self.frustum, prev)
            meshes.append(mesh)
        return MeshRCNNOutput(logits, meshes)
