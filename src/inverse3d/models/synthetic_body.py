"""A procedural SMPL-layout body model, for tests, docs and benchmarks (no licensed data).

The body has SMPL's 24 joints (names, kinematic tree, T-pose: +Y up, facing +Z, the subject's left
on +X) and its file layout (io.body_model_io), so everything that runs on it runs on the official
files. Scale: metres, like SMPL; 1.72 m tall at betas = 0 (head top 0.80 m above the pelvis joint,
soles 0.93 m below), 4088 vertices, 8064 triangles.

* Template: one capsule (cylinder with hemispherical caps) per bone, merged (overlapping parts,
  not a single watertight surface); torso capsules r 0.13-0.15 m, limbs 0.035-0.075 m.
* Skinning: each capsule follows the joint at its start; within 30% of the bone length from
  either end the weight blends linearly towards the neighbouring joint (50/50 at the joint).
* Joint regressor: joint j is the mean of the capsule rings centred on it (exact at any shape).
* Shape blend shapes (10): 0 height (uniform scale 6%/unit), 1 girth, 2 leg length, 3 arm
  length, 4 torso length, 5 shoulder width, 6 hip width, 7 belly, 8 head size, 9 limb girth.
* Pose blend shapes: bulges along the surface normal, 2 cm per unit of pose feature at most,
  from a fixed random table (seeded), so pose correctives are exercised.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch

from inverse3d.models.smpl import SMPL_JOINT_NAMES, SMPL_PARENTS

__all__ = [
    "HINGES",
    "make_keypoint_cases",
    "make_synthetic_body",
    "sample_body_poses",
    "synthetic_pose_prior",
    "write_synthetic_body",
]

# Rest joints (metres, Y up, facing +Z, left = +X).
_JOINTS = np.array(
    [
        [0.0, 0.0, 0.0],  # 0 pelvis
        [0.09, -0.08, 0.0],  # 1 left_hip
        [-0.09, -0.08, 0.0],  # 2 right_hip
        [0.0, 0.11, -0.01],  # 3 spine1
        [0.10, -0.48, 0.0],  # 4 left_knee
        [-0.10, -0.48, 0.0],  # 5 right_knee
        [0.0, 0.24, 0.0],  # 6 spine2
        [0.10, -0.86, -0.02],  # 7 left_ankle
        [-0.10, -0.86, -0.02],  # 8 right_ankle
        [0.0, 0.31, 0.0],  # 9 spine3
        [0.10, -0.89, 0.10],  # 10 left_foot
        [-0.10, -0.89, 0.10],  # 11 right_foot
        [0.0, 0.50, -0.01],  # 12 neck
        [0.07, 0.43, -0.01],  # 13 left_collar
        [-0.07, 0.43, -0.01],  # 14 right_collar
        [0.0, 0.60, 0.02],  # 15 head
        [0.18, 0.44, -0.02],  # 16 left_shoulder
        [-0.18, 0.44, -0.02],  # 17 right_shoulder
        [0.45, 0.44, -0.02],  # 18 left_elbow
        [-0.45, 0.44, -0.02],  # 19 right_elbow
        [0.70, 0.44, -0.02],  # 20 left_wrist
        [-0.70, 0.44, -0.02],  # 21 right_wrist
        [0.78, 0.44, -0.02],  # 22 left_hand
        [-0.78, 0.44, -0.02],  # 23 right_hand
    ]
)
# Extra capsule end points (not joints): head top, toes, finger tips.
_TIPS = {15: [0.0, 0.70, 0.02], 10: [0.10, -0.89, 0.17], 11: [-0.10, -0.89, 0.17]}
_TIPS.update({22: [0.84, 0.44, -0.02], 23: [-0.84, 0.44, -0.02]})
# Capsules: (start joint = owner, end joint or "tip", radius).
_BONES = [
    (0, 3, 0.13),
    (0, 1, 0.10),
    (0, 2, 0.10),
    (3, 6, 0.13),
    (6, 9, 0.14),
    (9, 12, 0.14),
    (12, 15, 0.05),
    (15, "tip", 0.095),
    (9, 13, 0.06),
    (9, 14, 0.06),
    (13, 16, 0.055),
    (14, 17, 0.055),
    (1, 4, 0.075),
    (2, 5, 0.075),
    (4, 7, 0.05),
    (5, 8, 0.05),
    (7, 10, 0.04),
    (8, 11, 0.04),
    (10, "tip", 0.035),
    (11, "tip", 0.035),
    (16, 18, 0.05),
    (17, 19, 0.05),
    (18, 20, 0.04),
    (19, 21, 0.04),
    (20, 22, 0.035),
    (21, 23, 0.035),
    (22, "tip", 0.03),
    (23, "tip", 0.03),
]
_SPINE = (3, 6, 9, 12)
_LEGS = (4, 5, 7, 8, 10, 11)
_ARMS = (16, 17, 18, 19, 20, 21, 22, 23)


def _capsule(a: np.ndarray, b: np.ndarray, r: float, around: int, cap: int, along: int):
    """Vertices, faces, axis parameter t in [0, 1], ring id (-1 at the poles) of a capsule."""
    d = b - a
    L = float(np.linalg.norm(d))
    d = d / L
    u = np.cross(d, [0.0, 0.0, 1.0] if abs(d[2]) < 0.9 else [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    w = np.cross(d, u)
    profile = [(-r * math.cos(th), r * math.sin(th)) for th in np.linspace(0, math.pi / 2, cap + 1)]
    profile += [(L * t, r) for t in np.linspace(0, 1, along + 2)[1:-1]]
    profile += [
        (L + r * math.sin(th), r * math.cos(th)) for th in np.linspace(0, math.pi / 2, cap + 1)
    ]
    ang = np.linspace(0, 2 * math.pi, around, endpoint=False)
    ring_dir = np.cos(ang)[:, None] * u + np.sin(ang)[:, None] * w  # (around, 3)
    verts, ts, ring = [a - r * d], [0.0], [-1]
    for k, (s, rho) in enumerate(profile[1:-1]):
        verts.extend(a + s * d + rho * ring_dir)
        ts.extend([min(max(s / L, 0.0), 1.0)] * around)
        ring.extend([k] * around)
    verts.append(b + r * d)
    ts.append(1.0)
    ring.append(-1)
    n_rings = len(profile) - 2
    faces = []
    for i in range(around):  # start fan
        faces.append([0, 1 + (i + 1) % around, 1 + i])
    for k in range(n_rings - 1):
        o0, o1 = 1 + k * around, 1 + (k + 1) * around
        for i in range(around):
            i2 = (i + 1) % around
            faces.append([o0 + i, o0 + i2, o1 + i])
            faces.append([o0 + i2, o1 + i2, o1 + i])
    last, pole = 1 + (n_rings - 1) * around, len(verts) - 1
    for i in range(around):
        faces.append([pole, last + i, last + (i + 1) % around])
    return np.array(verts), np.array(faces), np.array(ts), np.array(ring), cap


def _joint_shape_fields(J: np.ndarray) -> np.ndarray:
    """(10, J, 3) skeletal displacement of each joint per unit of each beta (0 for girth-only)."""
    n = len(J)
    out = np.zeros((10, n, 3))
    out[0] = 0.06 * J  # height: uniform scale about the pelvis
    out[1, :, 0] = 0.02 * np.sign(J[:, 0]) * (np.abs(J[:, 0]) > 0.05)  # girth widens a bit
    for j in _LEGS:  # leg length: below the hip, stretch downwards
        hip = 1 if J[j, 0] > 0 else 2
        out[2, j, 1] = 0.08 * (J[j, 1] - J[hip, 1])
    for j in _ARMS:  # arm length: beyond the shoulder, stretch outwards
        sh = 16 if J[j, 0] > 0 else 17
        out[3, j, 0] = 0.08 * (J[j, 0] - J[sh, 0])
    chain_dy = {j: 0.1 * (J[j, 1] - J[3, 1]) for j in _SPINE}
    for j in range(n):  # torso length: the spine stretches, what hangs on it follows
        k = j
        while k not in chain_dy and k > 0 and SMPL_PARENTS[k] >= 3:
            k = SMPL_PARENTS[k]
        if k in chain_dy and k >= 3 and j not in (1, 2, 4, 5, 7, 8, 10, 11):
            out[4, j, 1] = chain_dy[k]
    for j in (13, 14, *_ARMS):  # shoulder width
        out[5, j, 0] = 0.03 * np.sign(J[j, 0])
    for j in (1, 2, *_LEGS):  # hip width
        out[6, j, 0] = 0.02 * np.sign(J[j, 0])
    return out


def make_synthetic_body(seed: int = 0, around: int = 12, cap: int = 3, along: int = 6) -> dict:
    """The synthetic body model (module docstring) as a dict in the SMPL file layout.

    Args:
        seed: of the pose blend shape table.
        around / cap / along: capsule resolution (ring vertices, rings per cap, inner rings).

    Returns:
        {v_template (V, 3) float64, f (F, 3) uint32, weights (V, 24), J_regressor (24, V),
        kintree_table (2, 24) uint32 (root parent 4294967295, as SMPL), shapedirs (V, 3, 10),
        posedirs (V, 3, 207), joint_names (24,) str}
    """
    J = _JOINTS
    nJ = len(J)
    fields = _joint_shape_fields(J)
    verts, faces, weights, sd_rows, radial_all, reg_rows = [], [], [], [], [], []
    offset = 0
    for owner, end, r in _BONES:
        a = J[owner]
        tip = end == "tip"
        b = np.array(_TIPS[owner]) if tip else J[end]
        v, f, t, ring, _ = _capsule(a, b, r, around, cap, along)
        axis = a + t[:, None] * (b - a)
        radial = v - axis
        w = np.zeros((len(v), nJ))
        w[:, owner] = 1.0
        parent = SMPL_PARENTS[owner]
        if parent >= 0:
            w[:, parent] += 0.5 * np.clip(1 - t / 0.3, 0, 1)
        if not tip:
            w[:, end] += 0.5 * np.clip(1 - (1 - t) / 0.3, 0, 1)
        w /= w.sum(1, keepdims=True)
        # skeletal shape fields move the axis point (end-point values interpolated along t)
        fa = fields[:, owner]
        if tip:  # a tip moves with its joint, and scales with the body for height
            fb = fa.copy()
            fb[0] = 0.06 * b
        else:
            fb = fields[:, end]
        sd = fa.T[None] * (1 - t)[:, None, None] + fb.T[None] * t[:, None, None]  # (V, 3, 10)
        sd[:, :, 0] += 0.06 * radial
        limb = owner in (1, 2, *_LEGS, 13, 14, *_ARMS)
        torso = owner in (0, 3, 6, 9)
        sd[:, :, 1] += (0.12 if torso else 0.06) * radial
        if owner in (3, 6):  # belly: the front half of the lower torso
            front = np.clip(radial[:, 2] / max(r, 1e-9), 0, None)[:, None]
            sd[:, :, 7] += 0.25 * front * radial
        if owner == 15 and tip:  # head size
            sd[:, :, 8] += 0.12 * (v - a)
        if limb:
            sd[:, :, 9] += 0.15 * radial
        # regressor: the ring of this capsule centred on its start joint
        start_ring = np.flatnonzero(ring == cap - 1)  # the last cap ring is at s = 0
        reg_rows.append((owner, offset + start_ring))
        verts.append(v)
        faces.append(f + offset)
        weights.append(w)
        sd_rows.append(sd)
        radial_all.append(radial)
        offset += len(v)
    v_template = np.concatenate(verts)
    V = len(v_template)
    reg = np.zeros((nJ, V))
    for j, idx in reg_rows:
        reg[j, idx] += 1.0
    reg /= reg.sum(1, keepdims=True)
    weights = np.concatenate(weights)
    radial = np.concatenate(radial_all)
    normal = radial / np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
    rng = np.random.default_rng(seed)
    table = rng.uniform(-1, 1, size=(nJ - 1, 9))
    # posedirs[v, c, 9 (j - 1) + k] = 0.02 w[v, j] n_v[c] table[j - 1, k]
    posedirs = 0.02 * np.einsum("vj,vc,jk->vcjk", weights[:, 1:], normal, table)
    kin = np.array([SMPL_PARENTS, list(range(nJ))], dtype=np.int64)
    kin[0, 0] = 4294967295
    return {
        "v_template": v_template,
        "f": np.concatenate(faces).astype(np.uint32),
        "weights": weights,
        "J_regressor": reg,
        "kintree_table": kin.astype(np.uint32),
        "shapedirs": np.concatenate(sd_rows),
        "posedirs": posedirs.reshape(V, 3, 9 * (nJ - 1)),
        "joint_names": np.array(SMPL_JOINT_NAMES),
    }


def write_synthetic_body(path: str | os.PathLike, seed: int = 0) -> None:
    """Write the synthetic body model to `path` (.npz or .pkl, by its suffix)."""
    from inverse3d.io.body_model_io import save_body_model_file

    save_body_model_file(path, make_synthetic_body(seed))


# Per-joint standard deviation (radians) of the random body poses; elbows/knees bend one way.
_POSE_STD = {1: 0.3, 2: 0.3, 3: 0.12, 6: 0.08, 7: 0.15, 8: 0.15, 9: 0.08, 10: 0.1, 11: 0.1}
_POSE_STD.update({12: 0.12, 13: 0.08, 14: 0.08, 15: 0.15, 16: 0.35, 17: 0.35, 20: 0.2, 21: 0.2})
_POSE_STD.update({22: 0.1, 23: 0.1, 4: 0.05, 5: 0.05, 18: 0.05, 19: 0.05})
# (joint, axis, sign, max bend) of the one-way hinges: knees about +x, elbows about -y / +y.
HINGES = ((4, 0, 1.0, 1.3), (5, 0, 1.0, 1.3), (18, 1, -1.0, 1.3), (19, 1, 1.0, 1.3))


def sample_body_poses(
    n: int, generator: torch.Generator | None = None, scale: float = 1.0
) -> torch.Tensor:
    """Random plausible body poses for SMPL's 24 joints.

    Each joint's axis-angle is Normal(0, scale * std_j) with std_j 0.05-0.35 rad (hips and
    shoulders the most); knees and elbows also bend their natural way by Uniform(0, 1.3 scale)
    rad. The root (joint 0) is the identity: the caller chooses the global orientation.

    Returns:
        (n, 24, 3) float32 axis-angle.
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0; got {n!r}")
    std = torch.zeros(24, 1)
    for j, s in _POSE_STD.items():
        std[j] = s * scale
    pose = torch.randn(n, 24, 3, generator=generator) * std
    for j, axis, sign, bend in HINGES:
        pose[:, j, axis] += sign * torch.rand(n, generator=generator) * bend * scale
    return pose


