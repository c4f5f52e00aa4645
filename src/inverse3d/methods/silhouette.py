"""Method "silhouette": a mesh fitted to silhouettes alone (SoftRas), started where the object is.

Fitting (SoftRas' mesh reconstruction from silhouettes): the soft rasterizer's alpha (sigma
1e-4, blur radius log(1/1e-4 - 1) sigma) of a few training views per step is compared with the
masks by `loss.silhouette_iou_loss` (1 - soft IoU), regularised by `mesh_laplacian_smoothing`
(uniform) and `loss.mesh_flatten_loss`; Adam moves the vertices. Colours are projected from the
training images at the end (they play no part in the fit). The history records per step the
batch's soft IoU ("soft_iou", 1 - the loss term: it scores the blurred render, which the true
mesh does not max out) and, every `hard_iou_every` steps, its hard IoU ("hard_iou": the covered
pixel centres of the same mesh and views, `render_mesh_silhouettes`, against the masks > 0.5,
pooled; the true mesh scores 0.97-0.98 centred at 64 px).

Scale: the vertex offsets are in units of the initial mesh's RMS radius r0 (so `lr` is relative
to the object's size) and the Laplacian term is divided by r0: scaling the world (object and
camera positions) scales the result. Crop (`crop`): each view is fitted in a square window
around its silhouette and the initial mesh (`ops.silhouette_init.square_windows`), rendered at
`image_size` through `renderer.crop.crop_cameras`, against the masks' windows enlarged
bilinearly: a small object gets the fitting resolution (issue 17: at 64 px an object at 0.3x
spans ~16 pixels, where the soft rasterizer's blur, fixed in pixels, swamps it).

Initial mesh (`init`):

- "auto": `ops.silhouette_init.silhouette_sphere`: an ico-sphere mapped onto the ellipsoid whose
  projections match the masks' centroids, second moments and area (`auto_fit` "moments", any
  orientation), or onto the axis-aligned one tangent to the planes of their bounding boxes
  (`auto_fit` "box", the first version);
- "sphere": the plain ico-sphere of radius 0.8 bound at the origin (SoftRas' start);
- "hull": the visual hull of the masks (`ops.visual_hull`) meshed by `ops.hull_mesh`.

The sphere level is chosen from the silhouettes at the fitting resolution
(`silhouette_sphere_level`) unless `sphere_level` is given.

Masks (`masks`): "data" uses the scene's masks (alpha channels or mask files) and computes them
when the scene has none; "auto" always computes them: DeepLabV3 when `segmentation_weights`
names a weights file, else background-colour keying from the image borders
(`ops.foreground`). The RGBA silhouettes used are returned as artifacts["images"] (written as
`silhouettes/NNN.png` by the pipeline).

Optional camera refinement (`refine_cameras`): `renderer.CameraRefinement` with pivot "origin",
a rotation (axis-angle, applied to the world before the camera's R) and a translation offset per
training view, except the first, which fixes the frame, learnt jointly with the vertices.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from inverse3d.engine import Loop
from inverse3d.loss.mesh_flatten import mesh_flatten_loss
from inverse3d.loss.mesh_laplacian_smoothing import mesh_laplacian_smoothing
from inverse3d.loss.silhouette_iou import silhouette_iou_loss
from inverse3d.methods.base import Reconstruction, register, setting
from inverse3d.ops.foreground import background_key_masks, deeplabv3_masks
from inverse3d.ops.hull_mesh import occupancy_mesh
from inverse3d.ops.image_resize import resize_images
from inverse3d.ops.silhouette_init import (
    mask_bboxes,
    silhouette_sphere,
    silhouette_sphere_level,
    square_windows,
)
from inverse3d.ops.vertex_colors import project_vertex_colors
from inverse3d.ops.visual_hull import visual_hull
from inverse3d.renderer.blending import BlendParams, sigmoid_alpha_blend
from inverse3d.renderer.camera_refinement import CameraRefinement
from inverse3d.renderer.cameras import PerspectiveCameras
from inverse3d.renderer.crop import crop_cameras, crop_images, ndc_cameras
from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
from inverse3d.renderer.mesh.render_views import render_mesh_silhouettes, render_mesh_views
from inverse3d.renderer.mesh.textures import TexturesVertex
from inverse3d.structures.meshes import Meshes
from inverse3d.utils.ico_sphere import ico_sphere

__all__ = ["SilhouetteConfig", "fit", "scene_masks"]


@dataclass
class SilhouetteConfig:
    """Settings of the "silhouette" method (SoftRas mesh fitting from silhouettes)."""

    steps: int = setting(300, "optimisation steps", low=0)
    init: str = setting(
        "auto",
        'initial mesh: "auto" (sphere fitted to the box triangulated from the silhouettes), '
        '"sphere" (ico-sphere of radius 0.8 bound at the origin) or "hull" (visual hull)',
        choices=("auto", "sphere", "hull"),
    )
    auto_fit: str = setting(
        "moments",
        'the "auto" ellipsoid: "moments" (matches the silhouettes\' centroids, second moments '
        'and area; any orientation) or "box" (axis-aligned, tangent to their bounding boxes)',
        choices=("moments", "box"),
    )
    sphere_level: int = setting(
        -1, "ico-sphere level (-1: chosen from the silhouettes' perimeter)", low=-1, high=6
    )
    bound: float = setting(
        1.0, "half side of the cube [-bound, bound]^3 of the sphere and hull inits", low=1e-6
    )
    hull_resolution: int = setting(48, 'voxel grid resolution of the "hull" init', low=4)
    masks: str = setting(
        "data",
        'silhouettes: "data" (the scene\'s masks; computed when it has none) or "auto" '
        "(always computed: DeepLabV3 with --segmentation-weights, else background keying)",
        choices=("data", "auto"),
    )
    segmentation_weights: str | None = setting(
        None, "DeepLabV3-ResNet50 state_dict file for automatic masks (needs torchvision)"
    )
    key_threshold: float = setting(
        0.15, "background keying: colour distance to the border colour that is foreground", low=0.0
    )
    image_size: int = setting(64, "longer side of the silhouettes the fitting renders", low=8)
    views_per_step: int = setting(4, "training views rendered per step", low=1)
    lr: float = setting(
        0.00625,
        "Adam learning rate of the vertex offsets, in units of the initial mesh's RMS radius",
        low=0.0,
        high=1.0,
    )
    sigma: float = setting(1e-4, "soft rasterizer sharpness (SoftRas' sigma)", low=0.0)
    faces_per_pixel: int = setting(20, "faces blended per pixel", low=1)
    crop: bool = setting(
        True,
        "fit each view in a square window around its silhouette and the initial mesh, "
        "rendered at image_size (a small object gets the fitting resolution)",
    )
    crop_margin: float = setting(
        0.25, "space around the largest box in the crop windows, a fraction of its side", low=0.0
    )
    w_laplacian: float = setting(
        0.04,
        "weight of mesh_laplacian_smoothing (uniform), divided by the initial mesh's RMS radius",
        low=0.0,
    )
    w_flatten: float = setting(0.001, "weight of mesh_flatten_loss", low=0.0)
    refine_cameras: bool = setting(False, "refine the training cameras' poses jointly")
    lr_cameras: float = setting(
        1e-3, "Adam learning rate of the camera pose offsets", low=0.0, high=1.0
    )
    project_colors: bool = setting(True, "project vertex colours from the training images")
    hard_iou_every: int = setting(
        10,
        'record the batch\'s hard silhouette IoU ("hard_iou") every this many steps (0: never; '
        "each costs a hard rasterization of the batch, about 0.4 of a step's time at 64 px on a CPU)",
        low=0,
    )


def scene_masks(cfg: SilhouetteConfig, images: torch.Tensor, masks: torch.Tensor | None):
    """(N, H, W) masks of `images` (N, H, W, 3) as `cfg.masks` says, and where they came from."""
    if cfg.masks == "data" and masks is not None:
        return masks, "data"
    if cfg.masks == "data":
        warnings.warn(
            "the data has no masks: computing them (--masks auto)", UserWarning, stacklevel=3
        )
    if cfg.segmentation_weights is not None:
        return deeplabv3_masks(images, cfg.segmentation_weights), "deeplabv3"
    return background_key_masks(images, threshold=cfg.key_threshold), "background keying"


def _initial_mesh(cfg: SilhouetteConfig, cameras, masks: torch.Tensor, level: int):
    if cfg.init == "auto":
        return silhouette_sphere(cameras, masks, level=level, fit=cfg.auto_fit)
    if cfg.init == "hull":
        b = cfg.bound
        occ = visual_hull(
            cameras,
            masks,
            bounds=[[-b] * 3, [b] * 3],
            resolution=cfg.hull_resolution,
            mask_threshold=0.5,
            mask_sampling="bilinear",
        )
        if occ.any():
            v, f = occupancy_mesh(occ, b)
            if v.shape[0] > 0:
                return v, f
        warnings.warn("the visual hull is empty: starting from a sphere", stacklevel=3)
    sphere = ico_sphere(level, device=masks.device)
    return sphere.verts_packed() * 0.8 * cfg.bound, sphere.faces_packed()


def _crop_window(cfg: SilhouetteConfig, cameras, masks: torch.Tensor, verts: torch.Tensor):
    """(tops, lefts, side) of the views' square windows holding both the silhouette and the
    initial mesh, or None when the cameras cannot be cropped or a window would be the image."""
    if not isinstance(cameras, PerspectiveCameras) or cameras.K is not None:
        return None
    n, h, w = masks.shape
    boxes, valid = mask_bboxes(masks, threshold=0.5)
    with torch.no_grad():
        pts = cameras.transform_points_screen(
            verts[None].expand(n, -1, -1).to(cameras.R.dtype), image_size=(h, w)
        )[..., :2]
    lo, hi = pts.min(dim=1).values.floor(), pts.max(dim=1).values.ceil()
    proj = torch.cat([lo, hi], dim=1).to(boxes)  # (N, 4) x0, y0, x1, y1
    if not bool(torch.isfinite(proj).all()):
        return None
    lo = torch.where(valid[:, None], torch.minimum(boxes[:, :2], proj[:, :2]), proj[:, :2])
    hi = torch.where(valid[:, None], torch.maximum(boxes[:, 2:], proj[:, 2:]), proj[:, 2:])
    lo = torch.maximum(lo, torch.zeros_like(lo))
    hi = torch.minimum(hi, torch.tensor([float(w), float(h)], device=hi.device))
    tops, lefts, side = square_windows(torch.cat([lo, hi], dim=1), (h, w), cfg.crop_margin)
    if side >= min(h, w):
        return None
    return tops, lefts, side


class _State:
    """Vertex offsets, camera pose offsets and their optimizer (sizes fixed by the init).

    The offsets are in units of the initial mesh's RMS radius (verts = base + radius offsets), so
    that the learning rate is relative to the object's size.
    """

    def __init__(self, base: torch.Tensor, n_views: int, cfg: SilhouetteConfig):
        self.base = base.detach()
        centred = self.base - self.base.mean(dim=0)
        self.radius = float(centred.square().sum(dim=1).mean().sqrt().clamp(min=1e-6))
        self.offsets = torch.zeros_like(self.base, requires_grad=True)
        # view 0 fixes the frame; the world turns about the origin (the object's centre)
        self.poses = CameraRefinement(n_views, fixed=[0], pivot="origin", device=base.device)
        groups = [{"params": [self.offsets], "lr": cfg.lr}]
        if cfg.refine_cameras:
            groups.append({"params": list(self.poses.parameters()), "lr": cfg.lr_cameras})
        self.optimizer = torch.optim.Adam(groups)

    def verts(self) -> torch.Tensor:
        return self.base + self.radius * self.offsets

    def state_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "offsets": self.offsets.detach(),
            "rot": self.poses.rot.detach(),
            "trans": self.poses.trans.detach(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        if sd["base"].shape != self.base.shape:
            raise ValueError(
                f"checkpoint mesh has {sd['base'].shape[0]} vertices; this run's init has "
                f"{self.base.shape[0]} (another init or data?)"
            )
        with torch.no_grad():
            self.base.copy_(sd["base"])
            self.offsets.copy_(sd["offsets"])
            self.poses.rot.copy_(sd["rot"])
            self.poses.trans.copy_(sd["trans"])
        self.optimizer.load_state_dict(sd["optimizer"])


def fit(config: SilhouetteConfig, scene, loop: Loop) -> Reconstruction:
    """Fit a mesh to the silhouettes of the training views of `scene` (a SceneData)."""
    cfg = config
    train = scene.train()
    if len(train) == 0:
        raise ValueError("the scene has no training views")
    bg = scene.background()
    h, w = scene.image_size
    full_masks, source = scene_masks(cfg, scene.images, scene.masks)
    tidx = torch.as_tensor(scene.train_idx, dtype=torch.long, device=full_masks.device)
    train_masks = full_masks[tidx]
    scale = cfg.image_size / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    masks = resize_images(train_masks, size)
    level = cfg.sphere_level if cfg.sphere_level >= 0 else silhouette_sphere_level(masks)
    v0, faces = _initial_mesh(cfg, train.cameras, masks, level)
    fit_cameras = train.cameras
    window = _crop_window(cfg, train.cameras, train_masks, v0) if cfg.crop else None
    if window is not None:
        whole = masks  # the whole images at the fitting scale (their aspect kept): the init's
        tops, lefts, side = window
        fit_cameras = crop_cameras(ndc_cameras(train.cameras), (h, w), tops, lefts, side, side)
        size = (cfg.image_size, cfg.image_size)
        mode = "bilinear" if side < cfg.image_size else "area"
        masks = resize_images(crop_images(train_masks, tops, lefts, side, side), size, mode)
        if cfg.sphere_level < 0 and cfg.init != "hull":
            # the level follows the silhouettes at the resolution the fit sees them
            level = silhouette_sphere_level(masks)
            v0, faces = _initial_mesh(cfg, train.cameras, whole, level)
    state = _State(v0, len(train), cfg)

    blend = BlendParams(sigma=cfg.sigma, gamma=1e-4)
    rasterizer = MeshRasterizer(
        raster_settings=RasterizationSettings(
            image_size=size,
            blur_radius=math.log(1.0 / 1e-4 - 1.0) * cfg.sigma,
            faces_per_pixel=cfg.faces_per_pixel,
        )
    )
    nv = min(cfg.views_per_step, len(train))

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        idx = torch.randperm(len(train))[:nv].tolist()
        cams = state.poses(fit_cameras, idx) if cfg.refine_cameras else fit_cameras[idx]
        mesh = Meshes([state.verts()], [faces])
        batch = mesh.extend(nv)
        frags = rasterizer(batch, cameras=cams)
        colors = torch.ones(*frags.pix_to_face.shape, 3, device=v0.device)
        alpha = sigmoid_alpha_blend(colors, frags, blend)[..., 3]
        out: dict[str, torch.Tensor] = {"iou_loss": silhouette_iou_loss(alpha, masks[idx])}
        loss = out["iou_loss"]
        if cfg.w_laplacian > 0:
            # divided by the initial radius: the term's weight does not depend on the object's size
            out["laplacian"] = mesh_laplacian_smoothing(mesh, method="uniform") / state.radius
            loss = loss + cfg.w_laplacian * out["laplacian"]
        if cfg.w_flatten > 0:
            out["flatten"] = mesh_flatten_loss(mesh)
            loss = loss + cfg.w_flatten * out["flatten"]
        # the honest progress measure: the hard silhouettes (pixel centres covered) of the mesh
        # being scored, against the masks > 0.5 of the same views, pooled
        if cfg.hard_iou_every > 0 and step % cfg.hard_iou_every == 0:
            hard = render_mesh_silhouettes(mesh, cams, size)
            w = hard.shape[-1]
            pooled = (hard.float().reshape(1, -1, w), (masks[idx] > 0.5).float().reshape(1, -1, w))
            out["hard_iou"] = 1.0 - silhouette_iou_loss(*pooled)
        state.optimizer.zero_grad()
        loss.backward()
        state.optimizer.step()
        out["soft_iou"] = 1.0 - out["iou_loss"].detach()
        out["loss"] = loss
        return out

    result = loop.run(step_fn, cfg.steps, {"silhouette": state}, desc="silhouette")
    verts = state.verts().detach()
    cams = train.cameras
    if cfg.refine_cameras:
        with torch.no_grad():
            cams = state.poses(train.cameras)
    colors = torch.full_like(verts, 0.75)
    if cfg.project_colors and verts.shape[0] > 0:
        colors = project_vertex_colors(verts, faces, train.images, cams, None)
    mesh = Meshes([verts], [faces], textures=TexturesVertex([colors]))

    def render(cameras) -> torch.Tensor:
        return render_mesh_views(mesh, cameras, (h, w), background=bg)

    rgba = torch.cat([scene.images, full_masks[..., None].to(scene.images)], dim=-1)
    digits = max(3, len(str(len(scene) - 1)))
    artifacts: dict[str, Any] = {
        "images": {f"silhouettes/{i:0{digits}d}.png": rgba[i].cpu() for i in range(len(scene))},
        "metrics": {
            "initial_vertices": float(v0.shape[0]),
            "sphere_level": float(level),
            # side in pixels of the crop windows (0: the whole images)
            "crop_side": float(window[2]) if window is not None else 0.0,
        },
        "mask_source": source,
    }
    if cfg.refine_cameras:
        state.poses.add_artifacts(artifacts)
    return Reconstruction(
        mesh=mesh, render=render, history=result.history, steps=result.steps, artifacts=artifacts
    )


register("silhouette", SilhouetteConfig, fit, "mesh fitted to silhouettes (SoftRas), auto-init")
