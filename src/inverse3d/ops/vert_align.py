"""Sample image-plane features at vertex positions (PyTorch3D `ops.vert_align`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from inverse3d._validation import check_choice, check_tensor

__all__ = ["vert_align"]


def vert_align(
    feats: torch.Tensor | list[torch.Tensor],
    verts,
    return_packed: bool = False,
    interp_mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = True,
) -> torch.Tensor:
    """Sample feature maps at the (x, y) of each vertex with `grid_sample`.

    Args:
        feats: (N, C, H, W) float feature map, or a list of them (their samples are concatenated
            along the channel dimension).
        verts: (N, V, 3) or (N, V, 2) float tensor, a Meshes or a Pointclouds. x and y are in
            grid_sample's normalized coordinates: (-1, -1) is the top-left of the map.
        return_packed: return (sum V_n, C) packed features (for Meshes/Pointclouds the padding
            is dropped; for a tensor the result is (N * V, C)).
        interp_mode: "bilinear" or "nearest".
        padding_mode: "zeros", "border" or "reflection".
        align_corners: as torch.nn.functional.grid_sample.

    Returns:
        (N, V, sum C) float, or (sum V_n, sum C) float when return_packed.
    """
    if torch.is_tensor(verts):
        if verts.dim() != 3:
            raise ValueError(f"verts must be a (N, V, 3) tensor; got shape {tuple(verts.shape)}")
        grid = verts
    elif hasattr(verts, "verts_padded"):
        grid = verts.verts_padded()
    elif hasattr(verts, "points_padded"):
        grid = verts.points_padded()
    else:
        raise ValueError(
            f"verts must be a tensor, a Meshes or a Pointclouds; got {type(verts).__name__}"
        )
    if grid.shape[-1] < 2:
        raise ValueError(f"verts must have at least 2 coordinates; got {tuple(grid.shape)}")
    check_choice(interp_mode, "interp_mode", ["bilinear", "nearest"])
    check_choice(padding_mode, "padding_mode", ["zeros", "border", "reflection"])
    feat_list = [feats] if torch.is_tensor(feats) else feats
    if not isinstance(feat_list, (list, tuple)) or not feat_list:
        raise TypeError(f"feats must be a tensor or a list of tensors; got {type(feats).__name__}")
    for i, f in enumerate(feat_list):
        check_tensor(f, f"feats[{i}]" if not torch.is_tensor(feats) else "feats", (None,) * 4)
        if f.shape[0] != grid.shape[0]:
            raise ValueError(
                f"feats and verts must have the same batch size; got {f.shape[0]} and "
                f"{grid.shape[0]}"
            )
    g = grid[:, None, :, :2].to(feat_list[0].dtype)  # (N, 1, V, 2)
    out = []
    for f in feat_list:
        s = F.grid_sample(
            f, g, mode=interp_mode, padding_mode=padding_mode, align_corners=align_corners
        )  # (N, C, 1, V)
        out.append(s[:, :, 0].transpose(1, 2))  # (N, V, C)
    sampled = torch.cat(out, dim=2)  # (N, V, sum C)
    if return_packed:
        sampled = sampled.reshape(-1, sampled.shape[-1])
        if hasattr(verts, "verts_padded_to_packed_idx"):
            sampled = sampled[verts.verts_padded_to_packed_idx()]
        elif hasattr(verts, "padded_to_packed_idx"):
            sampled = sampled[verts.padded_to_packed_idx()]
    return sampled
