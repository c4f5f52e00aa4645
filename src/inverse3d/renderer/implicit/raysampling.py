"""Ray samplers: which rays leave the cameras and where along them the points lie.

PyTorch3D 0.7.9 API and conventions. A ray is built by unprojecting its image point (x, y) at
view depths 1 and 2: the direction is the difference, the origin is the depth-1 point minus the
direction (the camera centre for perspective cameras, the depth-0 point for orthographic ones).
Lengths are depths: ``origin + length * direction`` lies at view depth ``length`` (unless
``unit_directions`` normalises the directions, as in PyTorch3D).

Image coordinates are NDC for `NDCMultinomialRaysampler` (+X left, +Y up, pixel centres
identical to the mesh and point rasterizers: row 0 is the top, column 0 the left); the
generic samplers take any (x, y) range the cameras understand with ``from_ndc=True``.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch.nn import functional as F

from inverse3d._validation import check_nonneg_int, check_positive_int, check_tensor
from inverse3d.renderer.implicit.utils import HeterogeneousRayBundle, RayBundle

__all__ = [
    "MultinomialRaysampler",
    "NDCMultinomialRaysampler",
    "MonteCarloRaysampler",
    "GridRaysampler",
    "NDCGridRaysampler",
]


def _optional_positive_int(value: Any, name: str) -> int | None:
    return None if value is None else check_positive_int(value, name)


def _check_depths(min_depth: float, max_depth: float) -> tuple[float, float]:
    for name, v in (("min_depth", min_depth), ("max_depth", max_depth)):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            if not (torch.is_tensor(v) and v.numel() == 1):
                raise TypeError(f"{name} must be a number; got {type(v).__name__}")
    lo, hi = float(min_depth), float(max_depth)
    if hi < lo:
        raise ValueError(f"max_depth must be >= min_depth; got min_depth={lo}, max_depth={hi}")
    return lo, hi


def _camera_dtype(cameras: Any) -> torch.dtype:
    R = getattr(cameras, "R", None)
    return R.dtype if torch.is_tensor(R) and R.is_floating_point() else torch.float32


def _jiggle_within_stratas(bin_centers: torch.Tensor) -> torch.Tensor:
    """One uniform sample per stratum around each of the sorted (..., S) ``bin_centers``.

    Stratum k spans from the midpoint with the previous centre to the midpoint with the next
    (the first starts, the last ends, at its own centre), so samples stay in [first, last].
    """
    mids = 0.5 * (bin_centers[..., 1:] + bin_centers[..., :-1])
    upper = torch.cat((mids, bin_centers[..., -1:]), dim=-1)
    lower = torch.cat((bin_centers[..., :1], mids), dim=-1)
    return lower + (upper - lower) * torch.rand_like(lower)


def _xy_to_ray_bundle(
    cameras: Any,
    xy_grid: torch.Tensor,
    min_depth: float,
    max_depth: float,
    n_pts_per_ray: int,
    unit_directions: bool,
    stratified_sampling: bool = False,
) -> RayBundle:
    """Rays through the (B, ..., 2) image points ``xy_grid`` of the B ``cameras``."""
    B = xy_grid.shape[0]
    spatial = xy_grid.shape[1:-1]
    R = spatial.numel()
    xy = xy_grid.reshape(B, R, 2)
    if n_pts_per_ray > 0:
        depths = torch.linspace(
            min_depth, max_depth, n_pts_per_ray, dtype=xy.dtype, device=xy.device
        )
        lengths = depths.expand(B, R, n_pts_per_ray)
        if stratified_sampling:
            lengths = _jiggle_within_stratas(lengths)
    else:
        lengths = xy.new_empty((B, R, 0))
    ones = xy.new_ones(B, R, 1)
    to_unproject = torch.cat(
        (torch.cat((xy, xy), dim=1), torch.cat((ones, 2.0 * ones), dim=1)), dim=-1
    )  # (B, 2R, 3): every point at depth 1, then at depth 2
    unprojected = cameras.unproject_points(to_unproject, from_ndc=True)
    plane1, plane2 = unprojected[:, :R], unprojected[:, R:]
    directions = plane2 - plane1
    origins = plane1 - directions
    if unit_directions:
        directions = F.normalize(directions, dim=-1)
    return RayBundle(
        origins.reshape(B, *spatial, 3),
        directions.reshape(B, *spatial, 3),
        lengths.reshape(B, *spatial, n_pts_per_ray),
        xy_grid,
    )


def _sample_cameras_and_masks(
    n_samples: int, cameras: Any, mask: torch.Tensor | None
) -> tuple[Any, torch.Tensor | None, torch.Tensor, torch.Tensor, int]:
    """Draw ``n_samples`` cameras with replacement; return the unique ones and their counts."""
    sampled = torch.randint(0, len(cameras), (n_samples,), dtype=torch.long)
    ids, counts = torch.unique(sampled, return_counts=True)
    sub_mask = mask[ids.to(mask.device)] if mask is not None else None
    return cameras[ids], sub_mask, ids, counts, int(counts.max())


def _pack_ray_bundle(
    bundle: RayBundle, camera_ids: torch.Tensor, camera_counts: torch.Tensor
) -> HeterogeneousRayBundle:
    """Keep the first ``camera_counts[i]`` rays of row i; stack them as (sum(counts), 1, ...)."""
    counts = camera_counts.to(bundle.origins.device)
    n_max = bundle.origins.shape[1]
    keep = torch.arange(n_max, device=counts.device)[None] < counts[:, None]  # (M, n_max)

    def pack(x: torch.Tensor) -> torch.Tensor:
        return x[keep][:, None]

    return HeterogeneousRayBundle(
        origins=pack(bundle.origins),
        directions=pack(bundle.directions),
        lengths=pack(bundle.lengths),
        xys=pack(bundle.xys),
        camera_ids=camera_ids,
        camera_counts=camera_counts,
    )


def _safe_multinomial(weights: torch.Tensor, n: int) -> torch.Tensor:
    """(B, n) indices drawn without replacement where a row has >= n non-zero weights, else
    with replacement (only among the non-zero ones).

    The draws follow PyTorch3D's order (a first attempt without replacement on every row, which
    torch may reject or, in some versions, answer with zero-weight indices), so that a seed
    gives the same rays as there.
    """
    enough = (weights > 0).sum(dim=-1) >= n
    try:
        out = torch.multinomial(weights, n, replacement=False)
    except RuntimeError:
        out = torch.multinomial(weights, n, replacement=True)
        if bool(enough.any()):
            out[enough] = torch.multinomial(weights[enough], n, replacement=False)
        return out
    if not bool(enough.all()):
        out[~enough] = torch.multinomial(weights[~enough], n, replacement=True)
    return out


class MultinomialRaysampler(torch.nn.Module):
    """Rays through the pixels of an image grid, all of them or a random subset.

    The grid has ``image_height`` rows from ``min_y`` (row 0) to ``max_y`` and ``image_width``
    columns from ``min_x`` (column 0) to ``max_x`` (pixel centres). Each ray gets
    ``n_pts_per_ray`` lengths evenly spaced in [min_depth, max_depth] (one random sample per
    stratum with ``stratified_sampling``).

    Args:
        min_x, max_x, min_y, max_y: image coordinates of the first/last column and row centres.
        image_width, image_height: grid size W, H.
        n_pts_per_ray: points per ray S (>= 0).
        min_depth, max_depth: depth range of the points.
        n_rays_per_image: if given, that many pixels per camera are drawn at random (without
            replacement where possible, from the mask's pixels when a mask is given).
        n_rays_total: if given, that many rays in all: cameras are drawn with replacement, one
            ray per draw, and a `HeterogeneousRayBundle` is returned. Not with n_rays_per_image.
        unit_directions: normalise the ray directions.
        stratified_sampling: jitter the points within their strata.

    forward(cameras, *, mask=None, min_depth=None, max_depth=None, n_rays_per_image=None,
    n_pts_per_ray=None, stratified_sampling=None, n_rays_total=None) overrides the settings per
    call; ``mask: (N, H, W)`` (bool or non-negative weights) restricts the drawn pixels
    (without n_rays_per_image it draws as many as the smallest mask sums to). Returns a
    `RayBundle` with origins/directions (N, s1, s2, 3), lengths (N, s1, s2, S), xys (N, s1, s2,
    2) where (s1, s2) is (H, W), or (n, 1) when rays are drawn, or a `HeterogeneousRayBundle` of
    shape (n_rays_total, 1, 1, ...).
    """

    def __init__(
        self,
        *,
        min_x: float,
        max_x: float,
        min_y: float,
        max_y: float,
        image_width: int,
        image_height: int,
        n_pts_per_ray: int,
        min_depth: float,
        max_depth: float,
        n_rays_per_image: int | None = None,
        n_rays_total: int | None = None,
        unit_directions: bool = False,
        stratified_sampling: bool = False,
    ) -> None:
        super().__init__()
        W = check_positive_int(image_width, "image_width")
        H = check_positive_int(image_height, "image_height")
        self._n_pts_per_ray = check_nonneg_int(n_pts_per_ray, "n_pts_per_ray")
        self._min_depth, self._max_depth = _check_depths(min_depth, max_depth)
        self._n_rays_per_image = _optional_positive_int(n_rays_per_image, "n_rays_per_image")
        self._n_rays_total = _optional_positive_int(n_rays_total, "n_rays_total")
        if self._n_rays_per_image is not None and self._n_rays_total is not None:
            raise ValueError("n_rays_per_image and n_rays_total cannot both be given")
        self._unit_directions = bool(unit_directions)
        self._stratified_sampling = bool(stratified_sampling)
        self.min_x, self.max_x = float(min_x), float(max_x)
        self.min_y, self.max_y = float(min_y), float(max_y)
        ys = torch.linspace(self.min_y, self.max_y, H, dtype=torch.float32)
        xs = torch.linspace(self.min_x, self.max_x, W, dtype=torch.float32)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        self.register_buffer("_xy_grid", torch.stack((grid_x, grid_y), dim=-1), persistent=False)

    def forward(
        self,
        cameras: Any,
        *,
        mask: torch.Tensor | None = None,
        min_depth: float | None = None,
        max_depth: float | None = None,
        n_rays_per_image: int | None = None,
        n_pts_per_ray: int | None = None,
        stratified_sampling: bool | None = None,
        n_rays_total: int | None = None,
        **kwargs: Any,
    ) -> RayBundle | HeterogeneousRayBundle:
        n_rays_total = _optional_positive_int(n_rays_total, "n_rays_total") or self._n_rays_total
        n_rays_per_image = (
            _optional_positive_int(n_rays_per_image, "n_rays_per_image") or self._n_rays_per_image
        )
        if n_rays_total is not None and n_rays_per_image is not None:
            raise ValueError("n_rays_per_image and n_rays_total cannot both be given")
        H, W = self._xy_grid.shape[:2]
        if mask is not None:
            check_tensor(mask, "mask", ("N", H, W))
            if mask.shape[0] != len(cameras):
                raise ValueError(
                    f"mask must have shape (N, {H}, {W}) with N={len(cameras)} cameras; "
                    f"got {tuple(mask.shape)}"
                )
        camera_ids = camera_counts = None
        if n_rays_total is not None:
            cameras, mask, camera_ids, camera_counts, n_rays_per_image = _sample_cameras_and_masks(
                n_rays_total, cameras, mask
            )
        batch_size = len(cameras)
        dtype = _camera_dtype(cameras)
        xy_grid = self._xy_grid.to(device=cameras.device, dtype=dtype)
        xy_grid = xy_grid.expand(batch_size, H, W, 2)
        if mask is not None:
            weights = mask.reshape(batch_size, H * W).to(device=cameras.device, dtype=dtype)
            per_image = (weights > 0).sum(dim=1)
            if bool((per_image == 0).any()):
                raise ValueError(
                    "mask selects zero rays for image(s) "
                    f"{torch.nonzero(per_image == 0)[:, 0].tolist()}; every image needs a pixel"
                )
            if n_rays_per_image is None:  # the smallest mask's total weight, as PyTorch3D
                n_rays_per_image = int(weights.sum(dim=1).min())
                if n_rays_per_image < 1:
                    raise ValueError(
                        "mask selects zero rays: the smallest mask sums to < 1; give "
                        "n_rays_per_image or a mask with more (or larger) weights"
                    )
        elif n_rays_per_image is not None:
            weights = xy_grid.new_ones(batch_size, H * W)
        if n_rays_per_image is not None:
            idx = _safe_multinomial(weights, n_rays_per_image)  # (N, n)
            flat = xy_grid.reshape(batch_size, H * W, 2)
            xy_grid = torch.gather(flat, 1, idx[..., None].expand(-1, -1, 2))[:, :, None]

        if n_pts_per_ray is not None:
            n_pts_per_ray = check_nonneg_int(n_pts_per_ray, "n_pts_per_ray")
        lo, hi = _check_depths(
            self._min_depth if min_depth is None else min_depth,
            self._max_depth if max_depth is None else max_depth,
        )
        bundle = _xy_to_ray_bundle(
            cameras,
            xy_grid,
            lo,
            hi,
            self._n_pts_per_ray if n_pts_per_ray is None else n_pts_per_ray,
            self._unit_directions,
            self._stratified_sampling if stratified_sampling is None else bool(stratified_sampling),
        )
        if camera_ids is not None:
            return _pack_ray_bundle(bundle, camera_ids, camera_counts)
        return bundle


class NDCMultinomialRaysampler(MultinomialRaysampler):
    """`MultinomialRaysampler` over the pixel centres of an image in PyTorch3D's NDC.

    The shorter image side spans [-1, 1], the longer [-u, u] (u = its aspect ratio); column 0
    is +X (left), row 0 is +Y (top); pixel centres are those of the mesh and point rasterizers.
    Same arguments as `MultinomialRaysampler` without the x / y range.
    """

    def __init__(
        self,
        *,
        image_width: int,
        image_height: int,
        n_pts_per_ray: int,
        min_depth: float,
        max_depth: float,
        n_rays_per_image: int | None = None,
        n_rays_total: int | None = None,
        unit_directions: bool = False,
        stratified_sampling: bool = False,
    ) -> None:
        W = check_positive_int(image_width, "image_width")
        H = check_positive_int(image_height, "image_height")
        range_x, range_y = (W / H, 1.0) if W >= H else (1.0, H / W)
        half_w, half_h = range_x / W, range_y / H
        super().__init__(
            min_x=range_x - half_w,
            max_x=-range_x + half_w,
            min_y=range_y - half_h,
            max_y=-range_y + half_h,
            image_width=W,
            image_height=H,
            n_pts_per_ray=n_pts_per_ray,
            min_depth=min_depth,
            max_depth=max_depth,
            n_rays_per_image=n_rays_per_image,
            n_rays_total=n_rays_total,
            unit_directions=unit_directions,
            stratified_sampling=stratified_sampling,
        )


class MonteCarloRaysampler(torch.nn.Module):
    """Rays through points drawn uniformly at random in [min_x, max_x] x [min_y, max_y].

    Args:
        min_x, max_x, min_y, max_y: bounds of the image points (e.g. -1, 1, -1, 1 in NDC).
        n_rays_per_image: rays per camera (or None with n_rays_total).
        n_pts_per_ray, min_depth, max_depth: as in `MultinomialRaysampler`.
        n_rays_total: rays in all, cameras drawn with replacement -> `HeterogeneousRayBundle`.
            Exactly one of n_rays_per_image and n_rays_total must be given.
        unit_directions, stratified_sampling: as in `MultinomialRaysampler`.

    forward(cameras, *, stratified_sampling=None) returns origins/directions (N, n, 3),
    lengths (N, n, S), xys (N, n, 2) (or (n_rays_total, 1, ...) heterogeneous).
    """

    def __init__(
        self,
        min_x: float,
        max_x: float,
        min_y: float,
        max_y: float,
        n_rays_per_image: int | None,
        n_pts_per_ray: int,
        min_depth: float,
        max_depth: float,
        *,
        n_rays_total: int | None = None,
        unit_directions: bool = False,
        stratified_sampling: bool = False,
    ) -> None:
        super().__init__()
        self._min_x, self._max_x = float(min_x), float(max_x)
        self._min_y, self._max_y = float(min_y), float(max_y)
        self._n_rays_per_image = _optional_positive_int(n_rays_per_image, "n_rays_per_image")
        self._n_rays_total = _optional_positive_int(n_rays_total, "n_rays_total")
        if (self._n_rays_per_image is None) == (self._n_rays_total is None):
            raise ValueError(
                "exactly one of n_rays_per_image and n_rays_total must be given; got "
                f"n_rays_per_image={n_rays_per_image}, n_rays_total={n_rays_total}"
            )
        self._n_pts_per_ray = check_nonneg_int(n_pts_per_ray, "n_pts_per_ray")
        self._min_depth, self._max_depth = _check_depths(min_depth, max_depth)
        self._unit_directions = bool(unit_directions)
        self._stratified_sampling = bool(stratified_sampling)

    def forward(
        self, cameras: Any, *, stratified_sampling: bool | None = None, **kwargs: Any
    ) -> RayBundle | HeterogeneousRayBundle:
        camera_ids = camera_counts = None
        if self._n_rays_total is not None:
            cameras, _, camera_ids, camera_counts, n_rays = _sample_cameras_and_masks(
                self._n_rays_total, cameras, None
            )
        else:
            n_rays = self._n_rays_per_image
        batch_size = len(cameras)
        dtype = _camera_dtype(cameras)
        # x then y drawn separately, as PyTorch3D does: the same seed gives the same rays
        rays_xy = torch.cat(
            [
                torch.rand(batch_size, n_rays, 1, dtype=dtype, device=cameras.device) * (hi - lo)
                + lo
                for lo, hi in ((self._min_x, self._max_x), (self._min_y, self._max_y))
            ],
            dim=-1,
        )
        bundle = _xy_to_ray_bundle(
            cameras,
            rays_xy,
            self._min_depth,
            self._max_depth,
            self._n_pts_per_ray,
            self._unit_directions,
            self._stratified_sampling if stratified_sampling is None else bool(stratified_sampling),
        )
        if camera_ids is not None:
            return _pack_ray_bundle(bundle, camera_ids, camera_counts)
        return bundle


def GridRaysampler(
    min_x: float,
    max_x: float,
    min_y: float,
    max_y: float,
    image_width: int,
    image_height: int,
    n_pts_per_ray: int,
    min_depth: float,
    max_depth: float,
) -> MultinomialRaysampler:
    """Deprecated: use `MultinomialRaysampler` (same arguments, keyword-only there)."""
    warnings.warn(
        "GridRaysampler is deprecated; use MultinomialRaysampler",
        PendingDeprecationWarning,
        stacklevel=2,
    )
    return MultinomialRaysampler(
        min_x=min_x,
        max_x=max_x,
        min_y=min_y,
        max_y=max_y,
        image_width=image_width,
        image_height=image_height,
        n_pts_per_ray=n_pts_per_ray,
        min_depth=min_depth,
        max_depth=max_depth,
    )


def NDCGridRaysampler(
    image_width: int,
    image_height: int,
    n_pts_per_ray: int,
    min_depth: float,
    max_depth: float,
) -> NDCMultinomialRaysampler:
    """Deprecated: use `NDCMultinomialRaysampler` (same arguments, keyword-only there)."""
    warnings.warn(
        "NDCGridRaysampler is deprecated; use NDCMultinomialRaysampler",
        PendingDeprecationWarning,
        stacklevel=2,
    )
    return NDCMultinomialRaysampler(
        image_width=image_width,
        image_height=image_height,
        n_pts_per_ray=n_pts_per_ray,
        min_depth=min_depth,
        max_depth=max_depth,
    )
