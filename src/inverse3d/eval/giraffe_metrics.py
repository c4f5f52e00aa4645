"""Controllability checks of a GIRAFFE generator (models.giraffe), FID-free and readable.

- translation: over n random scenes, the centroid of object k's silhouette (its opacity image,
  at the feature resolution, in NDC: +x left, +y up) against the camera projection
  ``focal * (c_x, c_y) / c_z`` of its centre c; Pearson correlation per image axis.
- appearance: the silhouette (opacity > 0.5) with the scenes' appearance codes and with new
  ones; intersection over union (1 by construction: density ignores the appearance code).
- rotation (`rotation_check`): for each scene, object k (rendered alone) is turned about y by J angles spread over
  half a turn. The ground truth is the mesh renderer's silhouette of the procedural box that is
  "the same object": the box fitted to the generator's own density in the object's canonical
  frame (centre and half-extents from the density's first and second moments, a solid box of
  half-extent h having variance h^2 / 3), posed with the same scale, centre and angles. The
  measure is the Pearson correlation, pooled over scenes and angles, of the *change* of the
  silhouette width (opacity-weighted standard deviation of NDC x, minus its mean over the
  scene's J angles) of the generator and of the ground truth. For an elongated box the width
  swings between its short and long side as it turns; a generator that ignores its rotation
  input keeps a constant width and scores 0. Also reported: the ratio of the two changes'
  standard deviations (1 when the generator turns as far as the truth) and the mean IoU of
  the generated silhouette (opacity > 0.5) with the ground truth's (mask > 0.5) over all
  scenes and angles, which also needs the learned shape to be box-like.
"""

from __future__ import annotations

import math

import torch

from inverse3d._validation import check_positive_int
from inverse3d.models.giraffe import GiraffeGenerator, ObjectPoses, SceneCodes, rotation_y

__all__ = ["canonical_box_fit", "controllability", "rotation_check"]


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation; 0 when exactly one of a, b is constant, nan when both are."""
    sa, sb = float(a.std()), float(b.std())
    if sa < 1e-9 or sb < 1e-9:
        return float("nan") if sa < 1e-9 and sb < 1e-9 else 0.0
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def _check_gen(gen: object) -> GiraffeGenerator:
    if not isinstance(gen, GiraffeGenerator):
        raise TypeError(f"gen must be a GiraffeGenerator; got {type(gen).__name__}")
    return gen


@torch.no_grad()
def canonical_box_fit(
    gen: GiraffeGenerator, codes: SceneCodes, poses: ObjectPoses, k: int = 0, grid: int = 16
) -> tuple[torch.Tensor, torch.Tensor]:
    """The box that matches object k's density in its canonical frame [-1, 1]^3.

    The density is sampled at grid^3 cell centres; a cell's weight is its opacity
    ``1 - exp(-sigma * cell length)`` (cell length in world units, scale s included). Returns
    (centre (N, 3), half-extents (N, 3)) in canonical units: the weighted mean m and
    ``sqrt(3 * variance)`` per axis, clipped so that the box stays inside [-1, 1]^3.
    """
    gen = _check_gen(gen)
    if not 0 <= int(k) < gen.n_objects:
        raise ValueError(f"k must be in 0..{gen.n_objects - 1}; got {k}")
    grid = check_positive_int(grid, "grid")
    n = codes.shape.shape[0]
    dev = codes.shape.device
    c = (torch.arange(grid, device=dev, dtype=torch.float32) + 0.5) * (2.0 / grid) - 1.0
    pts = torch.stack(torch.meshgrid(c, c, c, indexing="ij"), -1).reshape(1, -1, 3)
    sigma, _ = gen.objects(pts.expand(n, -1, -1), codes.shape[:, k], codes.appearance[:, k])
    w = 1.0 - torch.exp(-sigma * (2.0 / grid) * poses.scale[:, k, None])
    w = w / w.sum(1, keepdim=True).clamp_min(1e-12)
    mean = (w[..., None] * pts).sum(1)
    var = (w[..., None] * (pts - mean[:, None]) ** 2).sum(1)
    half = (3.0 * var).sqrt().clamp(1.0 / grid, 1.0)
    mean = torch.maximum(torch.minimum(mean, 1.0 - half), half - 1.0)
    return mean, half


def _box_silhouettes(
    centres: torch.Tensor,
    halves: torch.Tensor,
    rot: torch.Tensor,
    size: int,
    focal: float,
    ss: int = 1,
) -> torch.Tensor:
    """Mesh-renderer silhouettes (M, size, size) in {0, 1} of boxes with world centres (M, 3),
    world half-extents (M, 3) and y rotations (M,), sampled at the pixel centres like the
    generator's rays (`ss` > 1: supersampled and average-pooled instead)."""
    from inverse3d.datasets.procedural_shapes import shape_mesh
    from inverse3d.renderer.cameras import PerspectiveCameras
    from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
    from inverse3d.structures.meshes import Meshes

    v, f = shape_mesh("box")
    v, f = v.to(centres.device), f.to(centres.device)
    verts = (v[None] * halves[:, None]) @ rotation_y(rot).transpose(1, 2) + centres[:, None]
    m = verts.shape[0]
    meshes = Meshes(list(verts), [f] * m)
    settings = RasterizationSettings(image_size=size * ss, faces_per_pixel=1)
    cams = PerspectiveCameras(focal_length=float(focal), device=centres.device)
    frags = MeshRasterizer(cameras=cams, raster_settings=settings)(meshes)
    hit = (frags.pix_to_face[..., 0] >= 0).float()
    return torch.nn.functional.avg_pool2d(hit[:, None], ss)[:, 0]


