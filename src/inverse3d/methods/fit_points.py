"""Deform an ico-sphere to a point cloud (book ch.3): chamfer + edge + normal + Laplacian losses.

The points are centred and scaled into the unit ball, the sphere's vertex offsets are optimised
with SGD (momentum 0.9) on chamfer_distance(sampled mesh points, target points) plus
mesh_edge_loss, mesh_normal_consistency and mesh_laplacian_smoothing (the book's weights), and
the result is mapped back to the points' frame. The mesh stays closed (the sphere's topology).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from inverse3d._validation import check_nonneg_int, check_tensor
from inverse3d.methods.base import setting

__all__ = ["FitPointsConfig", "fit_mesh_to_points", "chamfer_to_points"]


@dataclass
class FitPointsConfig:
    """Settings of `inverse3d fit-mesh` (sphere deformation to a point cloud)."""

    steps: int = setting(1000, "optimisation steps", low=0)
    level: int = setting(4, "ico-sphere subdivision level of the initial mesh", low=0, high=7)
    lr: float = setting(1.0, "SGD learning rate", low=0.0)
    momentum: float = setting(0.9, "SGD momentum")
    n_samples: int = setting(5000, "points sampled on the mesh per step", low=1)
    w_chamfer: float = setting(1.0, "weight of the chamfer distance", low=0)
    w_edge: float = setting(1.0, "weight of mesh_edge_loss", low=0)
    w_normal: float = setting(0.01, "weight of mesh_normal_consistency", low=0)
    w_laplacian: float = setting(0.1, "weight of mesh_laplacian_smoothing (uniform)", low=0)


def chamfer_to_points(mesh, points: torch.Tensor, n_samples: int = 20000) -> float:
    """Symmetric squared chamfer distance (PyTorch3D's chamfer_distance) between points sampled
    on `mesh` and `points` (P, 3), in the points' units."""
    from inverse3d.loss.chamfer import chamfer_distance
    from inverse3d.ops.sample_points_from_meshes import sample_points_from_meshes

    with torch.no_grad():
        samples = sample_points_from_meshes(mesh, n_samples)
        return float(chamfer_distance(samples, points[None].to(samples))[0])


def fit_mesh_to_points(
    points: torch.Tensor, config: FitPointsConfig | None = None, progress: bool = False
) -> tuple[Any, Any, list[dict[str, float]]]:
    """Fit a sphere mesh to points: (P, 3) float.

    Returns (initial sphere, fitted mesh, loss history), both meshes in the points' frame.
    """
    from inverse3d.engine import run_loop
    from inverse3d.loss.chamfer import chamfer_distance
    from inverse3d.loss.mesh_edge_loss import mesh_edge_loss
    from inverse3d.loss.mesh_laplacian_smoothing import mesh_laplacian_smoothing
    from inverse3d.loss.mesh_normal_consistency import mesh_normal_consistency
    from inverse3d.ops.sample_points_from_meshes import sample_points_from_meshes
    from inverse3d.structures.meshes import Meshes
    from inverse3d.utils.ico_sphere import ico_sphere

    cfg = config or FitPointsConfig()
    check_tensor(points, "points", ("P", 3), "float")
    if points.shape[0] == 0:
        raise ValueError("points must hold at least one point; got 0")
    if not torch.isfinite(points).all():
        raise ValueError("points must be finite; got NaN or inf")
    steps = check_nonneg_int(cfg.steps, "steps")
    pts = points.float()
    centre = pts.mean(0)
    scale = float((pts - centre).abs().max().clamp(min=1e-12))
    target = ((pts - centre) / scale)[None]
    sphere = ico_sphere(check_nonneg_int(cfg.level, "level"), device=pts.device)
    verts0, faces = sphere.verts_packed(), sphere.faces_packed()
    offsets = torch.zeros_like(verts0, requires_grad=True)
    opt = torch.optim.SGD([offsets], lr=cfg.lr, momentum=cfg.momentum)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        mesh = Meshes([verts0 + offsets], [faces])
        sample = sample_points_from_meshes(mesh, cfg.n_samples)
        out = {
            "chamfer": chamfer_distance(sample, target)[0],
            "edge": mesh_edge_loss(mesh),
            "normal": mesh_normal_consistency(mesh),
            "laplacian": mesh_laplacian_smoothing(mesh, method="uniform"),
        }
        loss = (
            cfg.w_chamfer * out["chamfer"]
            + cfg.w_edge * out["edge"]
            + cfg.w_normal * out["normal"]
            + cfg.w_laplacian * out["laplacian"]
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        out["loss"] = loss
        return out

    result = run_loop(step_fn, steps, progress=progress, desc="fit-mesh")
    back = lambda v: v.detach() * scale + centre  # noqa: E731
    initial = Meshes([back(verts0)], [faces])
    fitted = Meshes([back(verts0 + offsets)], [faces])
    return initial, fitted, result.history
