"""Method "nerf": a NeRF with the hash-grid encoding and occupancy-grid skipping.

The field is `HashGridField` (multi-resolution hash encoding + tiny MLPs, models/hash_grid.py).
Each step renders random rays of random training views: `OccupancyGrid.sample_along_rays` gives
evenly spaced (stratified) samples and the mask of those in occupied cells; only these are
evaluated (the others count as empty), composited with NeRF's quadrature weights on the data's
background, and fitted with an MSE on the colours plus an MSE of the opacity against the masks.
The occupancy grid is refreshed from the field's density every `occupancy_every` steps (after a
warm-up during which nothing is skipped). The mesh is the marching-cubes surface of the density
sampled on a grid, where the opacity of one grid cell, 1 - exp(-sigma * cell), is 0.5.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from inverse3d._validation import check_positive_int

__all__ = ["NerfConfig", "run"]


@dataclass
class NerfConfig:
    """Settings of the "nerf" method (hash-grid NeRF with occupancy-grid skipping)."""

    steps: int = 1200
    """optimisation steps"""
    bound: float = 1.0
    """half side of the cube [-bound, bound]^3 that holds the scene"""
    n_levels: int = 12
    """hash-grid levels"""
    log2_hashmap_size: int = 17
    """log2 of each level's table size"""
    finest_resolution: int = 256
    """resolution of the finest hash-grid level"""
    hidden_dim: int = 32
    """width of the field's MLPs"""
    views_per_step: int = 8
    """training views per step"""
    rays_per_step: int = 2048
    """rays per step"""
    pts_per_ray: int = 96
    """samples per ray (before skipping)"""
    lr: float = 0.01
    """Adam learning rate"""
    w_mask: float = 0.1
    """weight of the opacity-vs-mask loss (only with masks)"""
    use_depth: bool = True
    """use the data's depth maps (when it has them) for the depth and free-space losses"""
    w_depth: float = 0.1
    """weight of the L1 loss of the expected ray termination against the depth maps"""
    w_free: float = 0.1
    """weight of the rendering weight in front of the observed surface"""
    w_distortion: float = 0.0
    """weight of mip-NeRF 360's distortion loss of the rays' weights"""
    occupancy_resolution: int = 64
    """cells per axis of the occupancy grid"""
    occupancy_every: int = 16
    """steps between occupancy-grid updates"""
    occupancy_warmup: int = 64
    """steps before the first update (nothing is skipped until then)"""
    mesh_resolution: int = 128
    """grid resolution of the density sampled for marching cubes"""
    mesh_opacity: float = 0.5
    """the surface is where one cell of that grid has this opacity, 1 - exp(-sigma * cell)"""
    checkpoint_every: int = 200
    """steps between checkpoints"""
    eval_samples: int = 100000
    """surface samples per mesh for the geometric metrics"""


def _render_rays(field, grid, origins, dirs, near, far, n_pts, bg, stratified, with_depth=False):
    """RGBA (R, 4) of rays (R, 3) / (R, 3): skip unoccupied samples, NeRF quadrature.

    With `with_depth` also the weights (R, S) and sample lengths (R, S)."""
    from inverse3d.models.nerf import volume_render_weights

    t, keep = grid.sample_along_rays(origins, dirs, near, far, n_pts, stratified=stratified)
    pts = origins[:, None] + t[..., None] * dirs[:, None]  # (R, S, 3)
    sigma = torch.zeros(t.shape, device=t.device)
    rgb = torch.zeros(*t.shape, 3, device=t.device)
    if keep.any():
        d = dirs[:, None].expand(pts.shape)[keep]
        s, c = field(pts[keep], d)
        sigma = sigma.masked_scatter(keep, s[:, 0])
        rgb = rgb.masked_scatter(keep[..., None].expand(rgb.shape), c)
    w = volume_render_weights(sigma, t, dirs)  # (R, S)
    acc = w.sum(-1, keepdim=True)
    color = (w[..., None] * rgb).sum(-2) + (1.0 - acc) * torch.as_tensor(bg, device=t.device)
    rgba = torch.cat([color, acc], -1)
    return (rgba, w, t) if with_depth else rgba


