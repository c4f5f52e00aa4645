"""Method "sdf": a signed distance field rendered volumetrically (NeuS, grid or hash encoded).

The SDF network (`models.implicit_surface.SDFNetwork`: multi-resolution dense feature grids, or
a hash grid, + a small softplus MLP, starting as a sphere) and a colour network conditioned on
position, normal, view direction and a geometry feature are rendered with NeuS's unbiased,
occlusion-aware opacities (`renderer.implicit.surface.neus_alpha`: the section between two
consecutive samples gets ``(Phi_s(f_i) - Phi_s(f_i+1)) / Phi_s(f_i)``) and a learned sharpness
s. Rays are the pixels of random training views (`NDCMultinomialRaysampler`, a share
`mask_ray_fraction` of them inside the masks); samples are spread evenly over each ray's chord
through the cube [-bound, bound]^3, `importance_samples` more are drawn where NeuS's weights put
the surface (`renderer.implicit.surface.neus_importance_samples`: `upsample_rounds` rounds at
sharpness 64 * 2^i, on the SDF without a graph), and an `OccupancyGrid` of the SDF (cells where
|sdf| is below the cell diagonal + 4 / s) skips the samples far from the surface. Normals (finite
differences on a tetrahedron) and colours are evaluated only at the midpoints of the sections
whose weight exceeds `min_weight`, which keeps a CPU step affordable. Losses: L1 on the colours
composited on the scene's background, eikonal (at those midpoints and 256 random points), BCE
of the opacity against the masks (when the scene has masks), L1 on the expected depth (only
with `use_depth` and depth maps). The encoding's levels are switched on coarse to fine.

Optional (off by default; issue 11, docs/methods.md "The lid and the blob"): a warm-up that
caps s by a geometric ramp (`sharpness_warmup`, `sharpness_warmup_end`), and two priors at
random points of the cube for what no image constrains (the region under an object seen only
from above): the smallest solid (`w_min_occupancy`, `loss.minimal_occupancy_loss`) and the
smallest surface (`w_min_area`, `loss.surface_area_loss`).

Without masks the opacity is constrained only by the colours against the background colour
(`scene.background()`): the object must stand out from a uniform background, and background
clutter inside the cube becomes surface.

Captures in a room (`background_model`, "auto": "outer" when the data has no masks): the rays'
remaining transmittance sees a learned `models.BackgroundModel` (NeRF++'s outer field, or an
environment map of directions) instead of the uniform background, so the room need not be
painted into the cube; the mesh is still the cube's SDF only.

The mesh is the marching-cubes surface of the SDF at 0 on a `mesh_resolution`^3 grid over the
cube (watertight), with vertex colours from the colour network seen along the normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from inverse3d._validation import check_positive_int
from inverse3d.engine import Loop, exponential_lr_decay
from inverse3d.loss.implicit_surface import (
    eikonal_loss,
    mask_bce_loss,
    minimal_occupancy_loss,
    surface_area_loss,
)
from inverse3d.methods.base import BackgroundSettings, Reconstruction, register, setting
from inverse3d.models.background import BACKGROUND_CHOICES, BackgroundModel, resolve_background
from inverse3d.models.implicit_surface import ColorNetwork, LearnedSharpness, SDFNetwork
from inverse3d.models.occupancy_grid import OccupancyGrid
from inverse3d.ops.marching_cubes import marching_cubes
from inverse3d.renderer.implicit.raysampling import (
    NDCMultinomialRaysampler,
)
from inverse3d.renderer.implicit.surface import (
    neus_alpha,
    neus_importance_samples,
    ray_box_intersection,
)
from inverse3d.renderer.implicit.weights import emission_absorption_weights
from inverse3d.renderer.mesh.textures import TexturesVertex
from inverse3d.renderer.utils import ndc_grid_sample
from inverse3d.structures.meshes import Meshes

__all__ = ["SdfConfig", "fit", "sdf_grid", "extract_mesh"]


@dataclass
class SdfConfig(BackgroundSettings):
    """Settings of the "sdf" method (NeuS-style SDF volume rendering with a hash grid)."""

    steps: int = setting(1500, "optimisation steps", low=0)
    lr: float = setting(1e-2, "Adam learning rate (decays to lr * lr_final_ratio)", low=0, high=1)
    lr_final_ratio: float = setting(0.1, "learning rate at the end relative to lr", low=0, high=1)
    views_per_step: int = setting(4, "training views per step", low=1)
    rays_per_step: int = setting(1024, "rays per step (over all its views)", low=1)
    samples_per_ray: int = setting(64, "evenly spaced samples over the ray's chord", low=2)
    importance_samples: int = setting(
        64,
        "samples added per ray where NeuS's weights put the surface (hierarchical, 0: off)",
        low=0,
    )
    upsample_rounds: int = setting(
        4, "rounds of importance sampling (sharpness 64 * 2^i in round i)", low=1
    )
    mask_ray_fraction: float = setting(
        0.75, "share of the rays drawn inside the masks (when there are masks)", low=0, high=1
    )
    bound: float = setting(1.0, "half side of the cube [-bound, bound]^3 holding the object", low=0)
    init_radius: float = setting(0.5, "radius of the initial sphere", low=0)
    hidden_dim: int = setting(64, "width of the SDF and colour MLPs", low=1)
    encoding: str = setting(
        "grid",
        "feature encoding of the SDF: dense multi-resolution grids (fast on CPU) or a hash grid",
        choices=("grid", "hash"),
    )
    levels: int = setting(6, "levels of the grid / hash encoding", low=1)
    start_levels: int = setting(2, "levels active at step 0 (coarse to fine)", low=1)
    levels_full_at: float = setting(
        0.5, "fraction of the steps at which every level is active", low=0, high=1
    )
    log2_hashmap_size: int = setting(17, "log2 of each hash level's table size", low=1, high=30)
    finest_resolution: int = setting(128, "vertices per axis of the finest level", low=2)
    fd_eps: float = setting(
        0.005, "finite-difference step of the SDF gradient (0: autograd; hash only)", low=0
    )
    view_dependent: bool = setting(
        True, "colour depends on the view direction (False: Lambertian colour network)"
    )
    init_variance: float = setting(0.3, "initial log-sharpness v (s = exp(10 v))")
    sharpness_warmup: float = setting(
        0.0,
        "fraction of the steps during which s is capped by a geometric ramp from its initial "
        "value to sharpness_warmup_end (a soft surface that sees deeper early; 0: off)",
        low=0,
        high=1,
    )
    sharpness_warmup_end: float = setting(
        200.0, "the cap on s at the end of the sharpness warm-up", low=1
    )
    w_min_occupancy: float = setting(
        0.0,
        "weight of the minimal-occupancy prior: mean of sigmoid(-sdf / occupancy_band) at "
        "random points of the cube (shrinks what no image constrains, e.g. under the base)",
        low=0,
    )
    w_min_area: float = setting(
        0.0,
        "weight of the minimal-surface prior: the surface's area estimated at random points of "
        "the cube (flattens what no image constrains; it also favours lids over concavities)",
        low=0,
    )
    occupancy_band: float = setting(
        0.02, "width of the SDF band in which the two priors above act", low=0
    )
    occupancy_points: int = setting(1024, "random points per step of those priors", low=1)
    w_eikonal: float = setting(0.1, "weight of the eikonal loss", low=0)
    w_mask: float = setting(0.1, "weight of the mask BCE (only with masks)", low=0)
    use_depth: bool = setting(True, "use the data's depth maps (when it has them)")
    w_depth: float = setting(0.1, "weight of the L1 loss on the expected ray length", low=0)
    min_weight: float = setting(
        1e-3, "sections with a smaller weight get no colour / normal evaluation", low=0
    )
    grid_resolution: int = setting(64, "cells per axis of the occupancy grid (0: none)", low=0)
    grid_every: int = setting(16, "steps between occupancy grid updates", low=1)
    grid_warmup: int = setting(0, "steps before the occupancy grid is first used", low=0)
    mesh_resolution: int = setting(192, "grid size of the marching cubes", low=8)
    render_chunk: int = setting(4096, "rays per chunk when rendering whole images", low=1)
    background_model: str = setting(
        "auto",
        "what the rays see behind the cube: data: the scene's uniform background colour; "
        "environment: a learned colour per direction; outer: a NeRF++ outer field (inverted "
        "sphere, parallax); auto: data when the data has masks, else outer",
        choices=BACKGROUND_CHOICES,
    )


class _Field(torch.nn.Module):
    """The SDF, colour and sharpness modules, and the NeuS rendering of rays."""

    def __init__(self, cfg: SdfConfig, background: str = "data") -> None:
        super().__init__()
        self.cfg = cfg
        self.sdf = SDFNetwork(
            hidden_dim=cfg.hidden_dim,
            init_radius=cfg.init_radius,
            encoding=cfg.encoding,
            n_levels=cfg.levels,
            log2_hashmap_size=cfg.log2_hashmap_size,
            finest_resolution=cfg.finest_resolution,
            bound=cfg.bound,
        )
        self.color = ColorNetwork(
            feature_dim=self.sdf.feature_dim,
            hidden_dim=cfg.hidden_dim,
            view_dependent=cfg.view_dependent,
        )
        self.sharpness = LearnedSharpness(cfg.init_variance)
        self.background = (
            BackgroundModel(
                background,
                cfg.bound,
                cfg.environment_size,
                cfg.background_layers,
                cfg.background_samples,
            )
            if background != "data"
            else None
        )
        self.grid = (
            OccupancyGrid(
                cfg.grid_resolution,
                cfg.bound,
                threshold=0.0,
                ema_decay=0.0,
                update_mode="ema",
                dilation=1,
            )
            if cfg.grid_resolution > 0
            else None
        )
        self.grid_active = False
        self.sharpness_cap: float | None = None  # set by the warm-up schedule of `fit`
        if cfg.fd_eps <= 0 and cfg.encoding == "grid":
            raise ValueError("fd_eps must be > 0 with encoding 'grid' (not twice differentiable)")
        self.fd_eps = float(cfg.fd_eps) if cfg.fd_eps > 0 else None

    def current_sharpness(self) -> torch.Tensor:
        """The learned s, capped during the sharpness warm-up (0-dim)."""
        s = self.sharpness()
        if self.sharpness_cap is not None:
            s = s.clamp(max=self.sharpness_cap)
        return s

    @torch.no_grad()
    def update_grid(self) -> None:
        """Occupied cells: |sdf| below the cell diagonal plus 4 / s (where NeuS's weights live)."""
        if self.grid is None:
            return
        margin = float(self.grid.cell_size.norm()) + 4.0 / float(self.current_sharpness())
        self.grid.update(lambda p: margin - self.sdf.sdf(p).abs().reshape(-1), jitter=True)
        self.grid_active = True

    def render_rays(
        self,
        origins: torch.Tensor,
        directions: torch.Tensor,
        background: torch.Tensor,
        train: bool,
    ) -> dict[str, torch.Tensor]:
        """NeuS rendering of R rays with unit directions (R, 3).

        The SDF is evaluated at the samples in occupied cells; the opacity of the section
        between consecutive samples comes from their two values (`neus_alpha` with the slope
        of the section); the SDF gradient (normal, eikonal) and the colour are computed only at
        the midpoints of the sections whose weight exceeds `min_weight` (the others are dropped
        from the colour sum).

        Returns rgb (R, 3) on the background, opacity (R,), depth (R,) expected length where
        opaque, gradients (P, 3) of the SDF at the evaluated midpoints.
        """
        cfg = self.cfg
        R = origins.shape[0]
        S = cfg.samples_per_ray
        dev = origins.device
        t_near, t_far, hit = ray_box_intersection(origins, directions, cfg.bound)
        u = torch.arange(S, device=dev, dtype=origins.dtype)
        u = (u + (torch.rand(R, S, device=dev) if train else 0.5)) / S
        t = t_near[:, None] + (t_far - t_near)[:, None] * u  # (R, S)
        if cfg.importance_samples > 0 and R > 0:
            # NeuS's hierarchical sampling: the SDF at the even samples (no graph), then
            # `importance_samples` more lengths where sharper and sharper weights put the surface.
            with torch.no_grad():
                pts0 = origins[:, None] + t[..., None] * directions[:, None]
                f0 = torch.cat(
                    [self.sdf.sdf(c).reshape(-1) for c in pts0.reshape(-1, 3).split(2**16)]
                ).reshape(R, S)
                t, _ = neus_importance_samples(
                    self.sdf.sdf,
                    origins,
                    directions,
                    t,
                    f0,
                    cfg.importance_samples,
                    rounds=cfg.upsample_rounds,
                    det=not train,
                )
            S = t.shape[1]
        pts = origins[:, None] + t[..., None] * directions[:, None]  # (R, S, 3)
        keep = hit[:, None].expand(R, S)
        if self.grid is not None and self.grid_active:
            keep = keep & self.grid.is_occupied(pts)
        idx = keep.reshape(-1).nonzero().squeeze(-1)
        sdf_sel = self.sdf.sdf(pts.reshape(-1, 3)[idx]).reshape(-1)
        f = torch.zeros(R * S, device=dev, dtype=sdf_sel.dtype).index_put((idx,), sdf_sel)
        f = f.reshape(R, S)
        valid = keep[:, :-1] & keep[:, 1:]  # (R, S-1) sections with both ends evaluated
        dt = (t[:, 1:] - t[:, :-1]).clamp(min=1e-6)
        slope = (f[:, 1:] - f[:, :-1]) / dt
        mid_f = 0.5 * (f[:, 1:] + f[:, :-1])
        alpha = neus_alpha(mid_f, slope, dt, self.current_sharpness()) * valid
        weights = emission_absorption_weights(alpha, eps=1e-7)  # (R, S-1)
        t_mid = 0.5 * (t[:, 1:] + t[:, :-1])
        sig = (weights.detach() > cfg.min_weight).reshape(-1).nonzero().squeeze(-1)
        d = directions[:, None].expand(R, S - 1, 3).reshape(-1, 3)[sig]
        p = origins[:, None] + t_mid[..., None] * directions[:, None]
        p = p.reshape(-1, 3)[sig]
        colors = torch.zeros(R * (S - 1), 3, device=dev, dtype=origins.dtype)
        if sig.numel() > 0:
            _, grad, feat = self.sdf.sdf_and_gradient(p, create_graph=train, fd_eps=self.fd_eps)
            rgb = self.color(p, F.normalize(grad, dim=-1), d, feat)
            colors = colors.to(rgb.dtype).index_put((sig,), rgb)
        else:  # nothing opaque enough on these rays (e.g. an emptied field): no colour to add
            grad = origins.new_zeros(0, 3)
        colors = colors.reshape(R, S - 1, 3)
        opacity = weights.sum(-1)
        if self.background is not None:
            background = self.background(origins, directions, stratified=train)  # (R, 3)
        color = (weights[..., None] * colors).sum(1) + (1.0 - opacity)[:, None] * background
        depth = (weights * t_mid).sum(-1) / opacity.clamp(min=1e-6)
        return {"rgb": color, "opacity": opacity, "depth": depth, "gradients": grad}

    def render_images(self, cameras, image_size: tuple[int, int], background) -> torch.Tensor:
        """(N, H, W, 4) RGBA of whole images, chunk by chunk, without a training graph."""
        h, w = image_size
        sampler = NDCMultinomialRaysampler(
            image_width=w,
            image_height=h,
            n_pts_per_ray=0,
            min_depth=0.1,
            max_depth=10.0,
            unit_directions=True,
        )
        bg = torch.as_tensor(background, dtype=torch.float32, device=cameras.device)
        out = []
        for i in range(len(cameras)):
            bundle = sampler(cameras[i])
            o = bundle.origins.reshape(-1, 3)
            d = bundle.directions.reshape(-1, 3)
            rows = []
            for o_c, d_c in zip(o.split(self.cfg.render_chunk), d.split(self.cfg.render_chunk)):
                r = self.render_rays(o_c, d_c, bg, train=False)
                rows.append(torch.cat([r["rgb"], r["opacity"][:, None]], -1).detach())
            out.append(torch.cat(rows).reshape(h, w, 4).clamp(0.0, 1.0))
        return torch.stack(out)


@torch.no_grad()
def sdf_grid(sdf_fn, resolution: int, bound: float, device, chunk: int = 2**16) -> torch.Tensor:
    """SDF sampled on a resolution^3 grid of [-bound, bound]^3: (D, H, W) float indexed (z, y, x)
    (the layout `marching_cubes` expects); sdf_fn maps (P, 3) points to (P, 1) values."""
    lin = torch.linspace(-bound, bound, resolution, device=device)
    z, y, x = torch.meshgrid(lin, lin, lin, indexing="ij")
    pts = torch.stack([x, y, z], -1).reshape(-1, 3)
    vals = torch.cat([sdf_fn(c).reshape(-1) for c in pts.split(chunk)])
    return vals.reshape(resolution, resolution, resolution)


def extract_mesh(field: _Field, resolution: int, bound: float, device) -> Meshes:
    """Marching cubes of the SDF at 0, vertex colours from the colour network along -normal."""
    vol = sdf_grid(field.sdf.sdf, resolution, bound, device)
    verts_l, faces_l = marching_cubes(vol[None], isolevel=0.0, return_local_coords=True)
    verts, faces = verts_l[0] * bound, faces_l[0]
    if verts.shape[0] == 0:
        return Meshes([verts], [faces])
    # Normals of marching cubes point to increasing values: outwards for an SDF.
    cols = []
    for v in verts.split(2**15):
        _, grad, feat = field.sdf.sdf_and_gradient(v, create_graph=False, fd_eps=field.fd_eps)
        n = F.normalize(grad, dim=-1)
        cols.append(field.color(v, n, -n, feat).detach())
    tex = TexturesVertex(verts_features=[torch.cat(cols).clamp(0, 1)])
    return Meshes([verts.detach()], [faces], textures=tex)


def fit(config: SdfConfig, scene, loop: Loop) -> Reconstruction:
    """Fit a NeuS-style SDF to `scene` (working frame) and return its mesh and renderer."""
    cfg = config
    steps = int(cfg.steps)
    if steps < 0:
        raise ValueError(f"steps must be >= 0; got {steps}")
    nv_cfg = check_positive_int(cfg.views_per_step, "views_per_step")
    check_positive_int(cfg.rays_per_step, "rays_per_step")
    device = scene.images.device
    train = scene.train()
    bg = torch.tensor(scene.background(), dtype=torch.float32, device=device)
    h, w = scene.image_size
    background = resolve_background(cfg.background_model, scene.masks is not None)
    field = _Field(cfg, background).to(device)
    params = [
        {"params": list(field.sdf.parameters()) + list(field.color.parameters())},
        {"params": list(field.sharpness.parameters()), "lr": min(cfg.lr, 1e-3)},
    ]
    if field.background is not None:
        params.append({"params": list(field.background.parameters()), "lr": cfg.lr_background})
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=(0.9, 0.99), eps=1e-15)
    sched = exponential_lr_decay(opt, cfg.lr_final_ratio, steps)
    images = train.images.permute(0, 3, 1, 2)  # (N, 3, H, W)
    masks = train.masks
    depths = train.depths if (cfg.use_depth and train.depths is not None) else None
    nv = min(nv_cfg, len(train))
    n_rays = max(1, cfg.rays_per_step // nv)
    sampler = NDCMultinomialRaysampler(
        image_width=w,
        image_height=h,
        n_pts_per_ray=0,
        min_depth=0.1,
        max_depth=10.0,
        n_rays_per_image=n_rays,
        unit_directions=True,
    )
    if masks is not None:
        f = float(cfg.mask_ray_fraction)
        inside = masks.sum((1, 2)).clamp(min=1)[:, None, None]
        outside = (1 - masks).sum((1, 2)).clamp(min=1)[:, None, None]
        ray_weights = f * masks / inside + (1 - f) * (1 - masks) / outside + 1e-9
    else:
        ray_weights = None
    levels = field.sdf.encoding.n_levels if field.sdf.encoding is not None else 0
    start_levels = min(cfg.start_levels, levels) if levels else 0
    full_at = max(1, int(cfg.levels_full_at * steps))
    warm_steps = int(cfg.sharpness_warmup * steps)
    s0 = float(field.sharpness().detach())
    s_end = float(cfg.sharpness_warmup_end)

    def set_schedule(step: int) -> None:
        if levels:
            k = start_levels + (levels - start_levels) * min(1.0, step / full_at)
            field.sdf.set_active_levels(int(k))
        if step < warm_steps:  # geometric ramp of the cap from s0 to s_end
            field.sharpness_cap = s0 * (s_end / s0) ** (step / warm_steps)
        else:
            field.sharpness_cap = None

    def step_fn(step: int):
        set_schedule(step)
        if (
            field.grid is not None
            and step >= cfg.grid_warmup
            and (step % cfg.grid_every == 0 or not field.grid_active)
        ):
            field.update_grid()
        idx = torch.randperm(len(train), device=device)[:nv]
        cams = train.cameras[idx.tolist()]
        mask_arg = ray_weights[idx] if ray_weights is not None else None
        bundle = sampler(cams, mask=mask_arg)
        xys = bundle.xys.reshape(nv, -1, 2)
        target = ndc_grid_sample(images[idx], xys).permute(0, 2, 1).reshape(-1, 3)
        out = field.render_rays(
            bundle.origins.reshape(-1, 3), bundle.directions.reshape(-1, 3), bg, train=True
        )
        l_rgb = (out["rgb"] - target).abs().mean()
        # Eikonal on the evaluated samples and on random points of the cube.
        rand_pts = (torch.rand(256, 3, device=device) * 2 - 1) * cfg.bound
        _, g_rand, _ = field.sdf.sdf_and_gradient(rand_pts, True, fd_eps=field.fd_eps)
        l_eik = eikonal_loss(torch.cat([out["gradients"], g_rand]))
        loss = l_rgb + cfg.w_eikonal * l_eik
        scalars = {"rgb": l_rgb.detach(), "eikonal": l_eik.detach()}
        if cfg.w_min_occupancy > 0 or cfg.w_min_area > 0:
            occ_pts = (torch.rand(cfg.occupancy_points, 3, device=device) * 2 - 1) * cfg.bound
            occ_sdf = field.sdf.sdf(occ_pts)
            if cfg.w_min_occupancy > 0:
                l_occ = minimal_occupancy_loss(occ_sdf, cfg.occupancy_band)
                loss = loss + cfg.w_min_occupancy * l_occ
                scalars["occupancy"] = l_occ.detach()
            if cfg.w_min_area > 0:
                l_area = surface_area_loss(occ_sdf, cfg.occupancy_band)
                loss = loss + cfg.w_min_area * l_area
                scalars["area"] = l_area.detach()
        if masks is not None and cfg.w_mask > 0:
            m = ndc_grid_sample(masks[idx][:, None], xys).reshape(-1)
            l_mask = mask_bce_loss(out["opacity"], m.clamp(0, 1))
            loss = loss + cfg.w_mask * l_mask
            scalars["mask"] = l_mask.detach()
        if depths is not None and cfg.w_depth > 0:
            z = ndc_grid_sample(depths[idx][:, None], xys, mode="nearest").reshape(-1)
            # View-space depth z -> length along the unit ray: z / (d . view axis).
            axis = cams.R[:, :, 2]  # (nv, 3) world direction of the view's +Z
            d = bundle.directions.reshape(nv, -1, 3)
            d_z = (d * axis[:, None]).sum(-1).reshape(-1)
            valid = z > 0
            if bool(valid.any()):
                l_depth = (out["depth"][valid] - z[valid] / d_z[valid]).abs().mean()
                loss = loss + cfg.w_depth * l_depth
                scalars["depth"] = l_depth.detach()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        psnr = -10.0 * torch.log10(((out["rgb"] - target) ** 2).mean().clamp(min=1e-10))
        scalars.update(loss=loss.detach(), psnr=psnr.detach(), s=field.current_sharpness().detach())
        return scalars

    state = {"field": field, "optimizer": opt, "scheduler": sched}
    result = loop.run(step_fn, steps, state=state, desc="sdf")
    set_schedule(steps)
    field.update_grid()
    field.eval()
    mesh = extract_mesh(field, cfg.mesh_resolution, cfg.bound, device)

    def render(cameras) -> torch.Tensor:
        return field.render_images(cameras, (h, w), tuple(bg.tolist()))

    return Reconstruction(
        mesh=mesh,
        render=render,
        history=result.history,
        steps=result.steps,
        artifacts={
            "field": field.state_dict(),
            "metrics": {"sharpness": float(field.sharpness().detach())},
        },
    )


register("sdf", SdfConfig, fit, "signed distance field rendered volumetrically (NeuS, hash grid)")
