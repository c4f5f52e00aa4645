"""Method "volume": a voxel grid of densities and colours fitted by volume rendering (book ch.5).

Densities and colours are the sigmoid of logits stored on a grid over [-bound, bound]^3, rendered
with VolumeRenderer + EmissionAbsorptionRaymarcher along random rays (MonteCarloRaysampler) of
random training views, fitted with a Huber loss on the colours (composited on the data's
background, or behind the cube a `models.BackgroundModel` of the surroundings when the data has
no masks: `background_model`) and on the opacity against the masks, Adam (lr 0.1). The grid goes coarse to fine
(trilinear upsampling of the logits). The mesh is the marching-cubes surface of the density grid
at `iso`, with vertex colours sampled from the colour grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from inverse3d.engine import Loop
from inverse3d.loss.ray_losses import DepthSupervision, distortion_loss, grid_tv_loss
from inverse3d.methods.base import (
    BackgroundSettings,
    PoseRefinementSettings,
    Reconstruction,
    register,
    setting,
)
from inverse3d.models.background import BACKGROUND_CHOICES, BackgroundModel, resolve_background
from inverse3d.ops.marching_cubes import marching_cubes
from inverse3d.renderer.camera_refinement import CameraRefinement
from inverse3d.renderer.implicit.image_rays import (
    cube_depth_range,
    random_pixel_rays,
    render_image_rays,
)
from inverse3d.renderer.implicit.raymarching import EmissionAbsorptionRaymarcher
from inverse3d.renderer.implicit.renderer import VolumeSampler
from inverse3d.renderer.implicit.utils import RayBundle
from inverse3d.renderer.implicit.weights import emission_absorption_weights
from inverse3d.renderer.mesh.textures import TexturesVertex
from inverse3d.renderer.utils import ndc_grid_sample
from inverse3d.structures.meshes import Meshes
from inverse3d.structures.volumes import Volumes

__all__ = ["VolumeConfig", "fit"]


@dataclass
class VolumeConfig(PoseRefinementSettings, BackgroundSettings):
    """Settings of the "volume" method (voxel grid, emission-absorption volume rendering)."""

    steps: int = setting(1000, "optimisation steps", low=0)
    grid_sizes: tuple[int, ...] = setting(
        (32, 64, 128), "grid resolution of each coarse-to-fine stage", low=2
    )
    stage_steps: tuple[int, ...] = setting(
        (200, 500), "steps at which the next grid size starts", low=0
    )
    bound: float = setting(1.0, "half side of the cube [-bound, bound]^3 the grid covers", low=1e-6)
    views_per_step: int = setting(8, "training views per step", low=1)
    rays_per_step: int = setting(4096, "rays per step (over all its views)", low=1)
    pts_per_ray: int = setting(128, "samples per ray", low=2)
    lr: float = setting(0.1, "Adam learning rate of the logits", low=0.0, high=1.0)
    huber_delta: float = setting(0.1, "delta of the Huber loss", low=0.0)
    w_mask: float = setting(1.0, "weight of the opacity-vs-mask loss (only with masks)", low=0.0)
    use_depth: bool = setting(
        True, "use the data's depth maps (if any) for the depth and free-space losses"
    )
    w_depth: float = setting(
        1.0, "weight of the L1 loss of the expected ray termination against the depth maps", low=0.0
    )
    w_free: float = setting(
        1.0, "weight of the rendering weight in front of the observed surface", low=0.0
    )
    w_tv: float = setting(0.0, "weight of the total variation of the density grid", low=0.0)
    w_distortion: float = setting(
        0.0, "weight of mip-NeRF 360's distortion loss of the rays' weights", low=0.0
    )
    init_density: float = setting(-4.0, "initial density logit")
    iso: float = setting(0.5, "density level of the extracted surface", low=0.0, high=1.0)
    background_model: str = setting(
        "auto",
        "what the rays see behind the cube: data: the scene's uniform background colour; "
        "environment: a learned colour per direction; outer: a NeRF++ outer field (inverted "
        "sphere, parallax); auto: data when the data has masks, else outer",
        choices=BACKGROUND_CHOICES,
    )


class _PoseState:
    """The pose corrections and their own optimizer (the grid's is replaced at each stage)."""

    def __init__(self, n_views: int, cfg: VolumeConfig, device) -> None:
        self.poses = CameraRefinement(n_views, fixed=[0], device=device)
        self.optimizer = torch.optim.Adam(
            [
                {"params": [self.poses.rot], "lr": cfg.lr_poses},
                {"params": [self.poses.trans], "lr": cfg.lr_poses * cfg.pose_translation_scale},
            ]
        )

    def state_dict(self) -> dict:
        return {"poses": self.poses.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, sd: dict) -> None:
        self.poses.load_state_dict(sd["poses"])
        self.optimizer.load_state_dict(sd["optimizer"])


class _BackgroundState:
    """The background model and its own optimizer (the grid's is replaced at each stage)."""

    def __init__(self, kind: str, cfg: VolumeConfig, device) -> None:
        self.model = BackgroundModel(
            kind, cfg.bound, cfg.environment_size, cfg.background_layers, cfg.background_samples
        ).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr_background)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, sd: dict) -> None:
        self.model.load_state_dict(sd["model"])
        self.optimizer.load_state_dict(sd["optimizer"])


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

    def volumes(self, n: int) -> Volumes:
        """The grid as a batch of n identical Volumes (densities and colours in [0, 1])."""
        return Volumes(
            densities=torch.sigmoid(self.dens).expand(n, -1, -1, -1, -1),
            features=torch.sigmoid(self.cols).expand(n, -1, -1, -1, -1),
            voxel_size=2.0 * self.cfg.bound / (self.size - 1),
        )

    def state_dict(self) -> dict:
        return {
            "dens": self.dens.detach(),
            "cols": self.cols.detach(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, sd: dict) -> None:
        dev = self.dens.device
        self._set(sd["dens"].to(dev), sd["cols"].to(dev), sd["optimizer"])


def _march(bundle: RayBundle, vols: Volumes, bg) -> tuple[torch.Tensor, torch.Tensor]:
    """RGBA (..., 4) on the background `bg` (a colour (3,) or one per ray (..., 3)) and weights
    (..., S) of the rays of `bundle`."""
    dens, cols = VolumeSampler(vols)(bundle)
    # strict: a density outside [0, 1] or NaN is a bug here, not something to warn about
    rgba = EmissionAbsorptionRaymarcher(strict_densities=True)(
        rays_densities=dens, rays_features=cols, ray_bundle=bundle
    )
    rgb = rgba[..., :3] + (1.0 - rgba[..., 3:]) * torch.as_tensor(bg, device=rgba.device)
    return torch.cat([rgb, rgba[..., 3:]], -1), emission_absorption_weights(dens[..., 0])


def _check_stages(cfg: VolumeConfig) -> None:
    if len(cfg.stage_steps) != len(cfg.grid_sizes) - 1:
        raise ValueError(
            f"stage_steps must have len(grid_sizes) - 1 = {len(cfg.grid_sizes) - 1} entries; "
            f"got {list(cfg.stage_steps)}"
        )


def fit(config: VolumeConfig, scene, loop: Loop) -> Reconstruction:
    """Fit a voxel grid of densities and colours to the training views of `scene`."""
    cfg = config
    _check_stages(cfg)
    sizes = list(cfg.grid_sizes)
    device = scene.images.device
    train = scene.train()
    bg = scene.background()
    h, w = scene.image_size
    near, far = cube_depth_range(train.cameras, cfg.bound)
    images = train.images.permute(0, 3, 1, 2)  # (N, 3, H, W)
    masks = train.masks[:, None] if train.masks is not None else None
    state = _GridState(sizes[0], cfg, device)
    nv = min(cfg.views_per_step, len(train))
    n_rays = max(1, cfg.rays_per_step // nv)
    depth_terms = DepthSupervision.for_rays(
        train.depths if cfg.use_depth else None, near, far, cfg.pts_per_ray, cfg.w_depth, cfg.w_free
    )
    modules: dict = {"grid": state}
    pose_state = None
    if cfg.refine_poses:
        pose_state = _PoseState(len(train), cfg, device)
        modules["poses"] = pose_state
    bg_state = None
    kind = resolve_background(cfg.background_model, scene.masks is not None)
    if kind != "data":
        bg_state = _BackgroundState(kind, cfg, device)
        modules["background"] = bg_state

    def ray_background(bundle: RayBundle, stratified: bool):
        """The data's colour, or the background model's colour of each ray (..., 3)."""
        if bg_state is None:
            return bg
        o, d = bundle.origins, bundle.directions
        c = bg_state.model(o.reshape(-1, 3), d.reshape(-1, 3), stratified=stratified)
        return c.reshape(*o.shape[:-1], 3)

    def step_fn(step: int):
        for k, s in enumerate(cfg.stage_steps):
            if step >= s and state.size < sizes[k + 1]:
                state.upsample(sizes[k + 1])
        idx = torch.randperm(len(train))[:nv].tolist()
        if pose_state is not None:
            factor = pose_state.poses.warmup_factor(step, cfg.pose_warmup)
            pose_state.optimizer.param_groups[0]["lr"] = cfg.lr_poses * factor
            pose_state.optimizer.param_groups[1]["lr"] = (
                cfg.lr_poses * cfg.pose_translation_scale * factor
            )
            pose_state.optimizer.zero_grad()
            cams = pose_state.poses(train.cameras, idx)
        else:
            cams = train.cameras[idx]
        lens = None if train.distortion is None else train.distortion[idx]
        bundle = random_pixel_rays(
            cams, (h, w), n_rays, cfg.pts_per_ray, near, far, distortion=lens
        )
        xys = bundle.xys
        pred, weights = _march(bundle, state.volumes(nv), ray_background(bundle, True))
        target = ndc_grid_sample(images[idx], xys, align_corners=False).permute(0, 2, 1)
        out = {"rgb": F.huber_loss(pred[..., :3], target, delta=cfg.huber_delta)}
        loss = out["rgb"]
        wts = weights.reshape(-1, cfg.pts_per_ray)
        t = bundle.lengths.reshape(-1, cfg.pts_per_ray)
        if depth_terms is not None:
            dl, terms = depth_terms(cams, idx, xys, bundle.origins, bundle.directions, wts, t)
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
            out["distortion"] = distortion_loss(wts, t)
            loss = loss + cfg.w_distortion * out["distortion"]
        state.optimizer.zero_grad()
        if bg_state is not None:
            bg_state.optimizer.zero_grad()
        loss.backward()
        state.optimizer.step()
        if bg_state is not None:
            bg_state.optimizer.step()
        if pose_state is not None:
            pose_state.optimizer.step()
        out["loss"] = loss
        return out

    result = loop.run(step_fn, cfg.steps, modules, desc="volume")
    # A resume past the last stage restores the final grid size (the checkpoint holds it).
    vols = state.volumes(1)

    def render(cameras, distortion=None) -> torch.Tensor:
        def rays(b: RayBundle) -> torch.Tensor:
            bb = RayBundle(
                origins=b.origins[None],
                directions=b.directions[None],
                lengths=b.lengths[None],
                xys=b.xys[None],
            )
            with torch.no_grad():
                return _march(bb, vols, ray_background(bb, False))[0][0]

        return render_image_rays(
            cameras, (h, w), rays, cfg.pts_per_ray, near, far, distortion=distortion
        )

    with torch.no_grad():
        mesh = density_mesh(
            torch.sigmoid(state.dens)[0, 0], torch.sigmoid(state.cols)[0], cfg.bound, cfg.iso
        )
    artifacts: dict = {}
    if pose_state is not None:
        pose_state.poses.add_artifacts(artifacts, train.cameras)
    return Reconstruction(
        mesh=mesh,
        render=render,
        history=result.history,
        steps=result.steps,
        artifacts=artifacts,
    )


def density_mesh(dens: torch.Tensor, cols: torch.Tensor, bound: float, iso: float) -> Meshes:
    """Marching cubes of a (D, H, W) density grid over [-bound, bound]^3 (z, y, x order), faces
    oriented outwards, vertex colours trilinearly sampled from cols (3, D, H, W)."""
    vol = F.pad(dens, (1, 1, 1, 1, 1, 1))  # closed surfaces at the border
    verts, faces = marching_cubes(vol[None], isolevel=iso, return_local_coords=False)
    v, f = verts[0].float(), faces[0].long()
    n = dens.shape[-1]
    v = ((v - 1.0) / (n - 1) * 2.0 - 1.0) * bound
    if v.shape[0] == 0:
        return Meshes([v], [f])
    grid = (v / bound).reshape(1, 1, 1, -1, 3)
    c = F.grid_sample(cols[None], grid, mode="bilinear", align_corners=True)
    c = c.reshape(3, -1).T.clamp(0, 1)
    return Meshes([v], [f[:, [0, 2, 1]]], textures=TexturesVertex([c]))


register("volume", VolumeConfig, fit, "voxel grid fitted by volume rendering (book ch.5)")
