"""Occupancy F1 of a signed distance field against a mesh (definitions in docs/metrics.md).

A point is *inside* (the positive class) where the SDF is negative. Ground truth: inside where
the generalized winding number of the mesh exceeds 1/2 (the sign `ops.mesh_sdf` uses for open
or non-manifold meshes, fast variant), after `ops.sdf_sampling.outward_faces` (a mesh wound
inward, such as the book's cube, is reversed first). With TP, FP, FN counted over the points:
precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN); when there
is no positive in either the prediction or the truth, F1 = 1.

`evaluate_sdf_occupancy` draws fresh points in the unit-cube frame of the mesh
(``(x - centre) / scale``, `ops.sdf_sampling.unit_cube_transform`): ``n_points`` uniform in the
bounding cube [-0.5, 0.5]^3 ("volume") and ``n_points`` surface samples plus N(0, noise_std^2)
noise per coordinate ("near"), from a seed different from any training seed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from inverse3d._validation import check_positive_int, check_tensor
from inverse3d.ops.fast_winding import fast_winding_number
from inverse3d.ops.sdf_sampling import (
    outward_faces,
    sample_near_surface_points,
    sample_uniform_points,
    unit_cube_transform,
)

__all__ = ["EVAL_SEED", "evaluate_sdf_occupancy", "occupancy_f1"]

# Seed of the evaluation points (training seeds are small integers).
EVAL_SEED = 2**31 - 1


def occupancy_f1(pred_sdf: torch.Tensor, gt_sdf: torch.Tensor) -> dict[str, float]:
    """Occupancy precision, recall, F1 and accuracy, inside = negative SDF.

    Args:
        pred_sdf: (P,) float predicted signed distances (only the sign is used).
        gt_sdf: (P,) float ground-truth signed distances (or any field negative inside).

    Returns:
        {"f1", "precision", "recall", "accuracy"} as floats (see the module docstring; an empty
        class gives precision or recall 1.0 when it has no false detections either).
    """
    check_tensor(pred_sdf, "pred_sdf", (None,), "float")
    check_tensor(gt_sdf, "gt_sdf", (pred_sdf.shape[0],), "float")
    if pred_sdf.shape[0] == 0:
        raise ValueError("pred_sdf must hold at least one value; got 0")
    pred, gt = pred_sdf < 0, gt_sdf < 0
    tp = int((pred & gt).sum())
    fp = int((pred & ~gt).sum())
    fn = int((~pred & gt).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0 if fn == 0 else 0.0
    recall = tp / (tp + fn) if tp + fn else 1.0 if fp == 0 else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    acc = float((pred == gt).float().mean())
    return {"f1": f1, "precision": precision, "recall": recall, "accuracy": acc}


def evaluate_sdf_occupancy(
    sdf_fn: Callable[[torch.Tensor], torch.Tensor],
    verts: torch.Tensor,
    faces: torch.Tensor,
    n_points: int = 100_000,
    noise_std: float = 0.01,
    seed: int = EVAL_SEED,
) -> dict[str, float]:
    """Occupancy F1 of `sdf_fn` against the mesh, in the volume and near the surface.

    Args:
        sdf_fn: maps points (P, 3) of the unit-cube frame of the mesh to (P,) or (P, 1)
            signed distances (negative inside); called without autograd.
        verts: (V, 3) float mesh vertices in the mesh's own frame; faces: (F, 3) int64.
        n_points: points per set.
        noise_std: std of the near-surface offsets, in unit-cube units.

    Returns:
        {"f1_volume", "precision_volume", "recall_volume", "accuracy_volume", the same four with
        "_near", "inside_fraction_volume", "inside_fraction_near"}.
    """
    check_tensor(verts, "verts", (None, 3), "float")
    check_tensor(faces, "faces", (None, 3), "int")
    n_points = check_positive_int(n_points, "n_points")
    centre, scale = unit_cube_transform(verts)
    v = (verts - centre) / scale
    faces = outward_faces(v, faces)
    gen = torch.Generator().manual_seed(int(seed))
    sets = {
        "volume": sample_uniform_points(n_points, 0.5, gen).to(v),
        "near": sample_near_surface_points(v, faces, n_points, noise_std, gen),
    }
    out: dict[str, float] = {}
    for name, x in sets.items():
        gt = 0.5 - fast_winding_number(x, v, faces)  # negative inside
        with torch.no_grad():
            pred = sdf_fn(x).reshape(-1).to(gt)
        for key, value in occupancy_f1(pred, gt).items():
            out[f"{key}_{name}"] = value
        out[f"inside_fraction_{name}"] = float((gt < 0).float().mean())
    return out
