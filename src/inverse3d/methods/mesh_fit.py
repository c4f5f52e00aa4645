"""Method "mesh": fit a triangle mesh with per-vertex colours by soft rasterization.

The mesh starts as a visual hull (training masks, and depths when the data has them, carved into
a voxel grid, blurred and meshed by marching cubes: it has the right topology, the mug's handle
hole included) or as an ico-sphere subdivided coarse to fine. Its vertex offsets and colours are
then fitted to the training views with the losses of PyTorch3D's mesh-fitting tutorial:
silhouette (SoftSilhouette-style alpha of the soft rasterizer, sigma 1e-4, blur radius
log(1/1e-4 - 1) sigma), RGB (softmax blending of the vertex colours), and the regularisers
mesh_edge_loss, mesh_normal_consistency and mesh_laplacian_smoothing; plus an L1 depth term on
the pixels inside the masks when the data has depths. Colours are baked radiance (no lighting
model), so the final colours are re-projected from the training images (visibility by depth test).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from inverse3d._validation import check_choice, check_nonneg_int, check_positive_int

__all__ = ["MeshFitConfig", "run"]


@dataclass
class MeshFitConfig:
    """Settings of the "mesh" method (soft-rasterizer mesh fitting)."""

    steps: int = 20
    """optimisation steps"""
    init: str = "hull"
    """initial mesh: "hull" (visual hull by marching cubes) or "sphere" (ico-sphere)"""
    hull_resolution: int = 96
    """voxel grid resolution of the visual hull"""
    use_depth: bool = True
    """use the data's depth maps (when it has them) to carve the hull and as a loss"""
    bound: float = 1.0
    """half side of the cube [-bound, bound]^3 that holds the object"""
    sphere_level: int = 2
    """ico-sphere level of the "sphere" initialisation"""
    subdivide_at: tuple[int, ...] = (60, 120)
    """steps at which the "sphere" mesh is subdivided (1 -> 4 triangles)"""
    image_size: int = 128
    """longer side of the images the fitting renders"""
    views_per_step: int = 2
    """training views rendered per step"""
    lr: float = 0.0001
    """Adam learning rate of the vertex offsets"""
    lr_color: float = 0.02
    """Adam learning rate of the vertex colours"""
    sigma: float = 1e-4
    """soft rasterizer sharpness (blur radius = log(1/1e-4 - 1) * sigma)"""
    faces_per_pixel: int = 10
    """faces blended per pixel"""
    w_silhouette: float = 1.0
    """weight of the silhouette MSE"""
    w_rgb: float = 1.0
    """weight of the RGB MSE"""
    w_depth: float = 1.0
    """weight of the L1 depth loss (only with depths in the data)"""
    w_edge: float = 1.0
    """weight of mesh_edge_loss"""
    w_normal: float = 0.01
    """weight of mesh_normal_consistency"""
    w_laplacian: float = 0.1
    """weight of mesh_laplacian_smoothing (uniform)"""
    project_colors: bool = True
    """re-project the final vertex colours from the training images"""
    checkpoint_every: int = 50
    """steps between checkpoints"""
    eval_samples: int = 100000
    """surface samples per mesh for the geometric metrics"""


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
        from inverse3d.methods.hull import subdivide

        v, f, c = subdivide(self.verts().detach(), self.faces, self.colors.detach())
        self._set(v, f, torch.zeros_like(v), c)

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


def _initial_mesh(cfg: MeshFitConfig, train) -> tuple[torch.Tensor, torch.Tensor]:
    if train.masks is None:
        import warnings

        warnings.warn(
            "the data has no masks: the mesh method starts from a sphere and fits colours only "
            "(its hull and silhouette loss need masks); the nerf and volume methods need none",
            stacklevel=3,
        )
    if cfg.init == "hull" and train.masks is not None:
        from inverse3d.methods.hull import carve_visual_hull, mesh_from_occupancy

        occ = carve_visual_hull(train, cfg.hull_resolution, cfg.bound, use_depth=cfg.use_depth)
        if occ.sum() > 0:
            v, f = mesh_from_occupancy(occ, cfg.bound)
            if v.shape[0] > 0:
                return v, f
    from inverse3d.utils.ico_sphere import ico_sphere

    sphere = ico_sphere(cfg.sphere_level, device=train.images.device)
    return sphere.verts_packed() * 0.8 * cfg.bound, sphere.faces_packed()


