"""SMPLify-style fitting of a body model's pose and shape to 2D keypoints (book: the body chapter).

Camera: a pinhole at the origin in OpenCV axes (x right, y down, z forward), focal length f and
principal point c in pixels, u = f X / Z + c. The body is placed by its global orientation (joint
0's rotation) and translation.

1. Camera translation from the torso: with the mean shape facing the camera, the depth is
   f L3 / L2 (L3, L2: the shoulder-to-hip lengths in 3D and in the image, both sides averaged)
   and x, y put the torso centre on the keypoints' torso centre.
2. Camera stage: translation and global orientation fitted to the torso keypoints only.
3. Staged optimisation (Adam, batched: independent fits share one optimiser) of global
   orientation (6D), translation, body pose (axis-angle) and shape, minimising
       sum_k c_k rho(proj(J_k) - x_k)                     Geman-McClure, sigma pixels
     + w_pose  pose prior   (GMM npz if given, else a zero-mean Gaussian per joint, see config)
     + w_angle joint-angle prior on elbows and knees (exp of the unnatural bend)
     + w_shape |betas|^2
     + w_pen   capsule interpenetration (optional, off by default),
   with w_pose and w_shape decreasing from stage to stage (SMPLify's annealing).
4. Several starts are fitted at once (the body upright, turned by yaws evenly spaced about its
   vertical: 4 by default, 2 = facing the camera and away); the lower final loss wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from inverse3d._validation import check_tensor
from inverse3d.loss.body_fitting import (
    GaussianMixturePrior,
    capsule_penetration,
    gaussian_pose_prior,
    joint_angle_prior,
    reprojection_loss,
)
from inverse3d.methods.base import setting
from inverse3d.models.smpl import BodyModel
from inverse3d.transforms.rotation_conversions import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
)

__all__ = [
    "DEFAULT_HINGES",
    "SMPLifyConfig",
    "SMPLifyResult",
    "body_errors",
    "fit_body",
    "initial_translation",
    "project_points",
]

# (joint name, axis, natural bend sign) of SMPL's hinge joints (T-pose, facing +Z, left on +X).
DEFAULT_HINGES = (
    ("left_knee", 0, 1.0),
    ("right_knee", 0, 1.0),
    ("left_elbow", 1, -1.0),
    ("right_elbow", 1, 1.0),
)
_TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")


@dataclass
class SMPLifyConfig:
    """Settings of `fit_body` / `inverse3d fit-body`."""

    camera_steps: int = setting(100, "Adam steps of the camera stage (torso keypoints)", low=0)
    stage_steps: int = setting(120, "Adam steps of each pose/shape stage", low=0)
    pose_weights: tuple[float, ...] = setting(
        (40.0, 20.0, 8.0, 4.0), "pose prior weight of each stage (annealed)", low=0
    )
    shape_weights: tuple[float, ...] = setting(
        (40.0, 20.0, 8.0, 4.0), "shape prior weight of each stage", low=0
    )
    angle_weight: float = setting(1.0, "joint-angle (elbow, knee) prior weight", low=0)
    penetration_weight: float = setting(0.0, "capsule interpenetration weight (0: off)", low=0)
    sigma: float = setting(50.0, "Geman-McClure scale, pixels", low=1e-6)
    pose_std: float = setting(
        0.35, "std (rad) of the simple Gaussian pose prior (used without a GMM)", low=1e-6
    )
    hinge_std: float = setting(
        1.0, "std (rad) of the simple prior along a hinge's natural bend axis", low=1e-6
    )
    lr: float = setting(0.03, "Adam learning rate (radians, metres, betas)", low=0.0)
    num_betas: int = setting(10, "shape coefficients fitted", low=0)
    starts: int = setting(
        4, "global orientations tried (yaws evenly spaced; 2: facing the camera and away)", low=1
    )


@dataclass
class SMPLifyResult:
    """Fitted bodies, camera frame (OpenCV axes, metres of the model).

    betas (N, B), pose (N, J, 3) axis-angle (joint 0 global), transl (N, 3), joints (N, J, 3),
    vertices (N, V, 3), reprojection_error (N,) mean pixel distance over keypoints with
    confidence > 0, history: loss per stage step (batch sum).
    """

    betas: torch.Tensor
    pose: torch.Tensor
    transl: torch.Tensor
    joints: torch.Tensor
    vertices: torch.Tensor
    reprojection_error: torch.Tensor
    history: list[dict[str, float]] = field(default_factory=list)


def project_points(points: torch.Tensor, focal: torch.Tensor, principal: torch.Tensor):
    """Pinhole projection u = f X / Z + c (OpenCV axes).

    Args:
        points: (N, P, 3) float camera-frame points; focal: (N,) float pixels;
        principal: (N, 2) float pixels.

    Returns:
        (N, P, 2) float pixels.
    """
    check_tensor(points, "points", ("N", None, 3), dtype="float", dims=(d := {}))
    check_tensor(focal, "focal", ("N",), dtype="float", dims=d)
    check_tensor(principal, "principal", ("N", 2), dtype="float", dims=d)
    z = points[..., 2:].clamp(min=1e-6)
    return focal[:, None, None] * points[..., :2] / z + principal[:, None]


def _joint_ids(model: BodyModel, names: tuple[str, ...]) -> list[int]:
    missing = [n for n in names if n not in model.joint_names]
    if missing:
        raise ValueError(f"the body model has no joint(s) {missing}; it has {model.joint_names}")
    return [model.joint_names.index(n) for n in names]


def initial_translation(
    model: BodyModel,
    rot0: torch.Tensor,
    keypoints: torch.Tensor,
    focal: torch.Tensor,
    principal: torch.Tensor,
) -> torch.Tensor:
    """Translation that puts the mean-shape torso where the torso keypoints are (similar
    triangles on the shoulder-hip lengths; module docstring).

    Args:
        rot0: (N, 3, 3) float global orientation; keypoints: (N, J, 2) float pixels of every
            model joint (torso joints used); focal: (N,); principal: (N, 2).

    Returns:
        (N, 3) float.
    """
    ls, rs, lh, rh = _joint_ids(model, _TORSO)
    J = model.rest_joints().to(keypoints)[0]  # (J, 3)
    L3 = 0.5 * ((J[ls] - J[lh]).norm() + (J[rs] - J[rh]).norm())
    k = keypoints
    L2 = 0.5 * ((k[:, ls] - k[:, lh]).norm(dim=-1) + (k[:, rs] - k[:, rh]).norm(dim=-1))
    z = focal * L3 / L2.clamp(min=1e-3)  # (N,)
    centre2 = k[:, [ls, rs, lh, rh]].mean(1)  # (N, 2)
    target = torch.cat([(centre2 - principal) * (z / focal)[:, None], z[:, None]], -1)
    c3 = J[[ls, rs, lh, rh]].mean(0)
    posed_centre = (rot0 @ (c3 - J[0]))[..., :] + J[0]  # (N, 3)
    return target - posed_centre


def _capsules(model: BodyModel) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(C,) child joint of each bone capsule, (C,) radii, (Q, 2) non-adjacent pairs."""
    J = model.rest_joints()[0]
    v = model.v_template
    owner = model.weights.argmax(1)
    children, radii = [], []
    for j in range(1, model.num_joints):
        p = model.parents[j]
        a, b = J[p], J[j]
        pts = v[owner == p]
        if len(pts) == 0:
            continue
        ab = b - a
        t = ((pts - a) @ ab / ab.dot(ab).clamp(min=1e-12)).clamp(0, 1)
        d = (pts - (a + t[:, None] * ab)).norm(dim=-1)
        children.append(j)
        radii.append(float(d.median()) * 0.8)
    ends = {c: {model.parents[c], c} for c in children}
    pairs = []
    for i, ci in enumerate(children):
        for k in range(i + 1, len(children)):
            ck = children[k]
            near = set(ends[ci])
            for x in list(ends[ci]):
                if x >= 0:
                    near |= {model.parents[x]} | {c for c in children if model.parents[c] == x}
            if not (ends[ck] & near):
                pairs.append((i, k))
    return (
        torch.tensor(children),
        torch.tensor(radii),
        torch.tensor(pairs, dtype=torch.int64).reshape(-1, 2),
    )


