"""Splat point-cloud features into volumes (PyTorch3D `ops.points_to_volumes`).

Every point adds its features, weighted, to the voxels around it: "trilinear" spreads a unit
weight over the 8 surrounding voxel centres with trilinear weights, "nearest" gives weight 1 to
the nearest voxel. Voxels outside the grid receive nothing. The densities accumulate the weights,
the features accumulate weight * feature; with rescale_features the features are then divided
by max(density, min_weight) ("trilinear") or max(density, 1) ("nearest"), i.e. they become the
weighted mean of the votes. Everything is differentiable in the point positions (trilinear),
features and initial volumes.
"""

from __future__ import annotations

import torch

from inverse3d._validation import check_positive_float, check_tensor

__all__ = ["add_pointclouds_to_volumes", "add_points_features_to_volume_densities_features"]


def add_pointclouds_to_volumes(
    pointclouds,
    initial_volumes,
    mode: str = "trilinear",
    min_weight: float = 1e-4,
    rescale_features: bool = True,
    _python: bool = False,
):
    """Add the features of a Pointclouds batch to a Volumes batch.

    Args:
        pointclouds: Pointclouds with features (N clouds, C feature channels), world coordinates.
        initial_volumes: Volumes with N volumes with densities (N, 1, D, H, W) and features
            (N, C, D, H, W).
        mode: "trilinear" or "nearest".
        min_weight: lower bound of the divisor when rescaling trilinear features.
        rescale_features: divide the features by the accumulated weights.
        _python: accepted for compatibility (there is one pure-PyTorch implementation).

    Returns:
        a new Volumes (initial_volumes.update_padded) with the updated densities and features.
    """
    if not (hasattr(pointclouds, "points_padded") and hasattr(pointclouds, "features_padded")):
        raise TypeError(f"pointclouds must be a Pointclouds; got {type(pointclouds).__name__}")
    if not hasattr(initial_volumes, "densities"):
        raise TypeError(f"initial_volumes must be a Volumes; got {type(initial_volumes).__name__}")
    feats = pointclouds.features_padded()
    if feats is None:
        raise ValueError("'pointclouds' have to have their 'features' defined.")
    if initial_volumes.features() is None:
        raise ValueError("initial_volumes must have features")
    if len(pointclouds) != len(initial_volumes):
        raise ValueError(
            "'initial_volumes' and 'pointclouds' have to have the same batch size; got "
            f"{len(pointclouds)} and {len(initial_volumes)}"
        )
    pts = pointclouds.points_padded()
    n = pointclouds.num_points_per_cloud()
    mask = (torch.arange(pts.shape[1], device=pts.device)[None] < n[:, None]).to(pts.dtype)
    local = initial_volumes.world_to_local_coords(pts)
    new_feats, new_dens = add_points_features_to_volume_densities_features(
        points_3d=local,
        points_features=feats,
        volume_densities=initial_volumes.densities(),
        volume_features=initial_volumes.features(),
        mode=mode,
        min_weight=min_weight,
        mask=mask,
        grid_sizes=initial_volumes.get_grid_sizes(),
        rescale_features=rescale_features,
        align_corners=initial_volumes.get_align_corners(),
    )
    return initial_volumes.update_padded(new_densities=new_dens, new_features=new_feats)