def run(config: MeshFitConfig, data, out_dir, resume: bool = False, progress: bool = True):
    """Fit a mesh to `data` (SceneData) and write every output to `out_dir`; return the report."""
    from inverse3d.loss.mesh_edge_loss import mesh_edge_loss
    from inverse3d.loss.mesh_laplacian_smoothing import mesh_laplacian_smoothing
    from inverse3d.loss.mesh_normal_consistency import mesh_normal_consistency
    from inverse3d.methods.common import finish_run, fit_loop, resize_images, scene_background
    from inverse3d.methods.hull import project_vertex_colors
    from inverse3d.renderer.blending import BlendParams, softmax_rgb_blend
    from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
    from inverse3d.renderer.mesh.textures import TexturesVertex
    from inverse3d.structures.meshes import Meshes
    from inverse3d.viz.turntable import render_mesh_views

    cfg = config
    check_choice(cfg.init, "init", ("hull", "sphere"))
    check_nonneg_int(cfg.steps, "steps")
    nv = check_positive_int(cfg.views_per_step, "views_per_step")
    t0 = time.perf_counter()
    device = data.images.device
    train = data.train()
    if len(train) == 0:
        raise ValueError("data has no training views")
    bg = scene_background(data)
    h, w = data.image_size
    scale = check_positive_int(cfg.image_size, "image_size") / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    images = resize_images(train.images, size)
    masks = resize_images(train.masks, size) if train.masks is not None else None
    depths = None
    if cfg.use_depth and train.depths is not None and cfg.w_depth > 0:
        # Nearest-neighbour depth (averaging across the silhouette would mix in zeros).
        depths = torch.nn.functional.interpolate(train.depths[:, None], size=size)[:, 0]

    v0, f0 = _initial_mesh(cfg, train)
    state = _FitState(v0, f0, torch.full_like(v0, 0.5), cfg)
    if not resume and cfg.project_colors:
        state.colors.data = project_vertex_colors(v0, f0, train)

    blur = math.log(1.0 / 1e-4 - 1.0) * cfg.sigma
    blend = BlendParams(sigma=cfg.sigma, gamma=1e-4, background_color=bg)
    rasterizer = MeshRasterizer(
        raster_settings=RasterizationSettings(
            image_size=size, blur_radius=blur, faces_per_pixel=cfg.faces_per_pixel
        )
    )
    subdivide_at = set(cfg.subdivide_at) if cfg.init == "sphere" else set()

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        if step in subdivide_at:
            state.subdivide()
        idx = torch.randperm(len(train), device="cpu")[: min(nv, len(train))].tolist()
        cams = train.cameras[idx]
        verts = state.verts()
        mesh = Meshes([verts], [state.faces], textures=TexturesVertex([state.colors.clamp(0, 1)]))
        batch = mesh.extend(len(idx))
        frags = rasterizer(batch, cameras=cams)
        texels = batch.sample_textures(frags)
        rgba = softmax_rgb_blend(texels, frags, blend, znear=0.01, zfar=100.0)
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

    result = fit_loop(step_fn, cfg, out_dir, {"mesh": state}, resume, progress, "mesh")
    verts = state.verts().detach()
    colors = state.colors.detach().clamp(0, 1)
    if cfg.project_colors:
        colors = project_vertex_colors(verts, state.faces, train)
    mesh = Meshes([verts], [state.faces], textures=TexturesVertex([colors]))
    test = data.test()
    pred = render_mesh_views(mesh, test.cameras, (h, w), background=bg) if len(test) else None
    return finish_run(out_dir, "mesh", cfg, data, mesh, pred, result, t0, device)
