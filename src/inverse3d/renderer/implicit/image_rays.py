"""Rays of whole images and of random pixels, for methods that render fields ray by ray.

Both use the public raysamplers with unit directions (ray lengths are distances):
`random_pixel_rays` draws rays through random points of the image (MonteCarloRaysampler over the
image's NDC extent) and `render_image_rays` renders every pixel centre of an image
(NDCMultinomialRaysampler), in chunks of rays so that large images fit in memory. With a
`LensDistortion` (renderer/lens_distortion.py) the ray directions are undistorted so that each ray
is the one that reaches its (distorted) pixel; `xys` stay the pixels' NDC points, where the images
are sampled.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from inverse3d._validation import check_positive_int
from inverse3d.renderer.implicit.raysampling import MonteCarloRaysampler, NDCMultinomialRaysampler
from inverse3d.renderer.implicit.utils import RayBundle
from inverse3d.renderer.lens_distortion import LensDistortion, undistort_ray_directions

__all__ = ["cube_depth_range", "ndc_extent", "random_pixel_rays", "render_image_rays"]


def ndc_extent(image_size: tuple[int, int]) -> tuple[float, float]:
    """(u_x, u_y): the NDC half-extent of an (H, W) image (the shorter side spans [-1, 1])."""
    h, w = image_size
    s = min(h, w)
    return w / s, h / s


def cube_depth_range(cameras, bound: float) -> tuple[float, float]:
    """Near and far ray lengths that cover the cube [-bound, bound]^3 from every camera."""
    centres = cameras.get_camera_center()
    d = centres.norm(dim=-1)
    r = bound * math.sqrt(3.0)
    return max(1e-3, float(d.min()) - r), float(d.max()) + r


def random_pixel_rays(
    cameras,
    image_size: tuple[int, int],
    n_rays: int,
    n_pts: int,
    near: float,
    far: float,
    stratified: bool = True,
    distortion: LensDistortion | None = None,
) -> RayBundle:
    """`n_rays` rays per camera through uniform random points of the image (NDC).

    distortion: the N cameras' lens distortion, or None for pinhole cameras.
    Returns a RayBundle with origins/directions (N, n_rays, 3) (unit directions), lengths
    (N, n_rays, n_pts) in [near, far] and xys (N, n_rays, 2) (to sample the images with
    `ndc_grid_sample`).
    """
    ux, uy = ndc_extent(image_size)
    sampler = MonteCarloRaysampler(
        min_x=-ux,
        max_x=ux,
        min_y=-uy,
        max_y=uy,
        n_rays_per_image=check_positive_int(n_rays, "n_rays"),
        n_pts_per_ray=n_pts,
        min_depth=near,
        max_depth=far,
        unit_directions=True,
        stratified_sampling=stratified,
    )
    return _undistorted(sampler(cameras), cameras, distortion)


def _undistorted(bundle: RayBundle, cameras, distortion: LensDistortion | None) -> RayBundle:
    if distortion is None:
        return bundle
    if not isinstance(distortion, LensDistortion):
        raise TypeError(
            f"distortion must be a LensDistortion or None; got {type(distortion).__name__}"
        )
    shape = bundle.directions.shape
    dirs = undistort_ray_directions(
        cameras, bundle.directions.reshape(shape[0], -1, 3), distortion.to(bundle.directions.device)
    )
    return bundle._replace(directions=dirs.reshape(shape))


def render_image_rays(
    cameras,
    image_size: tuple[int, int],
    render_fn: Callable[[RayBundle], torch.Tensor],
    n_pts: int,
    near: float,
    far: float,
    chunk: int = 4096,
    distortion: LensDistortion | None = None,
) -> torch.Tensor:
    """Render every pixel of every camera: `render_fn(bundle) -> (R, C)` on chunks of rays.

    bundle: RayBundle of R rays (origins/directions (R, 3), unit directions; lengths (R, n_pts)
    evenly spaced in [near, far] at the strata's midpoints; xys (R, 2)). No gradients.
    distortion: the N cameras' lens distortion, or None for pinhole cameras.
    Returns: (N, H, W, C) float.
    """
    h, w = image_size
    chunk = check_positive_int(chunk, "chunk")
    sampler = NDCMultinomialRaysampler(
        image_width=w,
        image_height=h,
        n_pts_per_ray=n_pts,
        min_depth=near,
        max_depth=far,
        unit_directions=True,
    )
    out = []
    with torch.no_grad():
        for i in range(len(cameras)):
            b = _undistorted(
                sampler(cameras[i]), cameras[i], None if distortion is None else distortion[i]
            )
            origins = b.origins.reshape(-1, 3)
            dirs = b.directions.reshape(-1, 3)
            lengths = b.lengths.reshape(-1, b.lengths.shape[-1])
            xys = b.xys.reshape(-1, 2)
            parts = [
                render_fn(
                    RayBundle(
                        origins=origins[s : s + chunk],
                        directions=dirs[s : s + chunk],
                        lengths=lengths[s : s + chunk],
                        xys=xys[s : s + chunk],
                    )
                )
                for s in range(0, origins.shape[0], chunk)
            ]
            out.append(torch.cat(parts).reshape(h, w, -1))
    return torch.stack(out)