def _width(op: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Opacity-weighted standard deviation of NDC x: op (M, P), x (P,) -> (M,)."""
    tot = op.sum(1).clamp_min(1e-8)
    mx = (op * x).sum(1) / tot
    return ((op * (x - mx[:, None]) ** 2).sum(1) / tot).clamp_min(0).sqrt()


@torch.no_grad()
def rotation_check(
    gen: GiraffeGenerator,
    n: int = 100,
    seed: int = 0,
    n_angles: int = 8,
    k: int = 0,
    chunk: int = 16,
) -> dict[str, float]:
    """{"rotation_width_corr", "rotation_width_ratio", "rotation_iou"} of object k of `gen`
    (rendered alone) over n random scenes drawn with `seed`, each turned by n_angles angles
    j * pi / n_angles (module docstring)."""
    gen = _check_gen(gen)
    if not isinstance(k, int) or not 0 <= k < gen.n_objects:
        raise ValueError(f"k must be an object index in 0..{gen.n_objects - 1}; got {k!r}")
    n = check_positive_int(n, "n")
    n_angles = check_positive_int(n_angles, "n_angles")
    chunk = check_positive_int(chunk, "chunk")
    if n_angles < 3:
        raise ValueError(f"n_angles must be >= 3; got {n_angles}")
    g = torch.Generator().manual_seed(int(seed))
    codes, poses = gen.sample_latents(n, g)
    dev = codes.shape.device
    offsets = torch.arange(n_angles, device=dev, dtype=torch.float32) * (math.pi / n_angles)
    xy = gen.rays(1)[2]
    h = gen.feature_size
    # the ground truth's pixel grid (row 0 is +y, column 0 is +x) as the generator's ray order
    cs = (torch.arange(h, device=dev, dtype=torch.float32) + 0.5) * (2.0 / h) - 1.0
    gx = -cs[None, :].expand(h, h).reshape(-1)
    mean, half = canonical_box_fit(gen, codes, poses, k)
    w_gen, w_gt, ious = [], [], []
    centre0 = torch.tensor([0.0, 0.0, gen.depth], device=dev)
    for s in range(0, n, chunk):
        idx = torch.arange(s, min(n, s + chunk), device=dev)
        m = idx.numel()
        rep = lambda x, i=idx: x[i].repeat_interleave(n_angles, 0)  # noqa: E731
        rot = poses.rotation[idx].repeat_interleave(n_angles, 0)
        rot[:, k] += offsets.repeat(m)
        p = ObjectPoses(rep(poses.scale), rep(poses.translation), rot)
        c = SceneCodes(rep(codes.shape), rep(codes.appearance), rep(codes.bg_shape),
                       rep(codes.bg_appearance))  # fmt: skip
        op = gen.render_features(c, p, objects_only=True, only=k)[1].reshape(m * n_angles, -1)
        scale = p.scale[:, k, None]
        R = rotation_y(rot[:, k])
        world_c = (R @ (rep(mean) * scale)[..., None])[..., 0] + p.translation[:, k] + centre0
        gt = _box_silhouettes(world_c, rep(half) * scale, rot[:, k], h, gen.focal)
        gt = gt.reshape(m * n_angles, -1)
        w_gen.append(_width(op, xy[:, 0]).reshape(m, n_angles))
        w_gt.append(_width(gt, gx).reshape(m, n_angles))
        a, b = op > 0.5, gt > 0.5
        inter, union = (a & b).sum(1).float(), (a | b).sum(1).float()
        ious.append(torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)))
    wg, wt = torch.cat(w_gen), torch.cat(w_gt)
    dg, dt = wg - wg.mean(1, keepdim=True), wt - wt.mean(1, keepdim=True)
    ratio = float(dg.std() / dt.std()) if float(dt.std()) > 1e-9 else float("nan")
    return {
        "rotation_width_corr": _corr(dg.flatten().cpu(), dt.flatten().cpu()),
        "rotation_width_ratio": ratio,
        "rotation_iou": float(torch.cat(ious).mean()),
    }


@torch.no_grad()
def controllability(
    gen: GiraffeGenerator, n: int = 100, seed: int = 0, n_angles: int = 8
) -> dict[str, float]:
    """{"translation_corr_x", "translation_corr_y", "appearance_iou", "mean_opacity"} of object
    0 of `gen` over n random scenes drawn with `seed`, and the keys of `rotation_check` (n
    scenes, n_angles angles; n_angles 0 leaves it out); the translation and rotation keys with
    suffix "_object{k}" for every further object k (rendered alone); module docstring."""
    gen = _check_gen(gen)
    n = check_positive_int(n, "n")
    if n < 3:
        raise ValueError(f"n must be >= 3 for a correlation; got {n}")
    if int(n_angles) != 0 and int(n_angles) < 3:
        raise ValueError(f"n_angles must be 0 (off) or >= 3; got {n_angles}")
    g = torch.Generator().manual_seed(int(seed))
    codes, poses = gen.sample_latents(n, g)
    xy = gen.rays(1)[2]
    out: dict[str, float] = {}
    for k in range(gen.n_objects):
        op = gen.render_features(codes, poses, objects_only=True, only=k)[1]
        w = op.reshape(n, -1)
        cen = (w @ xy) / w.sum(1, keepdim=True).clamp_min(1e-8)
        centre = poses.translation[:, k] + poses.translation.new_tensor([0.0, 0.0, gen.depth])
        proj = gen.focal * centre[:, :2] / centre[:, 2:]
        suffix = "" if k == 0 else f"_object{k}"
        out[f"translation_corr_x{suffix}"] = _corr(cen[:, 0].cpu(), proj[:, 0].cpu())
        out[f"translation_corr_y{suffix}"] = _corr(cen[:, 1].cpu(), proj[:, 1].cpu())
    op = gen.object_opacity(codes, poses)
    new_app = torch.randn(codes.appearance.shape, generator=g).to(codes.appearance)
    other = SceneCodes(codes.shape, new_app, codes.bg_shape, codes.bg_appearance)
    a, b = op > 0.5, gen.object_opacity(other, poses) > 0.5
    union = (a | b).sum()
    out["appearance_iou"] = float((a & b).sum() / union) if union > 0 else float("nan")
    out["mean_opacity"] = float(op.mean())
    for k in range(gen.n_objects if int(n_angles) else 0):
        suffix = "" if k == 0 else f"_object{k}"
        rot = rotation_check(gen, n, seed, int(n_angles), k=k)
        out.update({f"{key}{suffix}": v for key, v in rot.items()})
    return out