def add_points_features_to_volume_densities_features(
    points_3d: torch.Tensor,
    points_features: torch.Tensor,
    volume_densities: torch.Tensor,
    volume_features: torch.Tensor | None,
    mode: str = "trilinear",
    min_weight: float = 1e-4,
    mask: torch.Tensor | None = None,
    grid_sizes: torch.LongTensor | None = None,
    rescale_features: bool = True,
    _python: bool = False,
    align_corners: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Splat points into padded volume tensors.

    Args:
        points_3d: (N, P, 3) float points in the volumes' local coordinates ([-1, 1]: x over W,
            y over H, z over D).
        points_features: (N, P, C) float.
        volume_densities: (N, 1, D, H, W) float.
        volume_features: (N, C, D, H, W) float or None (zeros).
        mode: "trilinear" or "nearest".
        min_weight: see the module docstring.
        mask: (N, P) float weight per point (0 for padding), or None (all ones).
        grid_sizes: (N, 3) int64 (D, H, W) actual size of each volume, or None (full size).
            Volume n occupies the corner [:gD, :gH, :gW] of the padded tensors (indexing with
            the padded strides, like PyTorch3D's compiled path); points map to it by its own
            size, and votes outside it are dropped.
        rescale_features: divide features by the accumulated weights.
        _python: accepted for compatibility.
        align_corners: True: -1 and 1 are the centres of the corner voxels; False: their
            outer faces.

    Returns:
        (volume_features (N, C, D, H, W), volume_densities (N, 1, D, H, W)).
    """
    check_tensor(points_3d, "points_3d", ("N", "P", 3), "float")
    dims = {"N": points_3d.shape[0], "P": points_3d.shape[1]}
    check_tensor(points_features, "points_features", ("N", "P", "C"), "float", dims=dims)
    check_tensor(volume_densities, "volume_densities", ("N", None, "D", "H", "W"), "float", dims)
    if volume_densities.shape[1] != 1:
        raise ValueError(
            "Only one-dimensional densities are allowed: volume_densities must have shape "
            f"(N, 1, D, H, W); got "
            f"{tuple(volume_densities.shape)}"
        )
    N, P, C = points_features.shape
    D, H, W = volume_densities.shape[2:]
    if volume_features is None:
        volume_features = volume_densities.new_zeros((N, C, D, H, W))
    check_tensor(volume_features, "volume_features", ("N", "C", "D", "H", "W"), "float", dims)
    if mode not in ("trilinear", "nearest"):
        raise ValueError(
            f'No such interpolation mode "{mode}"; mode must be "trilinear" or "nearest"'
        )
    min_weight = check_positive_float(min_weight, "min_weight", allow_zero=True)
    if mask is None:
        mask = points_3d.new_ones((N, P))
    check_tensor(mask, "mask", ("N", "P"), dims=dims)
    dev = points_3d.device
    if grid_sizes is None:
        grid_sizes = torch.tensor([D, H, W], device=dev).expand(N, 3)
    check_tensor(grid_sizes, "grid_sizes", (N, 3), "int")
    full = torch.tensor([D, H, W], device=grid_sizes.device)
    if bool((grid_sizes > full).any()) or bool((grid_sizes < 1).any()):
        raise ValueError(
            f"grid_sizes must lie in [1, {(D, H, W)}] (the volumes' size); got "
            f"{grid_sizes.tolist()}"
        )
    size_xyz = grid_sizes.flip(1).to(points_3d.dtype)[:, None, :]  # (N, 1, 3) as W, H, D
    if align_corners:
        idx = (points_3d + 1) * 0.5 * (size_xyz - 1)  # (N, P, 3) voxel coordinates
    else:
        idx = ((points_3d + 1) * size_xyz - 1) * 0.5
    limit = grid_sizes.flip(1)[:, None, :]  # (N, 1, 3)
    if mode == "trilinear":
        base = idx.detach().floor()
        offsets = [(dx, dy, dz) for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)]
    else:
        base = torch.floor(idx.detach() + 0.5)  # nearest voxel centre
        offsets = [(0, 0, 0)]
    dens = volume_densities.reshape(N, -1)  # (N, DHW)
    feats = volume_features.reshape(N, C, -1)  # (N, C, DHW)
    batch_off = (torch.arange(N, device=dev) * (D * H * W))[:, None]  # (N, 1)
    dens_flat = dens.reshape(-1)
    feats_flat = feats.permute(1, 0, 2).reshape(C, -1)  # (C, N DHW)
    for off in offsets:
        corner = base + torch.tensor(off, dtype=base.dtype, device=dev)  # (N, P, 3)
        ci = corner.long()
        inside = ((ci >= 0) & (ci < limit)).all(-1)  # (N, P)
        if mode == "trilinear":
            w = (1 - (idx - corner).abs()).prod(-1)  # (N, P), differentiable in the points
        else:
            w = torch.ones_like(idx[..., 0])
        w = w * mask * inside.to(w.dtype)
        ci = torch.where(inside[..., None], ci, torch.zeros_like(ci))
        lin = (ci[..., 2] * H + ci[..., 1]) * W + ci[..., 0] + batch_off  # (N, P)
        lin = lin.reshape(-1)
        dens_flat = dens_flat.index_add(0, lin, w.reshape(-1))
        feats_flat = feats_flat.index_add(
            1, lin, (points_features * w[..., None]).reshape(-1, C).t()
        )
    new_dens = dens_flat.reshape(N, 1, D, H, W)
    new_feats = feats_flat.reshape(C, N, D, H, W).permute(1, 0, 2, 3, 4)
    if rescale_features:
        floor_w = min_weight if mode == "trilinear" else 1.0
        new_feats = new_feats / new_dens.clamp(min=floor_w)
    return new_feats, new_dens
