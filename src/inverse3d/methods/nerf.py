"""Method "nerf": a NeRF with the hash-grid encoding and occupancy-grid skipping.

The field is `HashGridField` (multi-resolution hash encoding + tiny MLPs, models/hash_grid.py).
Each step renders random rays of random training views: `OccupancyGrid.sample_along_rays` gives
evenly spaced (stratified) samples and the mask of those in occupied cells; only these are
evaluated (the others count as empty), composited with NeRF's quadrature weights on the data's
background, and fitted with an MSE on the colours plus an MSE of the opacity against the masks.
The occupancy grid is refreshed from the field's density every `occupancy_every` steps (after a
warm-up during which nothing is skipped). The mesh is the marching-cubes surface of the density
sampled on a grid, where the opacity of one grid cell, 1 - exp(-sigma * cell), is 0.5.

Scenes (`scene`): "object" models the cube [-bound, bound]^3 and composites the rays on the data's
background; "unbounded" (captures of a thing in a place, with no masks) models all of space: the
field lives on mip-NeRF 360's contraction of space (`renderer.implicit.scene_contraction`: the
ball of radius `bound` unchanged, everything else squeezed into the ball of radius 2 bound), the
rays are sampled evenly up to the far side of the cube and evenly in disparity beyond it, out to
`far_factor` times that distance, and nothing is skipped; "auto" picks "object" when the data has
masks and "unbounded" otherwise. The mesh is always of the cube [-bound, bound]^3 only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from inverse3d.engine import Loop
from inverse3d.loss.ray_losses import DepthSupervision, distortion_loss
from inverse3d.methods.base import PoseRefinementSettings, Reconstruction, register, setting
from inverse3d.models.hash_grid import HashGridEncoding, HashGridField
from inverse3d.models.nerf import volume_render_weights
from inverse3d.models.occupancy_grid import OccupancyGrid
from inverse3d.ops.marching_cubes import marching_cubes
from inverse3d.renderer.camera_refinement import CameraRefinement
from inverse3d.renderer.implicit.image_rays import (
    cube_depth_range,
    random_pixel_rays,
    render_image_rays,
)
from inverse3d.renderer.implicit.scene_contraction import contract_points, unbounded_ray_lengths
from inverse3d.renderer.mesh.textures import TexturesVertex
from inverse3d.renderer.utils import ndc_grid_sample
from inverse3d.structures.meshes import Meshes

__all__ = ["NerfConfig", "fit", "mesh_box"]


@dataclass
class NerfConfig(PoseRefinementSettings):
    """Settings of the "nerf" method (hash-grid NeRF with occupancy-grid skipping)."""

    steps: int = setting(1200, "optimisation steps", low=0)
    bound: float = setting(
        1.0, "half side of the cube [-bound, bound]^3 that holds the scene", low=1e-6
    )
    n_levels: int = setting(12, "hash-grid levels", low=1)
    log2_hashmap_size: int = setting(17, "log2 of each level's table size", low=4, high=26)
    finest_resolution: int = setting(256, "resolution of the finest hash-grid level", low=2)
    hidden_dim: int = setting(32, "width of the field's MLPs", low=1)
    views_per_step: int = setting(8, "training views per step", low=1)
    rays_per_step: int = setting(2048, "rays per step", low=1)
    pts_per_ray: int = setting(96, "samples per ray (before skipping)", low=2)
    lr: float = setting(0.01, "Adam learning rate", low=0.0, high=1.0)
    w_mask: float = setting(0.1, "weight of the opacity-vs-mask loss (only with masks)", low=0.0)
    use_depth: bool = setting(
        True, "use the data's depth maps (if any) for the depth and free-space losses"
    )
    w_depth: float = setting(
        0.1, "weight of the L1 loss of the expected ray termination against the depth maps", low=0.0
    )
    w_free: float = setting(
        0.1, "weight of the rendering weight in front of the observed surface", low=0.0
    )
    w_distortion: float = setting(
        0.0, "weight of mip-NeRF 360's distortion loss of the rays' weights", low=0.0
    )
    occupancy_resolution: int = setting(64, "cells per axis of the occupancy grid", low=2)
    occupancy_every: int = setting(16, "steps between occupancy-grid updates", low=1)
    occupancy_warmup: int = setting(
        64, "steps before the first update (nothing is skipped until then)", low=0
    )
    mesh_resolution: int = setting(
        128, "grid resolution of the density sampled for marching cubes", low=4
    )
    scene: str = setting(
        "auto",
        "object: the cube only, on the data's background; unbounded: all of space through a "
        "scene contraction (for captures with backgrounds); auto: object if the data has masks",
        choices=("auto", "object", "unbounded"),
    )
    far_factor: float = setting(
        1000.0, "unbounded scenes: rays end at this times the far side of the cube", low=1.0
    )
    outer_fraction: float = setting(
        0.5,
        "unbounded scenes: share of the samples beyond the cube (even in disparity)",
        low=0.0,
        high=0.95,
    )
    mesh_opacity: float = setting(
        0.5,
        "the surface is where one cell of that grid has this opacity, 1 - exp(-sigma cell)",
        low=1e-6,
        high=1 - 1e-6,
    )
    appearance_embedding: bool = setting(
        False,
        "learn a latent per training image fed to the colour head (exposure, white balance); "
        "other views use the mean latent",
    )
    appearance_dim: int = setting(8, "size of the per-image appearance latent", low=1)
    bbox: tuple[float, ...] = setting(
        (),
        "the region that is meshed, xmin ymin zmin xmax ymax zmax in the working frame (also "
        "--bbox=x0,y0,z0,x1,y1,z1); empty: the cube [-bound, bound]^3",
    )


class _ContractedField(torch.nn.Module):
    """A field of the contracted space seen from the world: points are contracted first."""

    def __init__(self, field: HashGridField, radius: float) -> None:
        super().__init__()
        self.field, self.radius = field, radius

    def density(self, points: torch.Tensor) -> torch.Tensor:
        return self.field.density(contract_points(points, self.radius))

    def forward(self, points, directions=None, appearance=None):
        return self.field(contract_points(points, self.radius), directions, appearance)


def _render_unbounded(
    field, origins, dirs, near, mid, far, n_inner, n_outer, bg, stratified, latent=None
):
    """RGBA (R, 4), weights (R, S) and lengths (R, S) of rays through a contracted field.

    latent: (R, A) appearance latents of the rays or None."""
    t = unbounded_ray_lengths(
        origins.shape[0], near, mid, far, n_inner, n_outer, stratified, device=origins.device
    )
    pts = origins[:, None] + t[..., None] * dirs[:, None]
    app = None if latent is None else latent[:, None].expand(*t.shape, -1).reshape(t.numel(), -1)
    s, c = field(pts.reshape(-1, 3), dirs[:, None].expand(pts.shape).reshape(-1, 3), app)
    sigma, rgb = s.reshape(t.shape), c.reshape(*t.shape, 3)
    w = volume_render_weights(sigma, t, dirs)
    acc = w.sum(-1, keepdim=True)
    color = (w[..., None] * rgb).sum(-2) + (1.0 - acc) * torch.as_tensor(bg, device=t.device)
    return torch.cat([color, acc], -1), w, t


def _render_rays(
    field, grid, origins, dirs, near, far, n_pts, bg, stratified, with_depth=False, latent=None
):
    """RGBA (R, 4) of rays (R, 3) / (R, 3): skip unoccupied samples, NeRF quadrature.

    With `with_depth` also the weights (R, S) and sample lengths (R, S). latent: (R, A)
    appearance latents of the rays or None."""
    t, keep = grid.sample_along_rays(origins, dirs, near, far, n_pts, stratified=stratified)
    pts = origins[:, None] + t[..., None] * dirs[:, None]  # (R, S, 3)
    sigma = torch.zeros(t.shape, device=t.device)
    rgb = torch.zeros(*t.shape, 3, device=t.device)
    if keep.any():
        d = dirs[:, None].expand(pts.shape)[keep]
        app = None if latent is None else latent[:, None].expand(*t.shape, -1)[keep]
        s, c = field(pts[keep], d, app)
        sigma = sigma.masked_scatter(keep, s[:, 0])
        rgb = rgb.masked_scatter(keep[..., None].expand(rgb.shape), c)
    w = volume_render_weights(sigma, t, dirs)  # (R, S)
    acc = w.sum(-1, keepdim=True)
    color = (w[..., None] * rgb).sum(-2) + (1.0 - acc) * torch.as_tensor(bg, device=t.device)
    rgba = torch.cat([color, acc], -1)
    return (rgba, w, t) if with_depth else rgba


class _ModuleState:
    """Field + occupancy grid + optimizer (+ the learnt extras) as one checkpointable object."""

    def __init__(self, field, grid, optimizer, extras: dict | None = None) -> None:
        self.field, self.grid, self.optimizer = field, grid, optimizer
        self.extras = extras or {}

    def state_dict(self) -> dict:
        sd = {
            "field": self.field.state_dict(),
            "grid": self.grid.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }
        sd.update({k: m.state_dict() for k, m in self.extras.items()})
        return sd

    def load_state_dict(self, sd: dict) -> None:
        missing = [k for k in self.extras if k not in sd]
        if missing:
            raise ValueError(f"the checkpoint has no {missing} (saved with other settings?)")
        self.field.load_state_dict(sd["field"])
        self.grid.load_state_dict(sd["grid"])
        for k, m in self.extras.items():
            m.load_state_dict(sd[k])
        self.optimizer.load_state_dict(sd["optimizer"])


def fit(config: NerfConfig, scene, loop: Loop) -> Reconstruction:
    """Fit a hash-grid NeRF to the training views of `scene`."""
    cfg = config
    device = scene.images.device
    mode = (
        cfg.scene if cfg.scene != "auto" else ("object" if scene.masks is not None else "unbounded")
    )
    box = mesh_box(cfg.bbox, cfg.bound, mode == "unbounded")
    train = scene.train()
    bg = scene.background()
    h, w = scene.image_size
    near, far = cube_depth_range(train.cameras, cfg.bound)
    images = train.images.permute(0, 3, 1, 2)
    masks = train.masks[:, None] if train.masks is not None else None
    depth_terms = DepthSupervision.for_rays(
        train.depths if cfg.use_depth else None, near, far, cfg.pts_per_ray, cfg.w_depth, cfg.w_free
    )
    enc = HashGridEncoding(
        n_levels=cfg.n_levels,
        log2_hashmap_size=cfg.log2_hashmap_size,
        finest_resolution=cfg.finest_resolution,
        bounds=cfg.bound,
    )
    unbounded = mode == "unbounded"
    if unbounded:  # the hash grid covers the contracted space, the ball of radius 2 bound
        enc = HashGridEncoding(
            n_levels=cfg.n_levels,
            log2_hashmap_size=cfg.log2_hashmap_size,
            finest_resolution=cfg.finest_resolution,
            bounds=2.0 * cfg.bound,
        )
    app_dim = cfg.appearance_dim if cfg.appearance_embedding else 0
    field = HashGridField(encoding=enc, hidden_dim=cfg.hidden_dim, appearance_dim=app_dim)
    field = field.to(device)
    world_field = _ContractedField(field, cfg.bound) if unbounded else field
    n_outer = max(1, round(cfg.pts_per_ray * cfg.outer_fraction))
    n_inner = max(1, cfg.pts_per_ray - n_outer)
    far_out = far * cfg.far_factor

    def trace(origins, dirs, stratified, latent=None):
        if unbounded:
            return _render_unbounded(
                world_field,
                origins,
                dirs,
                near,
                far,
                far_out,
                n_inner,
                n_outer,
                bg,
                stratified,
                latent,
            )
        return _render_rays(
            field, grid, origins, dirs, near, far, cfg.pts_per_ray, bg, stratified, True, latent
        )

    grid = OccupancyGrid(resolution=cfg.occupancy_resolution, bounds=cfg.bound, dilation=1)
    grid = grid.to(device)
    groups = [{"params": list(field.parameters()), "lr": cfg.lr}]
    extras: dict = {}
    latents = None
    if app_dim > 0:  # NeRF-W: one latent per training image, small random start
        latents = torch.nn.Embedding(len(train), app_dim).to(device)
        torch.nn.init.normal_(latents.weight, std=0.01)
        extras["appearance"] = latents
        groups[0]["params"] += list(latents.parameters())
    refine = None
    if cfg.refine_poses:
        refine = CameraRefinement(len(train), fixed=[0], device=device)
        extras["poses"] = refine
        groups.append({"params": [refine.rot], "lr": cfg.lr_poses})
        groups.append({"params": [refine.trans], "lr": cfg.lr_poses * cfg.pose_translation_scale})
    opt = torch.optim.Adam(groups, eps=1e-15)
    state = _ModuleState(field, grid, opt, extras)
    nv = min(cfg.views_per_step, len(train))
    n_rays = max(1, cfg.rays_per_step // nv)
    # sigma at which one occupancy cell is half opaque: the skipping threshold.
    grid.threshold = math.log(2.0) / float(grid.cell_size.min()) * 0.01

    def step_fn(step: int):
        if not unbounded and step >= cfg.occupancy_warmup and step % cfg.occupancy_every == 0:
            with torch.no_grad():
                grid.update(lambda p: field.density(p))
        idx = torch.randperm(len(train))[:nv].tolist()
        if refine is not None:
            factor = refine.warmup_factor(step, cfg.pose_warmup)
            opt.param_groups[1]["lr"] = cfg.lr_poses * factor
            opt.param_groups[2]["lr"] = cfg.lr_poses * cfg.pose_translation_scale * factor
            cams = refine(train.cameras, idx)
        else:
            cams = train.cameras[idx]
        lens = None if train.distortion is None else train.distortion[idx]
        bundle = random_pixel_rays(
            cams, (h, w), n_rays, 1, near, far, stratified=False, distortion=lens
        )
        xys = bundle.xys
        lat = None
        if latents is not None:  # (nv * n_rays, A): each ray its view's latent
            at = torch.as_tensor(idx, device=device).repeat_interleave(n_rays)
            lat = latents(at)
        pred, wts, t = trace(
            bundle.origins.reshape(-1, 3), bundle.directions.reshape(-1, 3), True, lat
        )
        pred = pred.reshape(nv, n_rays, 4)
        target = ndc_grid_sample(images[idx], xys, align_corners=False).permute(0, 2, 1)
        out = {"rgb": F.mse_loss(pred[..., :3], target)}
        loss = out["rgb"]
        if depth_terms is not None:
            dl, terms = depth_terms(cams, idx, xys, bundle.origins, bundle.directions, wts, t)
            out.update(terms)
            loss = loss + dl
        if masks is not None and cfg.w_mask > 0:
            tm = ndc_grid_sample(masks[idx], xys, align_corners=False)[:, 0]
            out["mask"] = F.mse_loss(pred[..., 3], tm)
            loss = loss + cfg.w_mask * out["mask"]
        if cfg.w_distortion > 0:
            out["distortion"] = distortion_loss(wts, t)
            loss = loss + cfg.w_distortion * out["distortion"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        out["loss"] = loss
        return out

    result = loop.run(step_fn, cfg.steps, {"nerf": state}, desc="nerf")

    mean_latent = None if latents is None else latents.weight.detach().mean(0)

    def render(cameras, distortion=None, appearance=None) -> torch.Tensor:
        """(N, H, W, 4); appearance: (A,) or (N, A) latents (None: the training mean)."""
        if appearance is None or mean_latent is None:
            lat_all = None if mean_latent is None else mean_latent.expand(len(cameras), -1)
        else:
            lat_all = appearance.to(device).expand(len(cameras), -1)
        out = []
        for i in range(len(cameras)):

            def rays(b, i=i) -> torch.Tensor:
                lat = None if lat_all is None else lat_all[i].expand(b.origins.shape[0], -1)
                return trace(b.origins, b.directions, False, lat)[0]

            lens = None if distortion is None else distortion[i : i + 1]
            out.append(
                render_image_rays(cameras[i : i + 1], (h, w), rays, 1, near, far, distortion=lens)
            )
        return torch.cat(out)

    def fit_appearance(
        cameras, images, keep=None, distortion=None, steps: int = 100, lr: float = 0.01
    ) -> torch.Tensor:
        """NeRF-W's test-time latents: with the field frozen, optimise one latent per view
        (from the training mean) on the pixels `keep` (N, H, W) of `images` (N, H, W, 3).
        Returns (N, A) latents for render(..., appearance=)."""
        if mean_latent is None:
            raise ValueError("fit_appearance needs a fit with appearance_embedding")
        n = len(cameras)
        imgs = images.to(device).permute(0, 3, 1, 2)
        keep_img = (torch.ones(n, h, w) if keep is None else keep.float()).to(device)[:, None]
        lat = mean_latent.expand(n, -1).clone().requires_grad_(True)
        opt_l = torch.optim.Adam([lat], lr=lr)
        frozen = [p for p in field.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        try:
            for _ in range(steps):
                b = random_pixel_rays(cameras, (h, w), n_rays, 1, near, far, False, distortion)
                sel = ndc_grid_sample(keep_img, b.xys, align_corners=False)[:, 0] > 0.5
                if not bool(sel.any()):
                    break
                target = ndc_grid_sample(imgs, b.xys, align_corners=False).permute(0, 2, 1)
                per_ray = lat[:, None].expand(n, b.xys.shape[1], -1).reshape(-1, lat.shape[1])
                pred = trace(b.origins.reshape(-1, 3), b.directions.reshape(-1, 3), True, per_ray)
                pred = pred[0].reshape(n, -1, 4)[..., :3]
                loss = ((pred - target) ** 2)[sel].mean()
                opt_l.zero_grad()
                loss.backward()
                opt_l.step()
        finally:
            for p in frozen:
                p.requires_grad_(True)
        return lat.detach()

    mesh = _field_mesh(world_field, box, cfg.mesh_resolution, cfg.mesh_opacity, mean_latent)
    artifacts: dict = {"field": field.state_dict(), "metrics": {}}
    if refine is not None:
        refine.add_artifacts(artifacts, train.cameras)
    if latents is not None:
        artifacts["appearance_latents"] = latents.weight.detach().cpu()
        artifacts["fit_appearance"] = fit_appearance
    return Reconstruction(
        mesh=mesh,
        render=render,
        history=result.history,
        steps=result.steps,
        artifacts=artifacts,
    )


def mesh_box(bbox: tuple[float, ...], bound: float, unbounded: bool) -> torch.Tensor:
    """The region to mesh as (2, 3) [min, max] from the `bbox` setting (6 numbers or empty for
    the cube [-bound, bound]^3). Object scenes model only the cube, so the box must lie in it."""
    if len(bbox) == 0:
        return torch.tensor([[-bound] * 3, [bound] * 3])
    if len(bbox) != 6:
        raise ValueError(
            f"bbox must have 6 numbers (xmin ymin zmin xmax ymax zmax); got {len(bbox)}: {bbox}"
        )
    box = torch.tensor(bbox, dtype=torch.float32).reshape(2, 3)
    if not bool(torch.isfinite(box).all()) or not bool((box[0] < box[1]).all()):
        raise ValueError(f"bbox must have finite min < max on each axis; got {tuple(bbox)}")
    if not unbounded and bool((box.abs() > bound + 1e-6).any()):
        raise ValueError(
            f"bbox must lie in the cube [-{bound}, {bound}]^3 that an object scene models; "
            f"got {tuple(bbox)} (use --scene unbounded or a larger --bound)"
        )
    return box


def _field_mesh(field, box: torch.Tensor, res: int, opacity: float = 0.5, latent=None):
    """Marching cubes of the field's density in `box` (2, 3) where one grid cell has the given
    opacity; `res` samples along the box's longest side (cubic cells); vertex colours from the
    field (direction +z, appearance `latent` (A,) or none)."""
    device = next(field.parameters()).device
    box = box.to(device)
    side = box[1] - box[0]
    cell = float(side.max()) / (res - 1)
    n = [max(2, round(float(s) / cell) + 1) for s in side]  # samples along x, y, z
    lin = [
        torch.linspace(float(box[0, i]), float(box[1, i]), n[i], device=device) for i in range(3)
    ]
    z, y, x = torch.meshgrid(lin[2], lin[1], lin[0], indexing="ij")
    pts = torch.stack([x, y, z], -1).reshape(-1, 3)
    with torch.no_grad():
        sigma = torch.cat([field.density(p)[:, 0] for p in pts.split(2**17)])
        sigma = sigma.reshape(n[2], n[1], n[0])  # (z, y, x)
        iso = -math.log(1.0 - opacity) / cell
        vol = F.pad(sigma, (1, 1, 1, 1, 1, 1))
        verts, faces = marching_cubes(vol[None], isolevel=iso, return_local_coords=False)
        v, f = verts[0].float(), faces[0].long()  # v: (x, y, z) voxel coordinates
        step = side / torch.tensor([k - 1 for k in n], device=device, dtype=side.dtype)
        # clamped: where the density is cut by the box the surface closes on the box's faces
        v = torch.minimum(torch.maximum(box[0] + (v - 1.0) * step, box[0]), box[1])
        if v.shape[0] == 0:
            return Meshes([v], [f])
        cols = torch.cat([field(p, None, latent)[1] for p in v.split(2**16)]).clamp(0, 1)
    return Meshes([v], [f[:, [0, 2, 1]]], textures=TexturesVertex([cols]))


register("nerf", NerfConfig, fit, "hash-grid NeRF with occupancy-grid skipping")