def fit_body(
    model: BodyModel,
    keypoints: torch.Tensor,
    confidence: torch.Tensor,
    focal: torch.Tensor | float,
    principal: torch.Tensor,
    config: SMPLifyConfig | None = None,
    gmm: GaussianMixturePrior | None = None,
    progress: bool = False,
) -> SMPLifyResult:
    """Fit pose, shape and translation to 2D keypoints of the model's joints.

    Args:
        model: BodyModel with named joints (SMPL's names for the torso and hinges).
        keypoints: (N, J, 2) float pixels, one per model joint (order of model.joint_names).
        confidence: (N, J) float >= 0; 0 marks a missing keypoint.
        focal: pixels, float or (N,) float.
        principal: (N, 2) float pixels.
        gmm: pose prior on the flattened body pose (joints 1..J-1); None: the Gaussian prior.

    Returns:
        SMPLifyResult.
    """
    from inverse3d.engine import run_loop

    cfg = config or SMPLifyConfig()
    J = model.num_joints
    check_tensor(keypoints, "keypoints", ("N", J, 2), dtype="float", dims=(d := {}), finite=True)
    check_tensor(confidence, "confidence", ("N", J), dtype="float", dims=d, finite=True)
    check_tensor(principal, "principal", ("N", 2), dtype="float", dims=d)
    if bool((confidence < 0).any()):
        raise ValueError("confidence must be >= 0")
    if len(cfg.pose_weights) != len(cfg.shape_weights) or not cfg.pose_weights:
        raise ValueError(
            "pose_weights and shape_weights must have the same number (>= 1) of stages; got "
            f"{len(cfg.pose_weights)} and {len(cfg.shape_weights)}"
        )
    N = d["N"]
    dev, dt = model.v_template.device, model.v_template.dtype
    focal_t = torch.as_tensor(focal, dtype=dt, device=dev).reshape(-1).expand(N).clone()
    kp, conf, pp = keypoints.to(dev, dt), confidence.to(dev, dt), principal.to(dev, dt)
    if gmm is not None and gmm.dim != 3 * (J - 1):
        raise ValueError(f"gmm must have dimension {3 * (J - 1)} (body joints x 3); got {gmm.dim}")

    # Upright facing the camera: SMPL's +Y up / +Z forward turned by pi about x; then `starts`
    # yaws evenly spaced about the body's vertical axis (2: facing the camera and away).
    upright = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0], dtype=dt, device=dev))
    starts = []
    for k in range(cfg.starts):
        yaw = torch.tensor([0.0, 2 * math.pi * k / cfg.starts, 0.0], dtype=dt, device=dev)
        starts.append(upright @ axis_angle_to_matrix(yaw))
    S = len(starts)
    rot0 = torch.cat([r.expand(N, 3, 3) for r in starts])
    kpS, confS, ppS, fS = kp.repeat(S, 1, 1), conf.repeat(S, 1), pp.repeat(S, 1), focal_t.repeat(S)
    M = S * N
    transl = initial_translation(model, rot0, kpS, fS, ppS).detach().requires_grad_(True)
    orient = matrix_to_rotation_6d(rot0).detach().requires_grad_(True)
    body = torch.zeros(M, J - 1, 3, dtype=dt, device=dev, requires_grad=True)
    B = min(cfg.num_betas, model.num_betas)
    betas = torch.zeros(M, B, dtype=dt, device=dev, requires_grad=True)
    hinges = [
        (model.joint_names.index(n) - 1, ax, s)
        for n, ax, s in DEFAULT_HINGES
        if n in model.joint_names
    ]
    std = torch.full((J - 1, 3), cfg.pose_std, dtype=dt, device=dev)
    for j, ax, _ in hinges:
        std[j, ax] = cfg.hinge_std
    torso = _joint_ids(model, _TORSO)
    torso_conf = torch.zeros_like(confS)
    torso_conf[:, torso] = confS[:, torso]
    z0 = transl[:, 2].detach().clone()
    if cfg.penetration_weight > 0:
        cap_child, cap_r, cap_pairs = _capsules(model)
        cap_parent = torch.tensor([model.parents[c] for c in cap_child.tolist()])
        cap_r = cap_r.to(dev, dt)
    history: list[dict[str, float]] = []

    def joints_now() -> tuple[torch.Tensor, torch.Tensor]:
        rots = torch.cat([rotation_6d_to_matrix(orient)[:, None], axis_angle_to_matrix(body)], 1)
        out = model(betas, rots, transl, return_verts=False)
        return out.joints, out.rotmats

    def terms(w_pose: float, w_shape: float, camera: bool) -> tuple[torch.Tensor, torch.Tensor]:
        joints, _ = joints_now()
        proj = project_points(joints, fS, ppS)
        data = reprojection_loss(proj, kpS, torso_conf if camera else confS, cfg.sigma)
        if camera:
            return data + 1e2 * (transl[:, 2] - z0) ** 2, data
        prior = gmm(body.reshape(M, -1)) if gmm is not None else gaussian_pose_prior(body, std)
        total = data + w_pose * prior + w_shape * (betas**2).sum(-1)
        total = total + cfg.angle_weight * w_pose * joint_angle_prior(body, hinges)
        if cfg.penetration_weight > 0:
            pen = capsule_penetration(joints[:, cap_parent], joints[:, cap_child], cap_r, cap_pairs)
            total = total + cfg.penetration_weight * pen
        return total, data

    def run_stage(params: list[torch.Tensor], steps: int, w_pose: float, w_shape: float, cam: bool):
        opt = torch.optim.Adam(params, lr=cfg.lr)

        def step_fn(step: int) -> dict[str, float]:
            total, data = terms(w_pose, w_shape, cam)
            loss = total.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec = {"loss": float(loss.detach()), "data": float(data.sum().detach())}
            history.append(rec)
            return rec

        run_loop(step_fn, steps, progress=progress, desc="fit-body", divergence_window=None)

    run_stage([transl, orient], cfg.camera_steps, 0.0, 0.0, True)
    for w_pose, w_shape in zip(cfg.pose_weights, cfg.shape_weights):
        run_stage([transl, orient, body, betas], cfg.stage_steps, w_pose, w_shape, False)

    with torch.no_grad():
        total, _ = terms(cfg.pose_weights[-1], cfg.shape_weights[-1], False)
        best = total.view(S, N).argmin(0)  # (N,)
        pick = best * N + torch.arange(N, device=dev)
        rots = torch.cat([rotation_6d_to_matrix(orient)[:, None], axis_angle_to_matrix(body)], 1)
        out = model(betas[pick], rots[pick], transl[pick])
        proj = project_points(out.joints, focal_t, pp)
        err = (proj - kp).norm(dim=-1)
        valid = (conf > 0).to(dt)
        reproj = (err * valid).sum(-1) / valid.sum(-1).clamp(min=1)
        pose = matrix_to_axis_angle(rots[pick])
    return SMPLifyResult(
        betas=betas[pick].detach(),
        pose=pose,
        transl=transl[pick].detach(),
        joints=out.joints,
        vertices=out.vertices,
        reprojection_error=reproj,
        history=history,
    )


