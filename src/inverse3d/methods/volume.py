"""Method "volume": a voxel grid of densities and colours fitted by volume rendering (book ch.5).

Densities and colours are the sigmoid of logits stored on a grid over [-bound, bound]^3, rendered
with VolumeRenderer + EmissionAbsorptionRaymarcher along random rays (MonteCarloRaysampler) of
random training views, fitted with a Huber loss on the colours (composited on the data's
background) and on the opacity against the masks, Adam (lr 0.1). The grid goes coarse to fine
(trilinear upsampling of the logits). The mesh is the marching-cubes surface of the density grid
at `iso`, with vertex colours sampled from the colour grid.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from inverse3d._validation import check_positive_int

__all__ = ["VolumeConfig", "run", "ray_depth_range", "render_full_views"]


@dataclass
class VolumeConfig:
    """Settings of the "volume" method (voxel grid, emission-absorption volume rendering)."""

    steps: int = 1000
    """optimisation steps"""
    grid_sizes: tuple[int, ...] = (32, 64, 128)
    """grid resolution of each coarse-to-fine stage"""
    stage_steps: tuple[int, ...] = (200, 500)
    """steps at which the next grid size starts"""
    bound: float = 1.0
    """half side of the cube [-bound, bound]^3 the grid covers"""
    views_per_step: int = 8
    """training views per step"""
    rays_per_step: int = 4096
    """rays per step (over all its views)"""
    pts_per_ray: int = 128
    """samples per ray"""
    lr: float = 0.1
    """Adam learning rate of the logits"""
    huber_delta: float = 0.1
    """delta of the Huber loss"""
    w_mask: float = 1.0
    """weight of the opacity-vs-mask loss (only with masks)"""
    use_depth: bool = True
    """use the data's depth maps (when it has them) for the depth and free-space losses"""
    w_depth: float = 1.0
    """weight of the L1 loss of the expected ray termination against the depth maps"""
    w_free: float = 1.0
    """weight of the rendering weight in front of the observed surface"""
    w_tv: float = 0.0
    """weight of the total variation of the density grid (sigmoid of the logits)"""
    w_distortion: float = 0.0
    """weight of mip-NeRF 360's distortion loss of the rays' weights"""
    init_density: float = -4.0
    """initial density logit"""
    iso: float = 0.5
    """density level of the extracted surface"""
    checkpoint_every: int = 200
    """steps between checkpoints"""
    eval_samples: int = 100000
    """surface samples per mesh for the geometric metrics"""


