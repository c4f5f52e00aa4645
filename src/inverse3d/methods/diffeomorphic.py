"""Method "diffeomorphic": a sphere deformed by the flow of a neural velocity field.

The surface is the image of an ico-sphere under the map obtained by integrating a velocity field
v(x, t) (`models.VelocityField`, an MLP of the point and the time) from t = 0 to 1 in T steps
(`models.integrate_flow`, Euler or RK4, each step gradient-checkpointed so that memory does not
grow with T). Each step is a small smooth displacement: the mesh keeps the sphere's topology
(genus 0: a handle's hole cannot open). The field's Lipschitz constant is bounded so that
dt * Lip(v) < 1 (`step_lipschitz`): each Euler step is then injective and the mesh cannot fold
or self-intersect, whatever the optimiser does (without the bound, a large learning rate with
few steps does fold it).

Appearance is a neural albedo on the sphere's parameterisation: an MLP of the undeformed sphere
point, so colours follow the deformation. It is shown unlit (the albedo is the radiance: right
for any view-independent appearance, e.g. a Lambertian object under fixed lights), or shaded per
vertex under one known light (point or directional) with the Lambertian or the Cook-Torrance
BRDF (`renderer.mesh.cook_torrance`).

Each step renders a few training views with the soft rasterizer (optionally a random
crop_ratio x crop_ratio window of each, by changing the intrinsics: `renderer.crop`) and
minimises the soft-silhouette MSE (with masks), the RGB MSE, an L1 depth term (with depths) and
optional Laplacian / normal-consistency / edge regularisers. Without masks nothing keeps the mesh
in the frame: the run watches the rendered silhouette coverage and the share of vertices that
project inside the images, and stops with `MeshLeftFrameError` (an input error: exit code 2)
when they collapse, instead of writing a mesh that is not there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from inverse3d.common.errors import InputError
from inverse3d.engine import Loop, exponential_lr_decay
from inverse3d.loss.mesh_edge_loss import mesh_edge_loss
from inverse3d.loss.mesh_laplacian_smoothing import mesh_laplacian_smoothing
from inverse3d.loss.mesh_normal_consistency import mesh_normal_consistency
from inverse3d.methods.base import Reconstruction, register, setting
from inverse3d.models.velocity_field import FLOW_METHODS, VelocityField, integrate_flow
from inverse3d.ops.image_resize import resize_images
from inverse3d.renderer.blending import BlendParams, softmax_rgb_blend
from inverse3d.renderer.cameras import PerspectiveCameras
from inverse3d.renderer.crop import crop_cameras, crop_images, ndc_cameras, random_crop_windows
from inverse3d.renderer.implicit.harmonic_embedding import HarmonicEmbedding
from inverse3d.renderer.lighting import DirectionalLights, PointLights
from inverse3d.renderer.mesh.cook_torrance import cook_torrance_radiance
from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
from inverse3d.renderer.mesh.render_views import render_mesh_views
from inverse3d.renderer.mesh.textures import TexturesVertex
from inverse3d.structures.meshes import Meshes
from inverse3d.utils.ico_sphere import ico_sphere

__all__ = ["DiffeomorphicConfig", "MeshLeftFrameError", "fit"]


class MeshLeftFrameError(InputError):
    """A run without masks whose mesh left the images (silhouette coverage collapsed)."""


@dataclass
class DiffeomorphicConfig:
    """Settings of the "diffeomorphic" method (sphere deformed by a neural flow)."""

    steps: int = setting(600, "optimisation steps", low=0)
    flow_steps: int = setting(20, "integration steps T of the flow from t = 0 to 1", low=1)
    integrator: str = setting("euler", "integration scheme of the flow", choices=FLOW_METHODS)
    checkpoint: bool = setting(
        True, "recompute each flow step in the backward pass (memory independent of T)"
    )
    step_lipschitz: float = setting(
        0.9,
        "bound on dt x the field's Lipschitz constant (< 1: each Euler step is injective, so "
        "the mesh cannot fold; rk4 needs <= 0.6); 0: unconstrained",
        low=0.0,
    )
    sphere_level: int = setting(4, "ico-sphere subdivision level (4: 2562 vertices)", low=0, high=7)
    sphere_radius: float = setting(0.75, "radius of the starting sphere", low=1e-3)
    hidden_dim: int = setting(128, "width of the velocity MLP", low=1)
    n_layers: int = setting(3, "hidden layers of the velocity MLP", low=1)
    n_harmonic: int = setting(
        4, "harmonic frequencies of the velocity field's position input", low=0
    )
    albedo_hidden: int = setting(64, "width of the albedo MLP", low=1)
    albedo_harmonic: int = setting(
        6, "harmonic frequencies of the albedo MLP's input (the sphere point)", low=0
    )
    shading: str = setting(
        "unlit",
        "appearance: unlit albedo, or albedo shaded under the light (lambertian, cook-torrance)",
        choices=("unlit", "lambertian", "cook-torrance"),
    )
    light: str = setting("point", "kind of the known light", choices=("point", "directional"))
    light_position: tuple[float, ...] = setting(
        (2.0, 3.0, 2.0),
        "light position (point) or direction towards it (directional); the rings rig's light",
    )
    light_intensity: float = setting(0.8, "diffuse colour (grey) of the light", low=0.0)
    ambient: float = setting(0.2, "ambient light (grey)", low=0.0)
    roughness: float = setting(0.5, "Cook-Torrance roughness", low=0.0, high=1.0)
    f0: float = setting(
        0.04, "Cook-Torrance Fresnel reflectance at normal incidence", low=0.0, high=1.0
    )
    ks: float = setting(0.3, "Cook-Torrance weight of the specular lobe", low=0.0, high=1.0)
    image_size: int = setting(96, "longer side of the images the fitting renders", low=8)
    crop_ratio: float = setting(
        1.0,
        "render a random crop_ratio x crop_ratio window of each view per step",
        low=0.05,
        high=1.0,
    )
    views_per_step: int = setting(4, "training views rendered per step", low=1)
    lr: float = setting(
        3e-3,
        "Adam learning rate of the velocity field (decays to lr * lr_final_ratio)",
        low=0.0,
        high=1.0,
    )
    lr_final_ratio: float = setting(
        0.1,
        "learning rates at the last step relative to the first (exponential decay; 1: none)",
        low=0.0,
        high=1.0,
    )
    max_grad_norm: float = setting(1.0, "gradient norm clipping (0: none)", low=0.0)
    lr_albedo: float = setting(5e-3, "Adam learning rate of the albedo MLP", low=0.0, high=1.0)
    sigma: float = setting(
        1e-4, "soft rasterizer sharpness (blur radius = log(1/1e-4 - 1) sigma)", low=0.0
    )
    faces_per_pixel: int = setting(10, "faces blended per pixel", low=1)
    w_silhouette: float = setting(1.0, "weight of the soft silhouette MSE (with masks)", low=0.0)
    w_rgb: float = setting(1.0, "weight of the RGB MSE", low=0.0)
    w_depth: float = setting(0.5, "weight of the L1 depth loss (only with depths)", low=0.0)
    w_laplacian: float = setting(0.05, "weight of mesh_laplacian_smoothing (uniform)", low=0.0)
    w_normal: float = setting(0.01, "weight of mesh_normal_consistency", low=0.0)
    w_edge: float = setting(0.0, "weight of mesh_edge_loss", low=0.0)
    min_coverage: float = setting(
        0.2,
        "without masks: stop when the silhouette coverage falls below this fraction of the "
        "starting sphere's (or under half the vertices project inside the images)",
        low=0.0,
        high=1.0,
    )


class _Model(nn.Module):
    """Velocity field + albedo MLP over the fixed ico-sphere."""

    def __init__(self, cfg: DiffeomorphicConfig, device: torch.device) -> None:
        super().__init__()
        sphere = ico_sphere(cfg.sphere_level, device=device)
        self.register_buffer("sphere", sphere.verts_packed() * cfg.sphere_radius)
        self.register_buffer("faces", sphere.faces_packed())
        lip = cfg.step_lipschitz * cfg.flow_steps if cfg.step_lipschitz > 0 else None
        self.field = VelocityField(cfg.hidden_dim, cfg.n_layers, cfg.n_harmonic, lipschitz=lip)
        self.embed = HarmonicEmbedding(cfg.albedo_harmonic)
        d_in = 3 * (2 * cfg.albedo_harmonic + 1)
        self.albedo_net = nn.Sequential(
            nn.Linear(d_in, cfg.albedo_hidden),
            nn.ReLU(),
            nn.Linear(cfg.albedo_hidden, cfg.albedo_hidden),
            nn.ReLU(),
            nn.Linear(cfg.albedo_hidden, 3),
        )
        self.cfg = cfg
        self.to(device)

    def verts(self) -> torch.Tensor:
        """(V, 3) vertices of the deformed sphere."""
        c = self.cfg
        return integrate_flow(
            self.field, self.sphere, c.flow_steps, method=c.integrator, checkpoint=c.checkpoint
        )

    def albedo(self) -> torch.Tensor:
        """(V, 3) albedo in (0, 1), a function of the undeformed sphere point."""
        return torch.sigmoid(self.albedo_net(self.embed(self.sphere / self.cfg.sphere_radius)))


def _lights(cfg: DiffeomorphicConfig, device):
    grey = lambda v: ((float(v),) * 3,)  # noqa: E731
    kw = dict(
        ambient_color=grey(cfg.ambient),
        diffuse_color=grey(cfg.light_intensity),
        specular_color=grey(0.0),
        device=device,
    )
    pos = (tuple(float(x) for x in cfg.light_position),)
    if cfg.light == "point":
        return PointLights(location=pos, **kw)
    return DirectionalLights(direction=pos, **kw)


def _vertex_colors(cfg, verts, faces, albedo, lights, cam_centres) -> torch.Tensor:
    """(B, V, 3) radiance of the vertices towards B cameras with centres (B, 3)."""
    b = cam_centres.shape[0]
    if cfg.shading == "unlit":
        return albedo[None].expand(b, -1, -1)
    normals = Meshes([verts], [faces]).verts_normals_packed()
    ks = cfg.ks if cfg.shading == "cook-torrance" else 0.0
    return cook_torrance_radiance(
        verts[None].expand(b, -1, -1),
        normals[None].expand(b, -1, -1),
        albedo[None].expand(b, -1, -1),
        lights,
        cam_centres,
        roughness=cfg.roughness,
        f0=cfg.f0,
        ks=ks,
    )


def _check_cameras(cameras, crop: bool):
    if not crop:
        return cameras
    if not isinstance(cameras, PerspectiveCameras) or cameras.K is not None:
        raise InputError(
            "--crop-ratio < 1 needs PerspectiveCameras given by focal length and principal "
            f"point; got {type(cameras).__name__}"
        )
    return ndc_cameras(cameras)


class _FrameWatch:
    """Without masks: the mesh leaving the frame (coverage collapsing) stops the run."""

    def __init__(self, cfg: DiffeomorphicConfig, cameras, size) -> None:
        self.cfg, self.cameras, self.size = cfg, cameras, size
        self.reference: float | None = None
        self.ema: float | None = None

    def in_frame(self, verts: torch.Tensor, idx: list[int]) -> float:
        cams = self.cameras[idx]
        p = cams.transform_points_ndc(verts.detach()[None].expand(len(idx), -1, -1))
        h, w = self.size
        s = min(h, w)
        lim = torch.tensor([w / s, h / s], device=p.device, dtype=p.dtype)
        depth_ok = (
            cams.get_world_to_view_transform().transform_points(verts.detach()[None])[..., 2] > 0
        )
        inside = (p[..., :2].abs() <= lim).all(-1) & depth_ok
        return float(inside.float().mean())

    def check(self, step: int, coverage: float, verts: torch.Tensor, idx: list[int]) -> None:
        self.ema = coverage if self.ema is None else 0.8 * self.ema + 0.2 * coverage
        if self.reference is None:
            self.reference = max(coverage, 1e-6)
        frac = self.in_frame(verts, idx)
        if self.ema < self.cfg.min_coverage * self.reference or frac < 0.5:
            raise MeshLeftFrameError(
                f"the mesh left the frame at step {step} (silhouette coverage {self.ema:.3g}, "
                f"{self.cfg.min_coverage:g} x the starting {self.reference:.3g} is the limit; "
                f"{100 * frac:.0f}% of the vertices project inside the images): the data has no "
                "masks, and nothing else keeps the surface in view; no mesh was written. Give "
                "masks (a masks/ folder or RGBA images), or lower --lr"
            )


def fit(config: DiffeomorphicConfig, scene, loop: Loop) -> Reconstruction:
    """Fit a deformed sphere with a neural albedo to the training views of `scene`."""
    cfg = config
    if len(tuple(cfg.light_position)) != 3:
        raise InputError(f"light_position must have 3 numbers; got {cfg.light_position!r}")
    device = scene.images.device
    train = scene.train()
    if len(train) == 0:
        raise ValueError("the scene has no training views")
    bg = scene.background()
    h, w = scene.image_size
    scale = cfg.image_size / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    images = resize_images(train.images, size)
    masks = resize_images(train.masks, size) if train.masks is not None else None
    depths = None
    if train.depths is not None and cfg.w_depth > 0:
        depths = F.interpolate(train.depths[:, None], size=size)[:, 0]
    crop = cfg.crop_ratio < 1.0
    cameras = _check_cameras(train.cameras, crop)
    lights = _lights(cfg, device)

    model = _Model(cfg, device)
    optimizer = torch.optim.Adam(
        [
            {"params": model.field.parameters(), "lr": cfg.lr},
            {"params": model.albedo_net.parameters(), "lr": cfg.lr_albedo},
        ]
    )
    scheduler = exponential_lr_decay(optimizer, cfg.lr_final_ratio, cfg.steps)
    blur = math.log(1.0 / 1e-4 - 1.0) * cfg.sigma
    blend = BlendParams(sigma=cfg.sigma, gamma=1e-4, background_color=bg)
    nv = min(cfg.views_per_step, len(train))
    watch = _FrameWatch(cfg, cameras, size) if masks is None else None
    gen = torch.Generator().manual_seed(int(torch.initial_seed()) % 2**31)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        idx = torch.randperm(len(train), generator=gen)[:nv].tolist()
        cams = cameras[idx]
        tgt_rgb, tgt_mask = images[idx], masks[idx] if masks is not None else None
        tgt_depth = depths[idx] if depths is not None else None
        rsize = size
        if crop:
            tops, lefts, ch, cw = random_crop_windows(nv, size, cfg.crop_ratio, generator=gen)
            tops, lefts = tops.to(device), lefts.to(device)
            cams = crop_cameras(cams, size, tops, lefts, ch, cw)
            rsize = (ch, cw)
            tgt_rgb = crop_images(tgt_rgb, tops, lefts, ch, cw)
            tgt_mask = crop_images(tgt_mask, tops, lefts, ch, cw) if tgt_mask is not None else None
            tgt_depth = (
                crop_images(tgt_depth, tops, lefts, ch, cw) if tgt_depth is not None else None
            )
        verts = model.verts()
        albedo = model.albedo()
        colors = _vertex_colors(cfg, verts, model.faces, albedo, lights, cams.get_camera_center())
        mesh = Meshes([verts], [model.faces])
        batch = Meshes(
            verts=[verts] * nv, faces=[model.faces] * nv, textures=TexturesVertex(list(colors))
        )
        rasterizer = MeshRasterizer(
            raster_settings=RasterizationSettings(
                image_size=rsize,
                blur_radius=blur,
                faces_per_pixel=cfg.faces_per_pixel,
            )
        )
        frags = rasterizer(batch, cameras=cams)
        rgba = softmax_rgb_blend(batch.sample_textures(frags), frags, blend, znear=0.01, zfar=100.0)
        out: dict[str, torch.Tensor] = {}
        loss = torch.zeros((), device=device)
        if tgt_mask is not None and cfg.w_silhouette > 0:
            out["silhouette"] = ((rgba[..., 3] - tgt_mask) ** 2).mean()
            loss = loss + cfg.w_silhouette * out["silhouette"]
        if cfg.w_rgb > 0:
            out["rgb"] = ((rgba[..., :3] - tgt_rgb) ** 2).mean()
            loss = loss + cfg.w_rgb * out["rgb"]
        if tgt_depth is not None:
            inside = tgt_mask > 0.99 if tgt_mask is not None else tgt_depth > 0
            sel = inside & (frags.pix_to_face[..., 0] >= 0) & (frags.dists[..., 0] <= 0)
            if sel.any():
                out["depth"] = (frags.zbuf[..., 0][sel] - tgt_depth[sel]).abs().mean()
                loss = loss + cfg.w_depth * out["depth"]
        if cfg.w_laplacian > 0:
            out["laplacian"] = mesh_laplacian_smoothing(mesh, method="uniform")
            loss = loss + cfg.w_laplacian * out["laplacian"]
        if cfg.w_normal > 0:
            out["normal"] = mesh_normal_consistency(mesh)
            loss = loss + cfg.w_normal * out["normal"]
        if cfg.w_edge > 0:
            out["edge"] = mesh_edge_loss(mesh)
            loss = loss + cfg.w_edge * out["edge"]
        coverage = rgba[..., 3].detach().mean()
        out["coverage"] = coverage
        if watch is not None:
            watch.check(step, float(coverage), verts, idx)
        optimizer.zero_grad()
        loss.backward()
        if cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        out["loss"] = loss
        return out

    state = {"model": model, "optimizer": optimizer, "scheduler": scheduler}
    result = loop.run(step_fn, cfg.steps, state, desc="diffeomorphic")
    with torch.no_grad():
        verts = model.verts()
        albedo = model.albedo()
        if cfg.shading == "cook-torrance":
            baked = albedo  # view-dependent: the mesh file keeps the albedo
        else:
            baked = _vertex_colors(cfg, verts, model.faces, albedo, lights, verts.new_zeros(1, 3))[
                0
            ]
    faces = model.faces
    mesh = Meshes([verts], [faces], textures=TexturesVertex([baked.clamp(0, 1)]))

    def render(cams) -> torch.Tensor:
        if cfg.shading != "cook-torrance":
            return render_mesh_views(mesh, cams, (h, w), background=bg)
        outs = []
        for i in range(len(cams)):
            cam = cams[[i]]
            with torch.no_grad():
                col = _vertex_colors(cfg, verts, faces, albedo, lights, cam.get_camera_center())
            m = Meshes([verts], [faces], textures=TexturesVertex([col[0].clamp(0, 1)]))
            outs.append(render_mesh_views(m, cam, (h, w), background=bg))
        return torch.cat(outs)

    artifacts: dict[str, Any] = {"field": model.state_dict()}
    return Reconstruction(
        mesh=mesh, render=render, history=result.history, steps=result.steps, artifacts=artifacts
    )


register(
    "diffeomorphic",
    DiffeomorphicConfig,
    fit,
    "sphere deformed by the flow of a neural velocity field (genus 0, never self-intersects)",
)