def body_errors(
    joints: torch.Tensor,
    true_joints: torch.Tensor,
    vertices: torch.Tensor | None = None,
    true_vertices: torch.Tensor | None = None,
    root: int = 0,
) -> dict[str, torch.Tensor]:
    """Per-example 3D errors (in the model's unit), the usual protocols:

    mpjpe: mean joint distance after moving both roots (joint `root`) to the origin;
    pa_mpjpe: mean joint distance after the best similarity (Procrustes) alignment;
    v2v: mean vertex distance after root alignment (when vertices are given).

    Args:
        joints, true_joints: (N, J, 3) float; vertices, true_vertices: (N, V, 3) float or None.

    Returns:
        {"mpjpe": (N,), "pa_mpjpe": (N,)[, "v2v": (N,)]} float.
    """
    from inverse3d.ops.points_alignment import corresponding_points_alignment

    check_tensor(joints, "joints", ("N", "J", 3), dtype="float", dims=(d := {}))
    check_tensor(true_joints, "true_joints", ("N", "J", 3), dtype="float", dims=d)
    pr, gt = joints[:, root : root + 1], true_joints[:, root : root + 1]
    out = {"mpjpe": ((joints - pr) - (true_joints - gt)).norm(dim=-1).mean(-1)}
    sim = corresponding_points_alignment(joints, true_joints, estimate_scale=True)
    aligned = sim.s[:, None, None] * torch.bmm(joints, sim.R) + sim.T[:, None]
    out["pa_mpjpe"] = (aligned - true_joints).norm(dim=-1).mean(-1)
    if vertices is not None and true_vertices is not None:
        check_tensor(vertices, "vertices", ("N", "V", 3), dtype="float", dims=d)
        check_tensor(true_vertices, "true_vertices", ("N", "V", 3), dtype="float", dims=d)
        out["v2v"] = ((vertices - pr) - (true_vertices - gt)).norm(dim=-1).mean(-1)
    return out