def synthetic_pose_prior(min_std: float = 0.05) -> dict[str, np.ndarray]:
    """The distribution of `sample_body_poses` (scale 1) as a one-component Gaussian pose prior,
    in the GMM file layout of `loss.body_fitting.GaussianMixturePrior` / `fit-body --gmm`.

    Each body joint's axis-angle component has the sampler's mean and standard deviation (a
    hinge's Uniform(0, bend) added to its Normal(0, std): mean bend / 2, variance
    std^2 + bend^2 / 12); components the sampler leaves at 0 get `min_std` so the covariance is
    positive definite. Save it with numpy.savez(path, **synthetic_pose_prior()).

    Returns:
        {"means": (1, 69) float64, "covars": (1, 69, 69) float64 diagonal, "weights": (1,)}.
    """
    if not (isinstance(min_std, (int, float)) and min_std > 0):
        raise ValueError(f"min_std must be a number > 0; got {min_std!r}")
    mean = np.zeros((23, 3))
    std = np.zeros((23, 3))
    for j, sd in _POSE_STD.items():
        std[j - 1] = sd
    for j, axis, sign, bend in HINGES:
        mean[j - 1, axis] = sign * bend / 2
        std[j - 1, axis] = math.sqrt(std[j - 1, axis] ** 2 + bend**2 / 12)
    var = np.maximum(std, min_std).reshape(-1) ** 2
    return {"means": mean.reshape(1, -1), "covars": np.diag(var)[None], "weights": np.ones(1)}


