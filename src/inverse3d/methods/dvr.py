"""Method "dvr": Differentiable Volumetric Rendering (Niemeyer et al. 2020), the seed system.

An occupancy network (`models.implicit_surface.OccupancyNetwork`: a linear layer, residual
fully-connected blocks, one occupancy logit and 3 colours) defines the surface where the
occupancy is 0.5 (logit 0). Each pixel's ray is intersected with the cube [-bound, bound]^3 and
n points spread evenly between entry and exit; the first change of the occupancy from outside
to inside is refined by the secant method (`renderer.implicit.surface.find_surface`) and made
differentiable by implicit differentiation (`surface_depth`): the colour of the surface point is
compared with the pixel. n starts at `n_samples` and doubles at the steps `double_at`.

Losses (`loss.implicit_surface`): L1 RGB on the rays inside the mask that hit the surface;
free-space BCE (occupancy 0) at a random point of each ray outside the mask and at the surface
it wrongly found (detached: through the implicit gradient the logit at a root is 0 whatever the
parameters, so that loss would have no gradient); occupancy BCE (occupancy 1) at one point of
each ray inside the mask that found no surface (`occupancy_point`: "max", the sample of the
dense search with the highest logit, or "random"); normal smoothness between each surface point and a random neighbour within
`normal_radius`; L1 on the surface depth when depth maps are used (`depth`: "dense" on every
sampled pixel with depth; "sparse", as for SfM points: a quarter of the rays drawn among the
pixels with depth, the others as without depth; the RGB and normal losses use the same rays).
Like DVR's, each loss is summed over its points and divided by the number of rays of the step,
so that every ray weighs the same (a mean per loss would let the few rays that miss outweigh
hundreds of free-space rays).

Without masks the mask is taken as the pixels that differ from the background colour by more
than 0.03 (a uniform background is required: when more than `MAX_KEYED_SHARE` of the pixels
differ, as in a capture of a room, the fit is refused with a message naming the methods that
model a background). With masks, `background_model` "environment" or "outer" renders the rays
that miss the surface with a `models.BackgroundModel` fitted (L1) to the pixels outside the
masks, so held-out views show the surroundings; dvr cannot learn one without masks (its
silhouette losses need them).

The mesh is the marching-cubes surface of the occupancy logit at 0 on a `mesh_resolution`^3
grid, with vertex colours from the texture head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from inverse3d._validation import check_positive_int
from inverse3d.engine import Loop
from inverse3d.loss.implicit_surface import normal_smoothness_loss, occupancy_bce_loss
from inverse3d.methods.base import BackgroundSettings, Reconstruction, register, setting
from inverse3d.models.background import BACKGROUND_CHOICES, BackgroundModel
from inverse3d.models.implicit_surface import OccupancyNetwork
from inverse3d.ops.marching_cubes import marching_cubes
from inverse3d.renderer.implicit.raysampling import NDCMultinomialRaysampler
from inverse3d.renderer.implicit.surface import (
    find_surface,
    max_along_rays,
    ray_box_intersection,
    surface_depth,
)
from inverse3d.renderer.mesh.textures import TexturesVertex
from inverse3d.renderer.utils import ndc_grid_sample
from inverse3d.structures.meshes import Meshes

__all__ = ["DvrConfig", "fit", "MAX_KEYED_SHARE"]

# Without masks, the share of pixels that may differ from the background colour: above it the
# background is not uniform (a capture with surroundings) and the keyed masks would be the image.
MAX_KEYED_SHARE = 0.6


@dataclass
class DvrConfig(BackgroundSettings):
    """Settings of the "dvr" method (occupancy network, secant ray casting)."""

    steps: int = setting(1000, "optimisation steps", low=0)
    lr: float = setting(1e-3, "Adam learning rate", low=0, high=1)
    width: int = setting(128, "hidden width of the occupancy network (DVR: 512)", low=1)
    n_blocks: int = setting(3, "residual blocks (DVR: 5)", low=0)
    encoding: str = setting(
        "harmonic", "input encoding of the point", choices=("none", "harmonic", "hash")
    )
    n_harmonic: int = setting(6, "frequencies of the harmonic encoding", low=1)
    views_per_step: int = setting(4, "training views per step", low=1)
    rays_per_step: int = setting(1024, "rays per step (over all its views)", low=1)
    n_samples: int = setting(16, "samples of the ray's dense search at step 0", low=2)
    double_at: tuple[int, ...] = setting((200, 500), "steps at which n_samples doubles", low=0)
    n_secant: int = setting(8, "secant refinement steps", low=0)
    bound: float = setting(1.0, "half side of the cube [-bound, bound]^3 holding the object", low=0)
    w_rgb: float = setting(1.0, "weight of the L1 RGB loss", low=0)
    w_freespace: float = setting(1.0, "weight of the free-space BCE", low=0)
    w_occupancy: float = setting(1.0, "weight of the occupancy BCE", low=0)
    w_normal: float = setting(0.05, "weight of the normal smoothness loss", low=0)
    occupancy_point: str = setting(
        "max",
        "point of the occupancy loss on a masked ray that missed: the dense-search sample "
        "with the highest logit, or a random one",
        choices=("max", "random"),
    )
    normal_radius: float = setting(1e-3, "neighbour distance of the normal loss", low=0)
    use_depth: bool = setting(True, "use the data's depth maps (when it has them)")
    depth: str = setting(
        "dense", "how depth maps are used (with use_depth)", choices=("none", "dense", "sparse")
    )
    w_depth: float = setting(1.0, "weight of the L1 depth loss", low=0)
    mesh_resolution: int = setting(128, "grid size of the marching cubes", low=8)
    render_chunk: int = setting(8192, "rays per chunk when rendering whole images", low=1)
    background_model: str = setting(
        "auto",
        "what the rays that miss the surface see: data: the scene's uniform background colour; "
        "environment: a learned colour per direction; outer: a NeRF++ outer field (inverted "
        "sphere, parallax); both need masks (dvr's silhouettes come from them); auto: data",
        choices=BACKGROUND_CHOICES,
    )


def _logit_fn(net: OccupancyNetwork):
    return lambda p: net.occupancy_logit(p).reshape(-1)


def _normals(net: OccupancyNetwork, points: torch.Tensor) -> torch.Tensor:
    """Unit normals (P, 3): minus the normalised gradient of the logit (outwards)."""
    with torch.enable_grad():
        x = points if points.requires_grad else points.detach().requires_grad_(True)
        logit = net.occupancy_logit(x)
        (g,) = torch.autograd.grad(logit.sum(), x, create_graph=True)
    return -F.normalize(g, dim=-1)


def _cast(net, origins, directions, bound, n_samples, n_secant):
    near, far, inside_box = ray_box_intersection(origins, directions, bound)
    t, hit = find_surface(_logit_fn(net), origins, directions, near, far, n_samples, n_secant)
    return near, far, t, hit & inside_box


def fit(config: DvrConfig, scene, loop: Loop) -> Reconstruction:
    """Fit a DVR occupancy network to `scene` (working frame); return its mesh and renderer."""
    cfg = config
    steps = int(cfg.steps)
    if steps < 0:
        raise ValueError(f"steps must be >= 0; got {steps}")
    check_positive_int(cfg.rays_per_step, "rays_per_step")
    device = scene.images.device
    train = scene.train()
    bg = torch.tensor(scene.background(), dtype=torch.float32, device=device)
    h, w = scene.image_size
    net = OccupancyNetwork(
        width=cfg.width,
        n_blocks=cfg.n_blocks,
        encoding=cfg.encoding,
        n_harmonic=cfg.n_harmonic,
        bound=cfg.bound,
    ).to(device)
    images = train.images.permute(0, 3, 1, 2)  # (N, 3, H, W)
    if train.masks is not None:
        masks = train.masks
    else:
        if cfg.background_model in ("environment", "outer"):
            raise ValueError(
                f"dvr's background_model {cfg.background_model!r} needs masks: dvr learns the "
                "silhouette from masks, and the data has none (sdf and volume learn a "
                "background model without masks)"
            )
        masks = ((train.images - bg).abs().amax(-1) > 0.03).float()
        if float(masks.mean()) > MAX_KEYED_SHARE:
            raise ValueError(
                f"dvr needs masks or a uniform background: the data has no masks and "
                f"{float(masks.mean()):.0%} of its pixels differ from the background colour "
                f"{tuple(round(float(c), 3) for c in bg)} (a scene with surroundings); use sdf "
                "or volume, whose background model renders the surroundings"
            )
    background = None
    groups = [{"params": list(net.parameters()), "lr": cfg.lr}]
    if cfg.background_model in ("environment", "outer"):
        background = BackgroundModel(
            cfg.background_model,
            cfg.bound,
            cfg.environment_size,
            cfg.background_layers,
            cfg.background_samples,
        ).to(device)
        groups.append({"params": list(background.parameters()), "lr": cfg.lr_background})
    opt = torch.optim.Adam(groups, lr=cfg.lr)
    use_depth = cfg.use_depth and cfg.depth != "none" and train.depths is not None
    depths = train.depths if use_depth else None
    nv = min(check_positive_int(cfg.views_per_step, "views_per_step"), len(train))
    n_rays = max(2, cfg.rays_per_step // nv)
    n_sparse = n_rays // 4 if (depths is not None and cfg.depth == "sparse") else 0
    sampler = NDCMultinomialRaysampler(
        image_width=w,
        image_height=h,
        n_pts_per_ray=0,
        min_depth=0.1,
        max_depth=10.0,
        n_rays_per_image=n_rays - n_sparse,
        unit_directions=True,
    )
    sparse_sampler = (
        NDCMultinomialRaysampler(
            image_width=w,
            image_height=h,
            n_pts_per_ray=0,
            min_depth=0.1,
            max_depth=10.0,
            n_rays_per_image=n_sparse,
            unit_directions=True,
        )
        if n_sparse
        else None
    )
    inside_n = masks.sum((1, 2)).clamp(min=1)[:, None, None]
    outside_n = (1 - masks).sum((1, 2)).clamp(min=1)[:, None, None]
    ray_weights = 0.5 * masks / inside_n + 0.5 * (1 - masks) / outside_n + 1e-9

    def n_samples_at(step: int) -> int:
        return cfg.n_samples * 2 ** sum(1 for s in cfg.double_at if step >= s)

    def step_fn(step: int):
        idx = torch.randperm(len(train), device=device)[:nv]
        cams = train.cameras[idx.tolist()]
        bundle = sampler(cams, mask=ray_weights[idx])
        xys, o, d = bundle.xys.reshape(nv, -1, 2), bundle.origins, bundle.directions
        if sparse_sampler is not None:
            b2 = sparse_sampler(cams, mask=(depths[idx] > 0).float() + 1e-9)
            xys = torch.cat([xys, b2.xys.reshape(nv, -1, 2)], 1)
            o = torch.cat([o.reshape(nv, -1, 3), b2.origins.reshape(nv, -1, 3)], 1)
            d = torch.cat([d.reshape(nv, -1, 3), b2.directions.reshape(nv, -1, 3)], 1)
        o, d = o.reshape(-1, 3), d.reshape(-1, 3)
        target = ndc_grid_sample(images[idx], xys).permute(0, 2, 1).reshape(-1, 3)
        m = ndc_grid_sample(masks[idx][:, None], xys, mode="nearest").reshape(-1) > 0.5
        near, far, t_hat, hit = _cast(net, o, d, cfg.bound, n_samples_at(step), cfg.n_secant)
        zero = o.new_zeros(())
        scalars = {}
        # Surface points of the rays that hit, differentiable through implicit differentiation.
        sel = hit.nonzero().squeeze(-1)
        t_s, p_s = surface_depth(_logit_fn(net), o[sel], d[sel], t_hat[sel])
        in_hit = m[sel]
        n_all = float(o.shape[0])
        l_rgb = zero
        if bool(in_hit.any()):
            rgb = net(p_s[in_hit])[1]
            l_rgb = (rgb - target[sel][in_hit]).abs().sum(-1).mean()
        # Free space: a random point of every ray outside the mask, and its wrong surface point
        # (detached: the logit at a differentiable root is identically 0, no gradient).
        out_rays = (~m).nonzero().squeeze(-1)
        u = torch.rand(out_rays.shape[0], device=device)
        t_rand = near[out_rays] + (far[out_rays] - near[out_rays]) * u
        p_free = torch.cat([o[out_rays] + t_rand[:, None] * d[out_rays], p_s.detach()[~in_hit]])
        l_free = occupancy_bce_loss(net.occupancy_logit(p_free).reshape(-1), occupied=False)
        # Occupied: one point of each ray inside the mask that found no surface.
        miss = (m & ~hit).nonzero().squeeze(-1)
        if cfg.occupancy_point == "max":
            t_occ, _ = max_along_rays(
                _logit_fn(net), o[miss], d[miss], near[miss], far[miss], n_samples_at(step)
            )
            p_occ = o[miss] + t_occ[:, None] * d[miss]
        else:
            u = torch.rand(miss.shape[0], device=device)
            p_occ = o[miss] + (near[miss] + (far[miss] - near[miss]) * u)[:, None] * d[miss]
        l_occ = occupancy_bce_loss(net.occupancy_logit(p_occ).reshape(-1), occupied=True)
        # Every ray weighs the same (DVR's sum over points / batch): each mean times its share.
        loss = (
            cfg.w_rgb * l_rgb * (in_hit.sum() / n_all)
            + cfg.w_freespace * l_free * (p_free.shape[0] / n_all)
            + cfg.w_occupancy * l_occ * (p_occ.shape[0] / n_all)
        )
        if background is not None and bool(out_rays.numel()):
            # the background model sees the rays outside the masks (the surface's own wrong hits
            # there are pushed away by the free-space loss)
            c_bg = background(o[out_rays], d[out_rays], stratified=True)
            l_bg = (c_bg - target[out_rays]).abs().sum(-1).mean()
            loss = loss + cfg.w_rgb * l_bg * (out_rays.shape[0] / n_all)
            scalars["background"] = l_bg.detach()
        if cfg.w_normal > 0 and bool(in_hit.any()):
            p_n = p_s[in_hit]
            q = p_n + F.normalize(torch.randn_like(p_n), dim=-1) * cfg.normal_radius
            l_normal = normal_smoothness_loss(_normals(net, p_n), _normals(net, q))
            loss = loss + cfg.w_normal * l_normal * (p_n.shape[0] / n_all)
            scalars["normal"] = l_normal.detach()
        if depths is not None and cfg.w_depth > 0:
            z = ndc_grid_sample(depths[idx][:, None], xys, mode="nearest").reshape(-1)[sel]
            axis = cams.R[:, :, 2]  # (nv, 3) world direction of the view's +Z
            view = torch.arange(nv, device=device).repeat_interleave(xys.shape[1])[sel]
            d_z = (d[sel] * axis[view]).sum(-1)
            valid = z > 0
            if bool(valid.any()):
                l_depth = (t_s[valid] - z[valid] / d_z[valid]).abs().mean()
                loss = loss + cfg.w_depth * l_depth * (valid.sum() / n_all)
                scalars["depth"] = l_depth.detach()
        opt.zero_grad(set_to_none=True)
        if loss.requires_grad:
            loss.backward()
        opt.step()  # also without gradients (a no-op then): data-parallel ranks step together
        scalars.update(
            loss=loss.detach(),
            rgb=l_rgb.detach(),
            free=l_free.detach(),
            occ=l_occ.detach(),
            hit=hit.float().mean(),
        )
        return scalars

    state = {"net": net, "optimizer": opt}
    if background is not None:
        state["background"] = background
    result = loop.run(step_fn, steps, state=state, desc="dvr")
    net.eval()
    n_final = n_samples_at(steps)
    mesh = _extract_mesh(net, cfg.mesh_resolution, cfg.bound, device)

    @torch.no_grad()
    def render(cameras) -> torch.Tensor:
        full = NDCMultinomialRaysampler(
            image_width=w,
            image_height=h,
            n_pts_per_ray=0,
            min_depth=0.1,
            max_depth=10.0,
            unit_directions=True,
        )
        out = []
        for i in range(len(cameras)):
            bundle = full(cameras[i])
            rows = []
            for o, d in zip(
                bundle.origins.reshape(-1, 3).split(cfg.render_chunk),
                bundle.directions.reshape(-1, 3).split(cfg.render_chunk),
            ):
                _, _, t, hit = _cast(net, o, d, cfg.bound, n_final, cfg.n_secant)
                if background is not None:
                    rgb = background(o, d)
                else:
                    rgb = bg.expand(o.shape[0], 3).clone()
                if bool(hit.any()):
                    rgb[hit] = net(o[hit] + t[hit, None] * d[hit])[1]
                rows.append(torch.cat([rgb, hit.float()[:, None]], -1))
            out.append(torch.cat(rows).reshape(h, w, 4))
        return torch.stack(out)

    return Reconstruction(
        mesh=mesh,
        render=render,
        history=result.history,
        steps=result.steps,
        artifacts={"field": net.state_dict()},
    )


@torch.no_grad()
def _extract_mesh(net: OccupancyNetwork, resolution: int, bound: float, device) -> Meshes:
    """Marching cubes of the occupancy logit at 0, vertex colours from the texture head."""
    lin = torch.linspace(-bound, bound, resolution, device=device)
    z, y, x = torch.meshgrid(lin, lin, lin, indexing="ij")
    pts = torch.stack([x, y, z], -1).reshape(-1, 3)
    vals = torch.cat([net.occupancy_logit(c).reshape(-1) for c in pts.split(2**16)])
    # marching_cubes orients normals towards increasing values; negate so they point outwards.
    vol = -vals.reshape(resolution, resolution, resolution)
    verts_l, faces_l = marching_cubes(vol[None], isolevel=0.0, return_local_coords=True)
    verts, faces = verts_l[0] * bound, faces_l[0]
    if verts.shape[0] == 0:
        return Meshes([verts], [faces])
    cols = torch.cat([net(v)[1] for v in verts.split(2**16)])
    return Meshes([verts], [faces], textures=TexturesVertex(verts_features=[cols]))


register("dvr", DvrConfig, fit, "occupancy network with secant ray casting (DVR)")
