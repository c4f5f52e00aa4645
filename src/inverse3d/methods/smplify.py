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
5. Depth twins (flip_steps > 0): a bone turned towards the camera projects almost like the
   same bone turned away, so the whole-body twin (`mirror_body_depth`) and then each limb's
   twins (`flip_limb_depth`: upper bone, lower bone, both) are refined beside the fit at the
   last stage's weights; the lowest loss wins per limb, and the combined body if it is lower.
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
    "LIMBS",
    "SMPLifyConfig",
    "SMPLifyResult",
    "body_errors",
    "fit_body",
    "flip_limb_depth",
    "mirror_body_depth",
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
# (upper, middle, end) joints of the limbs whose depth twins `fit_body` tries.
LIMBS = (
    ("left_hip", "left_knee", "left_ankle"),
    ("right_hip", "right_knee", "right_ankle"),
    ("left_shoulder", "left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow", "right_wrist"),
)


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
    flip_steps: int = setting(
        100, "Adam steps refining each limb depth twin, then the combined body (0: no twins)", low=0
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


def _rotation_between(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(M, 3, 3) smallest rotations taking the directions u (M, 3) to v (M, 3)."""
    u = u / u.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    v = v / v.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    w = torch.cross(u, v, dim=-1)
    s = w.norm(dim=-1, keepdim=True)
    angle = torch.atan2(s, (u * v).sum(-1, keepdim=True))
    return axis_angle_to_matrix(w / s.clamp(min=1e-12) * angle)


def flip_limb_depth(
    model: BodyModel,
    rotmats: torch.Tensor,
    betas: torch.Tensor,
    transl: torch.Tensor,
    limb: tuple[int, int, int],
    upper: bool,
    lower: bool,
) -> torch.Tensor:
    """The monocular twin of a limb: its bones turned towards / away from the camera instead.

    A bone seen at 4-6 m projects almost the same when its direction d is mirrored about the
    plane perpendicular to the viewing ray r through the limb's first joint,
    d' = d - 2 (d . r) r. For limb (a, b, c) (hip, knee, ankle or shoulder, elbow, wrist) the
    bone a->b is mirrored when `upper`, b->c when `lower`, each by the smallest rotation of its
    joint's world frame; c's world orientation (foot, hand) is kept. Camera frame, OpenCV axes.

    Args:
        rotmats: (M, J, 3, 3) float local rotations (joint 0 global); betas: (M, B) float;
        transl: (M, 3) float; limb: 3 joint indices, each the child of the one before.

    Returns:
        (M, J, 3, 3) float local rotations of the flipped bodies.
    """
    from inverse3d.models.smpl import forward_kinematics

    check_tensor(rotmats, "rotmats", ("M", model.num_joints, 3, 3), dtype="float", dims=(d := {}))
    check_tensor(betas, "betas", ("M", None), dtype="float", dims=d)
    check_tensor(transl, "transl", ("M", 3), dtype="float", dims=d)
    a, b, c = limb
    P = model.parents
    if P[b] != a or P[c] != b:
        raise ValueError(f"limb must be a chain (joint, child, grandchild); got {limb}")
    rest = model.rest_joints(betas)
    posed, A = forward_kinematics(rotmats, rest, P)
    G = A[:, :, :3, :3]
    ray = posed[:, a] + transl
    ray = ray / ray.norm(dim=-1, keepdim=True).clamp(min=1e-12)

    def mirrored(Gj: torch.Tensor, j: int, k: int) -> torch.Tensor:
        bone = (Gj @ (rest[:, k] - rest[:, j])[..., None])[..., 0]
        twin = bone - 2 * (bone * ray).sum(-1, keepdim=True) * ray
        return _rotation_between(bone, twin) @ Gj

    Ga = mirrored(G[:, a], a, b) if upper else G[:, a]
    Gb = mirrored(G[:, b], b, c) if lower else G[:, b]
    out = rotmats.clone()
    out[:, a] = G[:, P[a]].transpose(1, 2) @ Ga
    out[:, b] = Ga.transpose(1, 2) @ Gb
    out[:, c] = Gb.transpose(1, 2) @ G[:, c]
    return out


def _kabsch(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """(M, 3, 3) rotations R minimising sum_k |R src_k - dst_k|^2; src, dst (M, K, 3)."""
    H = dst.transpose(1, 2) @ src  # (M, 3, 3)
    U, _, Vh = torch.linalg.svd(H)
    d = torch.det(U @ Vh).sign()
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    return U @ D @ Vh


def mirror_body_depth(
    model: BodyModel, rotmats: torch.Tensor, betas: torch.Tensor, transl: torch.Tensor
) -> torch.Tensor:
    """The whole-body monocular twin: every bone's direction mirrored about the plane
    perpendicular to the viewing ray through the root (as `flip_limb_depth`, all at once).

    Each joint's world frame is turned by the rotation that best maps its child bones onto
    their mirrored directions (Kabsch; the smallest rotation for one child); a leaf joint keeps
    its world orientation. For a nearly planar torso this is the yaw twin (the body turned by
    the same angle the other way), which the starts of `fit_body` do not separate.

    Args:
        rotmats: (M, J, 3, 3) float local rotations (joint 0 global); betas: (M, B) float;
        transl: (M, 3) float.

    Returns:
        (M, J, 3, 3) float local rotations.
    """
    from inverse3d.models.smpl import forward_kinematics

    J = model.num_joints
    check_tensor(rotmats, "rotmats", ("M", J, 3, 3), dtype="float", dims=(d := {}))
    check_tensor(betas, "betas", ("M", None), dtype="float", dims=d)
    check_tensor(transl, "transl", ("M", 3), dtype="float", dims=d)
    P = model.parents
    rest = model.rest_joints(betas)
    posed, A = forward_kinematics(rotmats, rest, P)
    G = A[:, :, :3, :3]
    ray = posed[:, 0] + transl
    ray = (ray / ray.norm(dim=-1, keepdim=True).clamp(min=1e-12))[:, None]
    children = [[k for k in range(J) if P[k] == j] for j in range(J)]
    new = []
    out = rotmats.clone()
    for j in range(J):
        kids = children[j]
        if not kids:
            Gj = G[:, j]
        else:
            bones = (G[:, j] @ (rest[:, kids] - rest[:, j : j + 1]).transpose(1, 2)).transpose(1, 2)
            twins = bones - 2 * (bones * ray).sum(-1, keepdim=True) * ray
            if len(kids) == 1:
                Q = _rotation_between(bones[:, 0], twins[:, 0])
            else:
                Q = _kabsch(bones, twins)
            Gj = Q @ G[:, j]
        new.append(Gj)
        out[:, j] = Gj if j == 0 else new[P[j]].transpose(1, 2) @ Gj
    return out


class _Fitter:
    """The objective and the Adam stages of `fit_body`, for M hypotheses of N cases
    (hypothesis m fits case idx[m])."""

    def __init__(self, model, kp, conf, focal, pp, cfg, gmm, progress, history) -> None:
        self.model, self.kp, self.conf, self.f, self.pp = model, kp, conf, focal, pp
        self.cfg, self.gmm, self.progress, self.history = cfg, gmm, progress, history
        J = model.num_joints
        dev, dt = kp.device, kp.dtype
        self.hinges = [
            (model.joint_names.index(n) - 1, ax, s)
            for n, ax, s in DEFAULT_HINGES
            if n in model.joint_names
        ]
        self.std = torch.full((J - 1, 3), cfg.pose_std, dtype=dt, device=dev)
        for j, ax, _ in self.hinges:
            self.std[j, ax] = cfg.hinge_std
        self.torso = _joint_ids(model, _TORSO)
        if cfg.penetration_weight > 0:
            cap_child, cap_r, self.cap_pairs = _capsules(model)
            self.cap_parent = torch.tensor([model.parents[c] for c in cap_child.tolist()])
            self.cap_child, self.cap_r = cap_child, cap_r.to(dev, dt)

    def rotmats(self, orient: torch.Tensor, body: torch.Tensor) -> torch.Tensor:
        return torch.cat([rotation_6d_to_matrix(orient)[:, None], axis_angle_to_matrix(body)], 1)

    def terms(self, idx, p, w_pose: float, w_shape: float, camera: bool):
        """(total (M,), data (M,)) at parameters p = (orient, transl, body, betas)."""
        orient, transl, body, betas = p
        joints = self.model(betas, self.rotmats(orient, body), transl, return_verts=False).joints
        proj = project_points(joints, self.f[idx], self.pp[idx])
        conf = self.conf[idx]
        if camera:
            torso_conf = torch.zeros_like(conf)
            torso_conf[:, self.torso] = conf[:, self.torso]
            conf = torso_conf
        data = reprojection_loss(proj, self.kp[idx], conf, self.cfg.sigma)
        if camera:
            return data + 1e2 * (transl[:, 2] - self.z0) ** 2, data
        M = body.shape[0]
        gmm = self.gmm
        prior = gmm(body.reshape(M, -1)) if gmm is not None else gaussian_pose_prior(body, self.std)
        total = data + w_pose * prior + w_shape * (betas**2).sum(-1)
        total = total + self.cfg.angle_weight * w_pose * joint_angle_prior(body, self.hinges)
        if self.cfg.penetration_weight > 0:
            pen = capsule_penetration(
                joints[:, self.cap_parent], joints[:, self.cap_child], self.cap_r, self.cap_pairs
            )
            total = total + self.cfg.penetration_weight * pen
        return total, data

    def stage(self, idx, p, steps: int, w_pose: float, w_shape: float, camera: bool) -> None:
        from inverse3d.engine import run_loop

        params = list(p[:2]) if camera else list(p)
        if camera:
            self.z0 = p[1][:, 2].detach().clone()
        opt = torch.optim.Adam(params, lr=self.cfg.lr)

        def step_fn(step: int) -> dict[str, float]:
            total, data = self.terms(idx, p, w_pose, w_shape, camera)
            loss = total.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec = {"loss": float(loss.detach()), "data": float(data.sum().detach())}
            self.history.append(rec)
            return rec

        run_loop(step_fn, steps, progress=self.progress, desc="fit-body", divergence_window=None)

    def final(self, idx, p) -> torch.Tensor:
        with torch.no_grad():
            return self.terms(idx, p, self.cfg.pose_weights[-1], self.cfg.shape_weights[-1], False)[
                0
            ]


def _leaf(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone().requires_grad_(True)


def _limbs(model: BodyModel) -> list[tuple[int, int, int]]:
    names = model.joint_names
    out = []
    for limb in LIMBS:
        if all(n in names for n in limb):
            ids = tuple(names.index(n) for n in limb)
            if model.parents[ids[1]] == ids[0] and model.parents[ids[2]] == ids[1]:
                out.append(ids)
    return out


def fit_body(
    model: BodyModel,
    keypoints: torch.Tensor,
    confidence: torch.Tensor,
    focal: torch.Tensor | float,
    principal: torch.Tensor,
    config: SMPLifyConfig | None = None,
    gmm: GaussianMixturePrior | None = None,
    progress: bool = False,
    init: SMPLifyResult | None = None,
) -> SMPLifyResult:
    """Fit pose, shape and translation to 2D keypoints of the model's joints.

    Args:
        model: BodyModel with named joints (SMPL's names for the torso and hinges).
        keypoints: (N, J, 2) float pixels, one per model joint (order of model.joint_names).
        confidence: (N, J) float >= 0; 0 marks a missing keypoint.
        focal: pixels, float or (N,) float.
        principal: (N, 2) float pixels.
        gmm: pose prior on the flattened body pose (joints 1..J-1); None: the Gaussian prior.
        init: a start (its betas (N, B), pose (N, J, 3), transl (N, 3) are used, e.g. the
            previous frame's fit): the orientation starts and the camera stage are skipped.

    Returns:
        SMPLifyResult.
    """
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
    history: list[dict[str, float]] = []
    fit = _Fitter(model, kp, conf, focal_t, pp, cfg, gmm, progress, history)
    B = min(cfg.num_betas, model.num_betas)
    cases = torch.arange(N, device=dev)

    if init is not None:
        check_tensor(init.pose, "init.pose", (N, J, 3), dtype="float")
        check_tensor(init.transl, "init.transl", (N, 3), dtype="float")
        check_tensor(init.betas, "init.betas", (N, None), dtype="float")
        rots = axis_angle_to_matrix(init.pose.to(dev, dt))
        betas0 = torch.zeros(N, B, dtype=dt, device=dev)
        nb = min(B, init.betas.shape[1])
        betas0[:, :nb] = init.betas[:, :nb].to(dev, dt)
        p = [
            _leaf(matrix_to_rotation_6d(rots[:, 0])),
            _leaf(init.transl.to(dev, dt)),
            _leaf(init.pose[:, 1:].to(dev, dt)),
            _leaf(betas0),
        ]
        idx = cases
    else:
        # Upright facing the camera: SMPL's +Y up / +Z forward turned by pi about x; then
        # `starts` yaws evenly spaced about the body's vertical (2: facing the camera and away).
        upright = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0], dtype=dt, device=dev))
        starts = []
        for k in range(cfg.starts):
            yaw = torch.tensor([0.0, 2 * math.pi * k / cfg.starts, 0.0], dtype=dt, device=dev)
            starts.append(upright @ axis_angle_to_matrix(yaw))
        S = len(starts)
        rot0 = torch.cat([r.expand(N, 3, 3) for r in starts])
        idx = cases.repeat(S)
        M = S * N
        transl0 = initial_translation(model, rot0, kp[idx], focal_t[idx], pp[idx])
        p = [
            _leaf(matrix_to_rotation_6d(rot0)),
            _leaf(transl0),
            _leaf(torch.zeros(M, J - 1, 3, dtype=dt, device=dev)),
            _leaf(torch.zeros(M, B, dtype=dt, device=dev)),
        ]
        fit.stage(idx, p, cfg.camera_steps, 0.0, 0.0, True)
    for w_pose, w_shape in zip(cfg.pose_weights, cfg.shape_weights):
        fit.stage(idx, p, cfg.stage_steps, w_pose, w_shape, False)
    best = fit.final(idx, p).view(-1, N).argmin(0)
    pick = best * N + cases
    p = [_leaf(x[pick]) for x in p]

    if cfg.flip_steps > 0:
        # The whole-body twin (`mirror_body_depth`) refined beside the body; the lower loss wins.
        w_pose, w_shape = cfg.pose_weights[-1], cfg.shape_weights[-1]
        with torch.no_grad():
            rots = fit.rotmats(p[0], p[2])
            allrots = torch.cat([rots, mirror_body_depth(model, rots, p[3], p[1])])
        idx2 = cases.repeat(2)
        q = [
            _leaf(matrix_to_rotation_6d(allrots[:, 0])),
            _leaf(p[1].detach().repeat(2, 1)),
            _leaf(matrix_to_axis_angle(allrots[:, 1:])),
            _leaf(p[3].detach().repeat(2, 1)),
        ]
        fit.stage(idx2, q, cfg.flip_steps, w_pose, w_shape, False)
        pick = fit.final(idx2, q).view(2, N).argmin(0) * N + cases
        p = [_leaf(x.detach()[pick]) for x in q]

    limbs = _limbs(model) if cfg.flip_steps > 0 else []
    if limbs:
        # Limb depth twins (`flip_limb_depth`): for each limb the twins of its upper bone, its
        # lower bone and both are refined beside the body as it is; each limb keeps the variant
        # of lowest loss, then the combined body is refined and kept if its loss is lower.
        w_pose, w_shape = cfg.pose_weights[-1], cfg.shape_weights[-1]
        with torch.no_grad():
            rots = fit.rotmats(p[0], p[2])
            variants = [rots]
            for limb in limbs:
                for upper, lower in ((True, False), (False, True), (True, True)):
                    variants.append(flip_limb_depth(model, rots, p[3], p[1], limb, upper, lower))
            V = len(variants)
            allrots = torch.cat(variants)
        idxv = cases.repeat(V)
        q = [
            _leaf(p[0].detach().repeat(V, 1)),
            _leaf(p[1].detach().repeat(V, 1)),
            _leaf(matrix_to_axis_angle(allrots[:, 1:])),
            _leaf(p[3].detach().repeat(V, 1)),
        ]
        fit.stage(idxv, q, cfg.flip_steps, w_pose, w_shape, False)
        loss = fit.final(idxv, q).view(V, N)
        body = q[2].detach().view(V, N, J - 1, 3)
        combined = body[0].clone()
        changed = torch.zeros(N, dtype=torch.bool, device=dev)
        for li, limb in enumerate(limbs):
            options = torch.cat([loss[:1], loss[1 + 3 * li : 4 + 3 * li]])  # (4, N)
            choice = options.argmin(0)  # (N,)
            rows = torch.where(choice == 0, 0, 1 + 3 * li + choice - 1)
            for j in limb:
                combined[:, j - 1] = body[rows, cases, j - 1]
            changed |= choice > 0
        base = [x.detach().view(V, N, *x.shape[1:])[0] for x in q]
        c = [_leaf(base[0]), _leaf(base[1]), _leaf(combined), _leaf(base[3])]
        fit.stage(cases, c, cfg.flip_steps, w_pose, w_shape, False)
        better = (fit.final(cases, c) < loss[0]) & changed
        p = [_leaf(torch.where(better.view(-1, *[1] * (a.dim() - 1)), a, b)) for a, b in
             zip([x.detach() for x in c], base)]  # fmt: skip

    with torch.no_grad():
        rots = fit.rotmats(p[0], p[2])
        out = model(p[3], rots, p[1])
        proj = project_points(out.joints, focal_t, pp)
        err = (proj - kp).norm(dim=-1)
        valid = (conf > 0).to(dt)
        reproj = (err * valid).sum(-1) / valid.sum(-1).clamp(min=1)
        pose = matrix_to_axis_angle(rots)
    return SMPLifyResult(
        betas=p[3].detach(),
        pose=pose,
        transl=p[1].detach(),
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
    mpjpe_abs: mean joint distance as they are (camera frame: translation errors included);
    mpjpe_scaled: root-aligned, then the prediction scaled about its root by the least-squares
        factor (N-MPJPE, Rhodin et al. 2018): what keypoints can tell, since a body s times
        larger and s times further away projects to the same image;
    pa_mpjpe: mean joint distance after the best similarity (Procrustes) alignment;
    v2v: mean vertex distance after root alignment (when vertices are given).

    Args:
        joints, true_joints: (N, J, 3) float; vertices, true_vertices: (N, V, 3) float or None.

    Returns:
        {"mpjpe", "mpjpe_abs", "mpjpe_scaled", "pa_mpjpe"[, "v2v"]}: (N,) float each.
    """
    from inverse3d.ops.points_alignment import corresponding_points_alignment

    check_tensor(joints, "joints", ("N", "J", 3), dtype="float", dims=(d := {}))
    check_tensor(true_joints, "true_joints", ("N", "J", 3), dtype="float", dims=d)
    pr, gt = joints[:, root : root + 1], true_joints[:, root : root + 1]
    rel, rel_t = joints - pr, true_joints - gt
    out = {"mpjpe": (rel - rel_t).norm(dim=-1).mean(-1)}
    out["mpjpe_abs"] = (joints - true_joints).norm(dim=-1).mean(-1)
    scale = (rel * rel_t).sum((1, 2)) / (rel * rel).sum((1, 2)).clamp(min=1e-12)
    out["mpjpe_scaled"] = (scale[:, None, None] * rel - rel_t).norm(dim=-1).mean(-1)
    sim = corresponding_points_alignment(joints, true_joints, estimate_scale=True)
    aligned = sim.s[:, None, None] * torch.bmm(joints, sim.R) + sim.T[:, None]
    out["pa_mpjpe"] = (aligned - true_joints).norm(dim=-1).mean(-1)
    if vertices is not None and true_vertices is not None:
        check_tensor(vertices, "vertices", ("N", "V", 3), dtype="float", dims=d)
        check_tensor(true_vertices, "true_vertices", ("N", "V", 3), dtype="float", dims=d)
        out["v2v"] = ((vertices - pr) - (true_vertices - gt)).norm(dim=-1).mean(-1)
    return out