def make_keypoint_cases(
    model: Any,
    n: int,
    generator: torch.Generator | None = None,
    image_size: int = 512,
    focal: float = 1000.0,
    noise_px: float = 2.0,
    pose_scale: float = 1.0,
    fixed_scale: bool = False,
) -> dict[str, torch.Tensor]:
    """Random bodies seen by a pinhole camera, with noisy 2D keypoints of every joint.

    Shape betas ~ Normal(0, 1) clipped to [-2, 2]; body pose from `sample_body_poses`; global
    orientation: upright (pi about x, OpenCV camera axes) turned by a yaw ~ Uniform(-pi, pi)
    about the body's vertical and tilted by Normal(0, 0.1) rad about x and z; depth
    Uniform(4, 6) m, lateral offsets Normal(0, 0.2) m. Keypoints: the projected joints plus
    Normal(0, noise_px) pixel noise per coordinate.

    fixed_scale: betas[:, 0] = 0 (shape blend shape 0 of the synthetic body is a uniform scale,
    which joint keypoints cannot tell from depth: a body s times larger and s times further
    away projects to the same image); the other betas still vary.

    Args:
        model: a BodyModel with SMPL's 24 joints.

    Returns:
        {betas (n, B), pose (n, 24, 3) axis-angle (joint 0 global), transl (n, 3), joints
        (n, 24, 3), vertices (n, V, 3) (camera frame, metres), keypoints (n, 24, 2) pixels,
        focal (n,), principal (n, 2), image_size (2,) (H, W)} float32.
    """
    from inverse3d.transforms.rotation_conversions import axis_angle_to_matrix, matrix_to_axis_angle

    g = generator
    betas = (torch.randn(n, model.num_betas, generator=g)).clamp(-2, 2)
    if fixed_scale:
        betas[:, 0] = 0.0
    pose = sample_body_poses(n, g, pose_scale)
    yaw = (torch.rand(n, generator=g) * 2 - 1) * math.pi
    tilt = torch.randn(n, 2, generator=g) * 0.1
    zero = torch.zeros(n)
    R = (
        axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0]).expand(n, 3))
        @ axis_angle_to_matrix(torch.stack([tilt[:, 0], zero, tilt[:, 1]], -1))
        @ axis_angle_to_matrix(torch.stack([zero, yaw, zero], -1))
    )
    pose[:, 0] = matrix_to_axis_angle(R)
    transl = torch.stack(
        [
            torch.randn(n, generator=g) * 0.2,
            torch.randn(n, generator=g) * 0.2,
            4 + 2 * torch.rand(n, generator=g),
        ],
        -1,
    )
    out = model(betas, pose, transl)
    f = torch.full((n,), float(focal))
    c = torch.full((n, 2), image_size / 2.0)
    uv = f[:, None, None] * out.joints[..., :2] / out.joints[..., 2:] + c[:, None]
    keypoints = uv + noise_px * torch.randn(uv.shape, generator=g)
    return {
        "betas": betas,
        "pose": pose,
        "transl": transl,
        "joints": out.joints,
        "vertices": out.vertices,
        "keypoints": keypoints,
        "focal": f,
        "principal": c,
        "image_size": torch.tensor([image_size, image_size]),
    }