class _ModuleState:
    """Field + occupancy grid + optimizer as one checkpointable object."""

    def __init__(self, field, grid, optimizer) -> None:
        self.field, self.grid, self.optimizer = field, grid, optimizer

    def state_dict(self) -> dict[str, Any]:
        return {
            "field": self.field.state_dict(),
            "grid": self.grid.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.field.load_state_dict(sd["field"])
        self.grid.load_state_dict(sd["grid"])
        self.optimizer.load_state_dict(sd["optimizer"])


def run(config: NerfConfig, data, out_dir, resume: bool = False, progress: bool = True):
    """Fit a hash-grid NeRF to `data` and write every output to `out_dir`; return the report."""
    from inverse3d.methods.common import finish_run, fit_loop, scene_background
    from inverse3d.methods.ray_losses import DepthSupervision, distortion_loss
    from inverse3d.methods.volume import _ndc_extent, _xy_bundle, ray_depth_range, render_full_views
    from inverse3d.models.hash_grid import HashGridEncoding, HashGridField
    from inverse3d.models.occupancy_grid import OccupancyGrid
    from inverse3d.renderer.utils import ndc_grid_sample

    cfg = config
    check_positive_int(cfg.steps, "steps")
    t0 = time.perf_counter()
    device = data.images.device
    train = data.train()
    bg = scene_background(data)
    h, w = data.image_size
    ux, uy = _ndc_extent(h, w)
    near, far = ray_depth_range(train.cameras, cfg.bound)
    images = train.images.permute(0, 3, 1, 2)
    masks = train.masks[:, None] if train.masks is not None else None
    depth_terms = DepthSupervision.from_config(cfg, train, near, far)
    enc = HashGridEncoding(
        n_levels=cfg.n_levels,
        log2_hashmap_size=cfg.log2_hashmap_size,
        finest_resolution=cfg.finest_resolution,
        bounds=cfg.bound,
    )
    field = HashGridField(encoding=enc, hidden_dim=cfg.hidden_dim).to(device)
    grid = OccupancyGrid(resolution=cfg.occupancy_resolution, bounds=cfg.bound, dilation=1)
    grid = grid.to(device)
    opt = torch.optim.Adam(field.parameters(), lr=cfg.lr, eps=1e-15)
    state = _ModuleState(field, grid, opt)
    nv = min(check_positive_int(cfg.views_per_step, "views_per_step"), len(train))
    n_rays = max(1, cfg.rays_per_step // nv)
    # sigma at which one occupancy cell is half opaque: the skipping threshold.
    grid.threshold = math.log(2.0) / float(grid.cell_size.min()) * 0.01

    def step_fn(step: int):
        if step >= cfg.occupancy_warmup and step % cfg.occupancy_every == 0:
            with torch.no_grad():
                grid.update(lambda p: field.density(p))
        idx = torch.randperm(len(train))[:nv].tolist()
        cams = train.cameras[idx]
        xys = (torch.rand(nv, n_rays, 2, device=device) * 2 - 1) * torch.tensor(
            [ux, uy], device=device
        )
        bundle = _xy_bundle(cams, xys, near, far, 1, False)
        pred, w, t = _render_rays(
            field,
            grid,
            bundle.origins.reshape(-1, 3),
            bundle.directions.reshape(-1, 3),
            near,
            far,
            cfg.pts_per_ray,
            bg,
            stratified=True,
            with_depth=True,
        )
        pred = pred.reshape(nv, n_rays, 4)
        target = ndc_grid_sample(images[idx], xys, align_corners=False).permute(0, 2, 1)
        out = {"rgb": F.mse_loss(pred[..., :3], target)}
        loss = out["rgb"]
        if depth_terms is not None:
            dl, terms = depth_terms(cams, idx, xys, bundle.origins, bundle.directions, w, t)
            out.update(terms)
            loss = loss + dl
        if masks is not None and cfg.w_mask > 0:
            tm = ndc_grid_sample(masks[idx], xys, align_corners=False)[:, 0]
            out["mask"] = F.mse_loss(pred[..., 3], tm)
            loss = loss + cfg.w_mask * out["mask"]
        if cfg.w_distortion > 0:
            out["distortion"] = distortion_loss(w, t)
            loss = loss + cfg.w_distortion * out["distortion"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        out["loss"] = loss
        return out

    result = fit_loop(step_fn, cfg, out_dir, {"nerf": state}, resume, progress, "nerf")
    test = data.test()
    pred = None

    def render_view(cam, xy):
        b = _xy_bundle(cam, xy, near, far, 1, False)
        return _render_rays(
            field,
            grid,
            b.origins.reshape(-1, 3),
            b.directions.reshape(-1, 3),
            near,
            far,
            cfg.pts_per_ray,
            bg,
            False,
        )[None]

    if len(test):
        pred = render_full_views(test.cameras, render_view, (h, w), near, far, cfg.pts_per_ray)
    if not 0.0 < cfg.mesh_opacity < 1.0:
        raise ValueError(f"mesh_opacity must be in (0, 1); got {cfg.mesh_opacity}")
    res = check_positive_int(cfg.mesh_resolution, "mesh_resolution")
    mesh = _field_mesh(field, cfg.bound, res, cfg.mesh_opacity)
    return finish_run(out_dir, "nerf", cfg, data, mesh, pred, result, t0, device)


def _field_mesh(field, bound: float, res: int, opacity: float = 0.5):
    """Marching cubes of the field's density where one grid cell has the given opacity; vertex
    colours from the field (direction +z)."""
    from inverse3d.ops.marching_cubes import marching_cubes
    from inverse3d.renderer.mesh.textures import TexturesVertex
    from inverse3d.structures.meshes import Meshes

    device = next(field.parameters()).device
    lin = torch.linspace(-bound, bound, res, device=device)
    z, y, x = torch.meshgrid(lin, lin, lin, indexing="ij")
    pts = torch.stack([x, y, z], -1).reshape(-1, 3)
    with torch.no_grad():
        sigma = torch.cat([field.density(p)[:, 0] for p in pts.split(2**17)]).reshape(res, res, res)
        iso = -math.log(1.0 - opacity) / (2.0 * bound / (res - 1))
        vol = F.pad(sigma, (1, 1, 1, 1, 1, 1))
        verts, faces = marching_cubes(vol[None], isolevel=iso, return_local_coords=False)
        v, f = verts[0].float(), faces[0].long()
        v = ((v - 1.0) / (res - 1) * 2.0 - 1.0) * bound
        if v.shape[0] == 0:
            return Meshes([v], [f])
        cols = torch.cat([field(p)[1] for p in v.split(2**16)]).clamp(0, 1)
    return Meshes([v], [f[:, [0, 2, 1]]], textures=TexturesVertex([cols]))
