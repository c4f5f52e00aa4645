"""Put a scene's object in the unit cube that the reconstruction methods work in.

The methods reconstruct inside [-bound, bound]^3 around the origin (bound 1 by default). Captures
come in their own frames: Blender scenes fill about [-1.5, 1.5]^3, COLMAP models have an arbitrary
origin and scale. `normalize_scene` finds the object and maps the world by the similarity
``x_unit = (x_world - centre) / scale``:

1. centre guess: the point closest (least squares) to the cameras' optical axes, which captures
   around an object look at; the cameras' mean centre if the axes are near parallel;
2. with masks: a coarse visual hull carved in the cube around that point that stays in front of
   every camera; its bounding box gives the centre and the size (the object then spans
   `fill` of the unit cube); without masks (or an empty hull): the cube around the guess with
   half side 0.4 x the nearest camera distance (a Blender scene's 1.5 for cameras at 4).

3. `extra["aabb_scale"]` (instant-ngp's transforms.json key, default 1): the region that the
   methods' unit cube covers grows by that factor around the centre, as instant-ngp grows its
   scene box: the scale is multiplied by it, so the object then spans `fill / aabb_scale` of the
   cube and the surroundings out to aabb_scale times its box are inside.

Perspective projection is unchanged by a uniform scale of view space, so the cameras keep R and
their intrinsics and only T changes: ``T' = (centre R + T) / scale``; depth maps are divided by
the scale, a ground-truth mesh is mapped too. `SceneData.extra["normalization"]` keeps
``{"centre": [x, y, z], "scale": s}`` so that outputs can be mapped back (`to_world`).
"""

from __future__ import annotations

import dataclasses
import math

import torch

from inverse3d.ops.visual_hull import visual_hull, visual_hull_grid_points

__all__ = ["estimate_object_frame", "normalize_scene", "to_world"]


def _look_at_point(cameras) -> torch.Tensor:
    """(3,) least-squares point nearest the optical axes (mean centre if degenerate)."""
    centres = cameras.get_camera_center().detach().cpu().double()  # (N, 3)
    w2v = cameras.get_world_to_view_transform().get_matrix().detach().cpu().double()  # (N, 4, 4)
    forward = torch.nn.functional.normalize(w2v[:, :3, 2], dim=-1)  # view +Z in world
    proj = torch.eye(3, dtype=torch.float64) - forward[:, :, None] * forward[:, None, :]
    a = proj.sum(0)
    b = (proj @ centres[:, :, None]).sum(0)[:, 0]
    evals = torch.linalg.eigvalsh(a)
    if len(centres) < 2 or float(evals[0]) < 1e-3 * float(evals[-1]):
        return centres.mean(0)
    return torch.linalg.solve(a, b)


def estimate_object_frame(data, fill: float = 0.85, resolution: int = 48) -> tuple[list, float]:
    """Centre (3 floats) and scale of the similarity that puts the object of `data` into
    [-fill, fill]^3 (see the module docstring)."""
    cams = data.cameras
    guess = _look_at_point(cams).cpu().to(torch.float32)
    dist = (cams.get_camera_center().cpu() - guess).norm(dim=-1)
    half = 0.4 * float(dist.min())
    if not math.isfinite(half) or half <= 0:
        raise ValueError("cameras: cannot find the object (a camera sits at the look-at point)")
    if data.masks is None:
        return guess.tolist(), half
    # Carve in the cube of half side 0.55 x the nearest camera distance (cameras stay outside).
    box = 0.55 * float(dist.min())
    pts = _hull_points(data, guess, box, resolution)
    if pts.shape[0] == 0:
        return guess.tolist(), half
    cell = box / resolution
    lo, hi = pts.min(0).values - cell, pts.max(0).values + cell
    centre = (lo + hi) / 2
    extent = float((hi - lo).max()) / 2
    return centre.tolist(), max(extent / fill, 1e-6)


def _hull_points(data, centre: torch.Tensor, box: float, resolution: int) -> torch.Tensor:
    """(P, 3) cell centres of the cube centre +- box that are inside the masks of every training
    view that sees them and seen by at least half of the views."""
    views = data.train_idx or list(range(len(data.cameras)))
    c = centre.reshape(3).to(torch.float64)
    bounds = torch.stack([c - box, c + box])
    occ = visual_hull(
        data.cameras[list(views)],
        data.masks[list(views)],
        bounds,
        resolution,
        mask_threshold=0.5,
        min_views=math.ceil(0.5 * len(views)),
    )
    pts = visual_hull_grid_points(bounds, resolution, device=occ.device)
    return pts[occ].cpu()


def _apply(data, centre, scale: float):
    """SceneData in the frame x' = (x - centre) / scale."""
    cams = data.cameras.clone()
    c = torch.as_tensor(centre, dtype=cams.R.dtype, device=cams.R.device).reshape(1, 1, 3)
    cams.T = ((c @ cams.R)[:, 0] + cams.T) / scale
    depths = None if data.depths is None else data.depths / scale
    gt = data.gt_mesh
    if gt is not None:
        v = gt.verts_packed()
        gt = gt.offset_verts(-c[0].to(v).expand_as(v)).scale_verts(1.0 / scale)
    return dataclasses.replace(data, cameras=cams, depths=depths, gt_mesh=gt)


def normalize_scene(data, fill: float = 0.85):
    """`data` mapped so that its object fills [-fill, fill]^3 (perspective cameras only).

    Returns a new SceneData whose `extra["normalization"]` is {"centre": [3 floats], "scale": s};
    x_world = scale * x_unit + centre. With `extra["aabb_scale"]` = a the scale is a times larger
    (the object spans [-fill / a, fill / a]^3, its surroundings the rest of the cube).
    """
    if not 0.0 < fill <= 1.0:
        raise ValueError(f"fill must be in (0, 1]; got {fill}")
    if not bool(data.cameras.is_perspective()):
        raise ValueError("normalize_scene: only perspective cameras are supported")
    centre, scale = estimate_object_frame(data, fill)
    aabb = float(data.extra.get("aabb_scale") or 1.0)
    if not (math.isfinite(aabb) and aabb >= 1.0):
        raise ValueError(f"extra['aabb_scale'] must be a number >= 1; got {aabb}")
    scale = scale * aabb
    out = _apply(data, centre, scale)
    out.extra = {**data.extra, "normalization": {"centre": list(centre), "scale": float(scale)}}
    return out


def to_world(verts: torch.Tensor, data) -> torch.Tensor:
    """Map (V, 3) vertices of the normalised frame back to the data's world frame (identity when
    `data` was not normalised)."""
    norm = data.extra.get("normalization")
    if not norm:
        return verts
    c = torch.as_tensor(norm["centre"], dtype=verts.dtype, device=verts.device)
    return verts * float(norm["scale"]) + c