class _GridState:
    """Density / colour logits and their optimizer (replaced wholesale on load: sizes change)."""

    def __init__(self, size: int, cfg: VolumeConfig, device) -> None:
        self.cfg = cfg
        dens = torch.full((1, 1, size, size, size), cfg.init_density, device=device)
        cols = torch.zeros((1, 3, size, size, size), device=device)
        self._set(dens, cols)

    def _set(self, dens, cols, optim_state=None) -> None:
        self.dens = dens.detach().clone().requires_grad_(True)
        self.cols = cols.detach().clone().requires_grad_(True)
        self.optimizer = torch.optim.Adam([self.dens, self.cols], lr=self.cfg.lr)
        if optim_state is not None:
            self.optimizer.load_state_dict(optim_state)

    @property
    def size(self) -> int:
        return int(self.dens.shape[-1])

    def upsample(self, size: int) -> None:
        def up(x: torch.Tensor) -> torch.Tensor:
            return F.interpolate(x.detach(), size=(size,) * 3, mode="trilinear", align_corners=True)

        self._set(up(self.dens), up(self.cols))

    def volumes(self):
        from inverse3d.structures.volumes import Volumes

        b = self.cfg.bound
        return Volumes(
            densities=torch.sigmoid(self.dens),
            features=torch.sigmoid(self.cols),
            voxel_size=2.0 * b / (self.size - 1),
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "dens": self.dens.detach(),
            "cols": self.cols.detach(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        dev = self.dens.device
        self._set(sd["dens"].to(dev), sd["cols"].to(dev), sd["optimizer"])


def ray_depth_range(cameras, bound: float) -> tuple[float, float]:
    """Near and far ray lengths that cover the cube [-bound, bound]^3 from every camera."""
    centres = cameras.get_camera_center()
    d = centres.norm(dim=-1)
    r = bound * math.sqrt(3.0)
    return max(1e-3, float(d.min()) - r), float(d.max()) + r


def _ndc_extent(h: int, w: int) -> tuple[float, float]:
    s = min(h, w)
    return w / s, h / s


def render_full_views(
    cameras,
    field_renderer,
    image_size: tuple[int, int],
    near: float,
    far: float,
    n_pts: int,
    rows_per_chunk: int = 16,
) -> torch.Tensor:
    """Render whole images, a band of rows at a time.

    field_renderer(cameras, xys (1, R, 2) NDC) -> (1, R, 4) RGBA.
    Returns: (N, H, W, 4) float.
    """
    h, w = image_size
    ux, uy = _ndc_extent(h, w)
    # Pixel centres in NDC: column 0 is +X (left), row 0 is +Y (top).
    xs = ux - (torch.arange(w, dtype=torch.float32) + 0.5) * (2 * ux / w)
    ys = uy - (torch.arange(h, dtype=torch.float32) + 0.5) * (2 * uy / h)
    out = []
    with torch.no_grad():
        for i in range(len(cameras)):
            cam = cameras[i]
            rows = []
            for r0 in range(0, h, rows_per_chunk):
                yy, xx = torch.meshgrid(ys[r0 : r0 + rows_per_chunk], xs, indexing="ij")
                xy = torch.stack([xx, yy], -1).reshape(1, -1, 2).to(cam.device)
                rows.append(field_renderer(cam, xy).reshape(-1, w, 4))
            out.append(torch.cat(rows))
    return torch.stack(out)


def _xy_bundle(cameras, xys: torch.Tensor, near: float, far: float, n_pts: int, stratified: bool):
    """RayBundle through NDC points xys (B, R, 2), n_pts lengths in [near, far]."""
    from inverse3d.renderer.implicit.utils import RayBundle

    b, r = xys.shape[:2]
    pts_near = torch.cat([xys, torch.ones_like(xys[..., :1])], -1)
    world = cameras.unproject_points(pts_near, world_coordinates=True, from_ndc=True)
    origins = cameras.get_camera_center()[:, None].expand(b, r, 3)
    directions = world - origins
    directions = directions / directions.norm(dim=-1, keepdim=True)
    t = torch.linspace(0.0, 1.0, n_pts + 1, device=xys.device)[:-1]
    if stratified:
        t = t + torch.rand(b, r, n_pts, device=xys.device) / n_pts
    else:
        t = t + 0.5 / n_pts
    lengths = (near + (far - near) * t).expand(b, r, n_pts).contiguous()
    return RayBundle(origins=origins, directions=directions, lengths=lengths, xys=xys)


def _march(bundle, densities: torch.Tensor, colors: torch.Tensor, bg) -> torch.Tensor:
    """EA raymarching of (B, R, S, 1) densities and (B, R, S, 3) colours; RGB on `bg`."""
    from inverse3d.renderer.implicit.raymarching import EmissionAbsorptionRaymarcher

    # strict: a density outside [0, 1] or NaN is a bug here, not something to warn about
    rgba = EmissionAbsorptionRaymarcher(strict_densities=True)(
        rays_densities=densities, rays_features=colors, ray_bundle=bundle
    )
    rgb = rgba[..., :3] + (1.0 - rgba[..., 3:]) * torch.as_tensor(bg, device=rgba.device)
    return torch.cat([rgb, rgba[..., 3:]], -1)


def run(config: VolumeConfig, data, out_dir, resume: bool = False, progress: bool = True):
    """Fit a voxel grid to `data` and write every output to `out_dir`; return the report."""
    from inverse3d.methods.common import finish_run, fit_loop, scene_background
    from inverse3d.methods.ray_losses import (
        DepthSupervision,
        alpha_weights,
        distortion_loss,
        grid_tv_loss,
    )
    from inverse3d.ops.marching_cubes import marching_cubes
    from inverse3d.renderer.implicit.renderer import VolumeSampler
    from inverse3d.renderer.utils import ndc_grid_sample

    cfg = config
    check_positive_int(cfg.steps, "steps")
    sizes = [check_positive_int(s, "grid_sizes") for s in cfg.grid_sizes]
    if not sizes or len(cfg.stage_steps) != len(sizes) - 1:
        raise ValueError(
            f"stage_steps must have len(grid_sizes) - 1 = {len(sizes) - 1} entries; "
            f"got {list(cfg.stage_steps)}"
        )
    t0 = time.perf_counter()
    device = data.images.device
    train = data.train()
    bg = scene_background(data)
    h, w = data.image_size
    ux, uy = _ndc_extent(h, w)
    near, far = ray_depth_range(train.cameras, cfg.bound)
    images = train.images.permute(0, 3, 1, 2)  # (N, 3, H, W)
    masks = train.masks[:, None] if train.masks is not None else None
    state = _GridState(sizes[0], cfg, device)
    nv = min(check_positive_int(cfg.views_per_step, "views_per_step"), len(train))
    n_rays = max(1, cfg.rays_per_step // nv)

    depth_terms = DepthSupervision.from_config(cfg, train, near, far)

    def render(cams, xys, vols, stratified, with_depth=False):
        bundle = _xy_bundle(cams, xys, near, far, cfg.pts_per_ray, stratified)
        dens, cols = VolumeSampler(vols)(bundle)
        rgba = _march(bundle, dens, cols, bg)
        if not with_depth:
            return rgba
        return rgba, alpha_weights(dens[..., 0]), bundle

    def step_fn(step: int):
        for k, s in enumerate(cfg.stage_steps):
            if step == s or (step > s and state.size < sizes[k + 1]):
                if state.size != sizes[k + 1]:
                    state.upsample(sizes[k + 1])
        idx = torch.randperm(len(train))[:nv].tolist()
        cams = train.cameras[idx]
        xys = torch.rand(nv, n_rays, 2, device=device) * 2 - 1
        xys = xys * torch.tensor([ux, uy], device=device)
        pred, weights, bundle = render(cams, xys, _batch_volumes(state, nv), True, True)
        target = ndc_grid_sample(images[idx], xys, align_corners=False).permute(0, 2, 1)
        out = {"rgb": F.huber_loss(pred[..., :3], target, delta=cfg.huber_delta)}
        loss = out["rgb"]
        w, t = weights.reshape(-1, cfg.pts_per_ray), bundle.lengths.reshape(-1, cfg.pts_per_ray)
        if depth_terms is not None:
            dl, terms = depth_terms(cams, idx, xys, bundle.origins, bundle.directions, w, t)
            out.update(terms)
            loss = loss + dl
        if masks is not None and cfg.w_mask > 0:
            tm = ndc_grid_sample(masks[idx], xys, align_corners=False)[:, 0]
            out["mask"] = F.huber_loss(pred[..., 3], tm, delta=cfg.huber_delta)
            loss = loss + cfg.w_mask * out["mask"]
        if cfg.w_tv > 0:
            out["tv"] = grid_tv_loss(torch.sigmoid(state.dens))
            loss = loss + cfg.w_tv * out["tv"]
        if cfg.w_distortion > 0:
            out["distortion"] = distortion_loss(w, t)
            loss = loss + cfg.w_distortion * out["distortion"]
        state.optimizer.zero_grad()
        loss.backward()
        state.optimizer.step()
        out["loss"] = loss
        return out

    result = fit_loop(step_fn, cfg, out_dir, {"grid": state}, resume, progress, "volume")
    test = data.test()
    pred = None
    vols = _batch_volumes(state, 1)
    if len(test):
        pred = render_full_views(
            test.cameras,
            lambda cam, xy: render(cam, xy, vols, False),
            (h, w),
            near,
            far,
            cfg.pts_per_ray,
        )
    with torch.no_grad():
        dens = torch.sigmoid(state.dens)[0, 0]
        mesh = _density_mesh(dens, torch.sigmoid(state.cols)[0], cfg.bound, cfg.iso, marching_cubes)
    return finish_run(out_dir, "volume", cfg, data, mesh, pred, result, t0, device)


def _batch_volumes(state: _GridState, n: int):
    from inverse3d.structures.volumes import Volumes

    b = state.cfg.bound
    return Volumes(
        densities=torch.sigmoid(state.dens).expand(n, -1, -1, -1, -1),
        features=torch.sigmoid(state.cols).expand(n, -1, -1, -1, -1),
        voxel_size=2.0 * b / (state.size - 1),
    )


def _density_mesh(dens: torch.Tensor, cols: torch.Tensor, bound: float, iso: float, mc):
    """Marching cubes of a (D, H, W) density grid over [-bound, bound]^3 (z, y, x order), faces
    oriented outwards, vertex colours trilinearly sampled from cols (3, D, H, W)."""
    from inverse3d.renderer.mesh.textures import TexturesVertex
    from inverse3d.structures.meshes import Meshes

    vol = F.pad(dens, (1, 1, 1, 1, 1, 1))  # closed surfaces at the border
    verts, faces = mc(vol[None], isolevel=iso, return_local_coords=False)
    v, f = verts[0].float(), faces[0].long()
    n = dens.shape[-1]
    v = ((v - 1.0) / (n - 1) * 2.0 - 1.0) * bound
    if v.shape[0] == 0:
        return Meshes([v], [f])
    grid = (v / bound).reshape(1, 1, 1, -1, 3)
    c = F.grid_sample(cols[None], grid, mode="bilinear", align_corners=True)
    c = c.reshape(3, -1).T.clamp(0, 1)
    return Meshes([v], [f[:, [0, 2, 1]]], textures=TexturesVertex([c]))
