"""Single-image mesh metrics at Mesh R-CNN's scale (Gkioxari et al. 2019, ShapeNet protocol).

Each (pred, gt) pair is scaled by one factor so that the GT bounding box's longest side is
`scale_to` (10 in the paper); `n_samples` points are sampled on each surface with their face
normals. Then

    chamfer: mean over pred samples of the squared distance to the nearest GT sample plus the
        same from GT to pred (squared L2, both directions summed, as the paper's table);
    normal_consistency: mean |cos| between a sample's normal and its nearest neighbour's in the
        other set, averaged over both directions;
    f1@tau: harmonic mean of precision (fraction of pred samples within tau of a GT sample) and
        recall (GT samples within tau of a pred sample), for each tau (0.1, 0.3, 0.5 in the paper).
"""

from __future__ import annotations

import torch

from inverse3d._validation import check_positive_float, check_positive_int
from inverse3d.loss.chamfer import chamfer_distance
from inverse3d.ops.sample_points_from_meshes import sample_points_from_meshes

__all__ = ["MESH_RCNN_TAUS", "evaluate_mesh_head", "mesh_rcnn_metrics"]

MESH_RCNN_TAUS = (0.1, 0.3, 0.5)


def mesh_rcnn_metrics(
    pred,
    gt,
    n_samples: int = 5000,
    taus: tuple[float, ...] = MESH_RCNN_TAUS,
    scale_to: float = 10.0,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Per-pair metrics (module docstring) of two Meshes batches of N non-empty meshes each.

    Returns:
        {"chamfer": (N,), "normal_consistency": (N,), "f1@<tau>": (N,) for each tau} float
        tensors (no autograd); the global RNG is left untouched.
    """
    n = check_positive_int(n_samples, "n_samples")
    scale_to = check_positive_float(scale_to, "scale_to")
    for name, m in (("pred", pred), ("gt", gt)):
        if not hasattr(m, "verts_list"):
            raise TypeError(f"{name} must be a Meshes; got {type(m).__name__}")
        if any(f.shape[0] == 0 for f in m.faces_list()):
            raise ValueError(f"{name} has an empty mesh; every mesh needs faces")
    if len(pred) != len(gt):
        raise ValueError(f"pred and gt must have the same batch size; got {len(pred)}, {len(gt)}")
    taus = tuple(check_positive_float(t, "taus") for t in taus)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        gp, gn = sample_points_from_meshes(gt, n, return_normals=True)
        pp, pn = sample_points_from_meshes(pred.to(gp.device), n, return_normals=True)
        side = torch.stack([(v.amax(0) - v.amin(0)).amax() for v in gt.verts_list()])
        side = side.to(gp).clamp(min=1e-12)  # (N,) longest side of each GT bounding box
        s = (scale_to / side)[:, None, None]
        (d_pg, d_gp), (n_pg, n_gp) = chamfer_distance(
            pp * s, gp * s, x_normals=pn, y_normals=gn,
            batch_reduction=None, point_reduction=None,
        )  # fmt: skip
    out = {
        "chamfer": d_pg.mean(1) + d_gp.mean(1),
        "normal_consistency": 1.0 - 0.5 * (n_pg.mean(1) + n_gp.mean(1)),
    }
    for t in taus:
        prec = (d_pg < t * t).float().mean(1)
        rec = (d_gp < t * t).float().mean(1)
        out[f"f1@{t:g}"] = torch.where(
            prec + rec > 0, 2 * prec * rec / (prec + rec).clamp(min=1e-12), torch.zeros_like(prec)
        )
    return out


@torch.no_grad()
def evaluate_mesh_head(
    model,
    data,
    eval_samples: int = 5000,
    chunk: int = 8,
    stage: int = -1,
) -> dict[str, float]:
    """Mean `mesh_rcnn_metrics` over `data` (a `make_shape_samples` batch) of a MeshRCNNHead's
    meshes of `stage` (0: the cubified voxels, -1: the last refinement stage), plus "voxel_iou" (predicted occupancy vs. ground truth,
    pooled over the samples)."""
    was = model.training
    model.eval()
    sums: dict[str, float] = {}
    inter = union = 0.0
    dev = next(model.parameters()).device
    for s in range(0, len(data), chunk):
        part = data.subset(list(range(s, min(len(data), s + chunk))))
        out = model(part.images.to(dev))
        m = mesh_rcnn_metrics(
            out.meshes[stage],
            part.meshes.to(dev),
            check_positive_int(eval_samples, "eval_samples"),
            seed=s,
        )
        for k, v in m.items():
            sums[k] = sums.get(k, 0.0) + float(v.sum())
        occ = torch.sigmoid(out.voxel_logits) >= model.cubify_thresh
        gt = part.voxels.to(dev) > 0.5
        inter += float((occ & gt).sum())
        union += float((occ | gt).sum())
    model.train(was)
    res = {k: v / len(data) for k, v in sums.items()}
    res["voxel_iou"] = inter / max(union, 1.0)
    return res
