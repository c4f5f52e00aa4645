"""Method "mesh": a visual hull refined by soft rasterization into a mesh with vertex colours.

The mesh starts as a visual hull (training masks, and depths when the data has them, carved into
a voxel grid, blurred and meshed by marching cubes: it has the right topology, the mug's handle
hole included) or as an ico-sphere subdivided coarse to fine. Its vertex offsets and colours are
then fitted to the training views with the losses of PyTorch3D's mesh-fitting tutorial:
silhouette (the soft rasterizer's alpha, sigma 1e-4, blur radius log(1/1e-4 - 1) sigma), RGB
(softmax blending of the vertex colours), the regularisers mesh_edge_loss,
mesh_normal_consistency and mesh_laplacian_smoothing, and an L1 depth term on the pixels inside
the masks when the data has depths. Colours are baked radiance (no lighting model), so the final
colours are re-projected from the training images (visibility by depth test).

Without masks the method starts from a sphere and fits colours only, and only on a uniform
background: data without masks where most pixels differ from the background colour (a capture
of a thing in a room) is refused with a clear message (no background model here: the hull and
the silhouette loss need masks; sdf and volume have one).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from inverse3d.engine import Loop
from inverse3d.loss.mesh_edge_loss import mesh_edge_loss
from inverse3d.loss.mesh_laplacian_smoothing import mesh_laplacian_smoothing
from inverse3d.loss.mesh_normal_consistency import mesh_normal_consistency
from inverse3d.methods.base import Reconstruction, register, setting
from inverse3d.ops.foreground import background_key_masks
from inverse3d.ops.hull_mesh import occupancy_mesh
from inverse3d.ops.image_resize import resize_images
from inverse3d.ops.subdivide_meshes import SubdivideMeshes
from inverse3d.ops.vertex_colors import project_vertex_colors
from inverse3d.ops.visual_hull import visual_hull
from inverse3d.renderer.blending import BlendParams, softmax_rgb_blend
from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
from inverse3d.renderer.mesh.render_views import render_mesh_views
from inverse3d.renderer.mesh.textures import TexturesVertex
from inverse3d.structures.meshes import Meshes
from inverse3d.utils.ico_sphere import ico_sphere

__all__ = ["MeshConfig", "fit"]


@dataclass
class MeshConfig:
    """Settings of the "mesh" method (visual hull + soft-rasterizer refinement)."""

    steps: int = setting(20, "optimisation steps of the refinement (0: the hull only)", low=0)
    init: str = setting(
        "hull",
        'initial mesh: "hull" (visual hull by marching cubes) or "sphere" (ico-sphere)',
        choices=("hull", "sphere"),
    )
    hull_resolution: int = setting(96, "voxel grid resolution of the visual hull", low=4)
    use_depth: bool = setting(True, "use the data's depth maps (if any) to carve and as a loss")
    bound: float = setting(
        1.0, "half side of the cube [-bound, bound]^3 that holds the object", low=1e-6
    )
    sphere_level: int = setting(2, 'ico-sphere level of the "sphere" initialisation', low=0, high=6)
    subdivide_at: tuple[int, ...] = setting(
        (60, 120), 'steps at which the "sphere" mesh is subdivided (1 -> 4 triangles)', low=0
    )
    image_size: int = setting(128, "longer side of the images the fitting renders", low=8)
    views_per_step: int = setting(2, "training views rendered per step", low=1)
    lr: float = setting(1e-4, "Adam learning rate of the vertex offsets", low=0.0, high=1.0)
    lr_color: float = setting(0.02, "Adam learning rate of the vertex colours", low=0.0, high=1.0)
    sigma: float = setting(
        1e-4, "soft rasterizer sharpness (blur radius = log(1/1e-4 - 1) sigma)", low=0.0
    )
    faces_per_pixel: int = setting(10, "faces blended per pixel", low=1)
    w_silhouette: float = setting(1.0, "weight of the silhouette MSE", low=0.0)
    w_rgb: float = setting(1.0, "weight of the RGB MSE", low=0.0)
    w_depth: float = setting(
        1.0, "weight of the L1 depth loss (only with depths in the data)", low=0.0
    )
    w_edge: float = setting(1.0, "weight of mesh_edge_loss", low=0.0)
    w_normal: float = setting(0.01, "weight of mesh_normal_consistency", low=0.0)
    w_laplacian: float = setting(0.1, "weight of mesh_laplacian_smoothing (uniform)", low=0.0)
    project_colors: bool = setting(
        True, "re-project the final vertex colours from the training images"
    )


class _FitState:
    """The fitted mesh and its optimizer; state_dict/load_state_dict replace tensors wholesale
    (their sizes change with subdivision)."""

    def __init__(self, verts: torch.Tensor, faces: torch.Tensor, colors: torch.Tensor, cfg):
        self.cfg = cfg
        self._set(verts, faces, torch.zeros_like(verts), colors)

    def _set(self, base, faces, offsets, colors, optim_state=None) -> None:
        self.base = base.detach()
        self.faces = faces
        self.offsets = offsets.detach().clone().requires_grad_(True)
        self.colors = colors.detach().clone().requires_grad_(True)
        self.optimizer = torch.optim.Adam(
            [
                {"params": [self.offsets], "lr": self.cfg.lr},
                {"params": [self.colors], "lr": self.cfg.lr_color},
            ]
        )
        if optim_state is not None:
            self.optimizer.load_state_dict(optim_state)

    def verts(self) -> torch.Tensor:
        return self.base + self.offsets

    def subdivide(self) -> None:
        mesh = Meshes([self.verts().detach()], [self.faces])
        new_mesh, colors = SubdivideMeshes()(mesh, feats=self.colors.detach())
        v = new_mesh.verts_packed()
        self._set(v, new_mesh.faces_packed(), torch.zeros_like(v), colors)

    def state_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "faces": self.faces,
            "offsets": self.offsets.detach(),
            "colors": self.colors.detach(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        dev = self.base.device
        self._set(
            sd["base"].to(dev),
            sd["faces"].to(dev),
            sd["offsets"].to(dev),
            sd["colors"].to(dev),
            sd["optimizer"],
        )


def _initial_mesh(cfg: MeshConfig, train) -> tuple[torch.Tensor, torch.Tensor]:
    if train.masks is None:
        warnings.warn(
            "the data has no masks: the mesh method starts from a sphere and fits colours only "
            "(its hull and silhouette loss need masks); the nerf and volume methods need none",
            stacklevel=3,
        )
    if cfg.init == "hull" and train.masks is not None:
        b, r = cfg.bound, cfg.hull_resolution
        occ = visual_hull(
            train.cameras,
            train.masks,
            bounds=[[-b] * 3, [b] * 3],
            resolution=r,
            depths=train.depths if cfg.use_depth else None,
            mask_threshold=0.3,
            depth_tolerance=1.5 * 2.0 * b / r,  # 1.5 cells
            mask_sampling="bilinear",
        ).float()
        if occ.sum() > 0:
            v, f = occupancy_mesh(occ, cfg.bound)
            if v.shape[0] > 0:
                return v, f
    sphere = ico_sphere(cfg.sphere_level, device=train.images.device)
    return sphere.verts_packed() * 0.8 * cfg.bound, sphere.faces_packed()


# Without masks, the share of pixels that may differ from the background colour (as dvr's).
MAX_KEYED_SHARE = 0.6


def _check_uniform_background(images: torch.Tensor, bg) -> None:
    """Refuse data without masks whose background is not uniform (a capture with surroundings):
    the mesh method has no background model; its hull and silhouette loss need masks."""
    color = torch.as_tensor(bg, dtype=images.dtype, device=images.device)
    keyed = background_key_masks(images, threshold=0.03, softness=0.0, cleanup=0, background=color)
    share = float(keyed.mean())
    if share > MAX_KEYED_SHARE:
        raise ValueError(
            f"the mesh method needs masks or a uniform background: the data has no masks and "
            f"{share:.0%} of its pixels differ from the background colour {tuple(bg)} (a scene "
            "with surroundings); use sdf or volume (a background model renders the "
            "surroundings) or nerf"
        )


def fit(config: MeshConfig, scene, loop: Loop) -> Reconstruction:
    """Fit a mesh with vertex colours to the training views of `scene` (a SceneData)."""
    cfg = config
    device = scene.images.device
    train = scene.train()
    if len(train) == 0:
        raise ValueError("the scene has no training views")
    bg = scene.background()
    if train.masks is None:
        _check_uniform_background(train.images, bg)
    h, w = scene.image_size
    scale = cfg.image_size / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    images = resize_images(train.images, size)
    masks = resize_images(train.masks, size) if train.masks is not None else None
    depths = None
    if cfg.use_depth and train.depths is not None and cfg.w_depth > 0:
        # Nearest-neighbour depth (averaging across the silhouette would mix in zeros).
        depths = F.interpolate(train.depths[:, None], size=size)[:, 0]

    v0, f0 = _initial_mesh(cfg, train)
    colors0 = torch.full_like(v0, 0.5)
    if cfg.project_colors:
        colors0 = project_vertex_colors(v0, f0, train.images, train.cameras, train.depths)
    state = _FitState(v0, f0, colors0, cfg)

    blur = math.log(1.0 / 1e-4 - 1.0) * cfg.sigma
    blend = BlendParams(sigma=cfg.sigma, gamma=1e-4, background_color=bg)
    rasterizer = MeshRasterizer(
        raster_settings=RasterizationSettings(
            image_size=size, blur_radius=blur, faces_per_pixel=cfg.faces_per_pixel
        )
    )
    subdivide_at = set(cfg.subdivide_at) if cfg.init == "sphere" else set()
    nv = min(cfg.views_per_step, len(train))

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        if step in subdivide_at:
            state.subdivide()
        idx = torch.randperm(len(train))[:nv].tolist()
        cams = train.cameras[idx]
        verts = state.verts()
        mesh = Meshes([verts], [state.faces], textures=TexturesVertex([state.colors.clamp(0, 1)]))
        batch = mesh.extend(len(idx))
        frags = rasterizer(batch, cameras=cams)
        rgba = softmax_rgb_blend(batch.sample_textures(frags), frags, blend, znear=0.01, zfar=100.0)
        out: dict[str, torch.Tensor] = {}
        loss = torch.zeros((), device=device)
        if masks is not None and cfg.w_silhouette > 0:
            out["silhouette"] = ((rgba[..., 3] - masks[idx]) ** 2).mean()
            loss = loss + cfg.w_silhouette * out["silhouette"]
        if cfg.w_rgb > 0:
            out["rgb"] = ((rgba[..., :3] - images[idx]) ** 2).mean()
            loss = loss + cfg.w_rgb * out["rgb"]
        if depths is not None:
            inside = masks[idx] > 0.99 if masks is not None else depths[idx] > 0
            sel = inside & (frags.pix_to_face[..., 0] >= 0) & (frags.dists[..., 0] <= 0)
            if sel.any():
                out["depth"] = (frags.zbuf[..., 0][sel] - depths[idx][sel]).abs().mean()
                loss = loss + cfg.w_depth * out["depth"]
        if cfg.w_edge > 0:
            out["edge"] = mesh_edge_loss(mesh)
            loss = loss + cfg.w_edge * out["edge"]
        if cfg.w_normal > 0:
            out["normal"] = mesh_normal_consistency(mesh)
            loss = loss + cfg.w_normal * out["normal"]
        if cfg.w_laplacian > 0:
            out["laplacian"] = mesh_laplacian_smoothing(mesh, method="uniform")
            loss = loss + cfg.w_laplacian * out["laplacian"]
        state.optimizer.zero_grad()
        loss.backward()
        state.optimizer.step()
        out["loss"] = loss
        return out

    result = loop.run(step_fn, cfg.steps, {"mesh": state}, desc="mesh")
    verts = state.verts().detach()
    colors = state.colors.detach().clamp(0, 1)
    if cfg.project_colors:
        colors = project_vertex_colors(
            verts, state.faces, train.images, train.cameras, train.depths
        )
    mesh = Meshes([verts], [state.faces], textures=TexturesVertex([colors]))

    def render(cameras) -> torch.Tensor:
        return render_mesh_views(mesh, cameras, (h, w), background=bg)

    return Reconstruction(mesh=mesh, render=render, history=result.history, steps=result.steps)


register("mesh", MeshConfig, fit, "visual hull refined by soft rasterization (fast default)")
