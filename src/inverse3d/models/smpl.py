"""SMPL-family body model: shape and pose blend shapes, joint regressor, forward kinematics, linear
blend skinning. Batched and differentiable in shape, pose and translation.

Given shape coefficients betas (N, B), per-joint rotations R (N, J, 3, 3) and a translation t (N, 3):

    v_shaped = v_template + shapedirs . betas                     (N, V, 3)
    J_rest   = J_regressor @ v_shaped                             (N, J, 3)
    v_posed  = v_shaped + posedirs . vec(R[:, 1:] - I)            pose feature: 9 (J - 1) values
    G_j      = G_parent(j) [R_j | J_rest_j - J_rest_parent(j)]    forward kinematics (4x4, world)
    A_j      = G_j [I | -J_rest_j]                                removes the rest position
    v        = sum_j weights[:, j] A_j v_posed + t                linear blend skinning

Rotations are column-vector matrices (x' = R x), as in SMPL; joints are posed by the same
kinematic chain (joints = G_j[:3, 3] + t). Units are those of the model file (metres for SMPL
and for our synthetic body). Files: `inverse3d.io.body_model_io.load_body_model_file`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from inverse3d._validation import check_tensor
from inverse3d.transforms.rotation_conversions import axis_angle_to_matrix, rotation_6d_to_matrix

__all__ = [
    "SMPL_JOINT_NAMES",
    "SMPL_PARENTS",
    "BodyModel",
    "BodyModelOutput",
    "blend_shapes",
    "forward_kinematics",
    "lbs",
    "pose_to_matrices",
    "skin_vertices",
]

SMPL_JOINT_NAMES = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)


def pose_to_matrices(pose: torch.Tensor, name: str = "pose") -> torch.Tensor:
    """Per-joint rotations from axis-angle (N, J, 3), 6D (N, J, 6) or matrices (N, J, 3, 3).

    Returns:
        (N, J, 3, 3) float rotation matrices (axis_angle_to_matrix / rotation_6d_to_matrix).
    """
    check_tensor(pose, name, dtype="float")
    if pose.dim() == 4 and pose.shape[-2:] == (3, 3):
        return pose
    if pose.dim() == 3 and pose.shape[-1] == 3:
        return axis_angle_to_matrix(pose)
    if pose.dim() == 3 and pose.shape[-1] == 6:
        return rotation_6d_to_matrix(pose)
    raise ValueError(
        f"{name} must have shape (N, J, 3) axis-angle, (N, J, 6) 6D or (N, J, 3, 3) matrices; "
        f"got {tuple(pose.shape)}"
    )


def _check_parents(parents: torch.Tensor | tuple[int, ...] | list[int], J: int) -> list[int]:
    p = [int(x) for x in (parents.tolist() if torch.is_tensor(parents) else parents)]
    if len(p) != J:
        raise ValueError(f"parents must have {J} entries (one per joint); got {len(p)}")
    if p[0] != -1 or any(not (0 <= p[j] < j) for j in range(1, J)):
        raise ValueError(
            f"parents must list the root first (-1) and each joint after its parent; got {p}"
        )
    return p


def blend_shapes(betas: torch.Tensor, shapedirs: torch.Tensor) -> torch.Tensor:
    """Shape displacement sum_b betas[:, b] shapedirs[:, :, b].

    Args:
        betas: (N, B) float; B may be smaller than shapedirs' B' (the first B are used).
        shapedirs: (V, 3, B') float.

    Returns:
        (N, V, 3) float displacements.
    """
    check_tensor(betas, "betas", (None, None), dtype="float")
    check_tensor(shapedirs, "shapedirs", (None, 3, None), dtype="float")
    B = betas.shape[1]
    if B > shapedirs.shape[2]:
        raise ValueError(f"betas must have at most {shapedirs.shape[2]} coefficients; got {B}")
    return torch.einsum("nb,vcb->nvc", betas, shapedirs[:, :, :B])


def forward_kinematics(
    rotmats: torch.Tensor, joints: torch.Tensor, parents: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose a skeleton: world transforms of each joint along the kinematic tree.

    Args:
        rotmats: (N, J, 3, 3) float local rotations (joint 0: the global orientation).
        joints: (N, J, 3) float rest-pose joint positions.
        parents: J ints, parents[0] = -1, parents[j] < j.

    Returns:
        posed_joints: (N, J, 3) float; rel_transforms: (N, J, 4, 4) float, the transforms
        A_j = G_j [I | -J_j] that move a rest-pose point rigidly with joint j.
    """
    check_tensor(rotmats, "rotmats", ("N", "J", 3, 3), dtype="float", dims=(d := {}))
    check_tensor(joints, "joints", ("N", "J", 3), dtype="float", dims=d)
    p = _check_parents(parents, joints.shape[1])
    rel = joints.clone()
    rel[:, 1:] = joints[:, 1:] - joints[:, p[1:]]
    local = torch.cat([rotmats, rel[..., None]], dim=-1)  # (N, J, 3, 4)
    bottom = joints.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(*local.shape[:2], 1, 4)
    local = torch.cat([local, bottom], dim=-2)  # (N, J, 4, 4)
    chain = [local[:, 0]]
    for j in range(1, len(p)):
        chain.append(chain[p[j]] @ local[:, j])
    G = torch.stack(chain, dim=1)  # (N, J, 4, 4)
    posed = G[:, :, :3, 3]
    # A_j = G_j [I | -J_j]: translation G_t - G_R J_j
    shift = (G[:, :, :3, :3] @ joints[..., None])[..., 0]  # (N, J, 3)
    A = torch.cat([G[:, :, :3, :3], (posed - shift)[..., None]], dim=-1)
    A = torch.cat([A, G[:, :, 3:]], dim=-2)
    return posed, A


def skin_vertices(verts: torch.Tensor, weights: torch.Tensor, transforms: torch.Tensor):
    """Linear blend skinning: v'_i = sum_j weights[i, j] (A_j v_i).

    Args:
        verts: (N, V, 3) float; weights: (V, J) float; transforms: (N, J, 4, 4) float.

    Returns:
        (N, V, 3) float skinned vertices.
    """
    check_tensor(verts, "verts", ("N", "V", 3), dtype="float", dims=(d := {}))
    check_tensor(weights, "weights", ("V", "J"), dtype="float", dims=d)
    check_tensor(transforms, "transforms", ("N", "J", 4, 4), dtype="float", dims=d)
    T = torch.einsum("vj,njab->nvab", weights, transforms[:, :, :3])  # (N, V, 3, 4)
    return (T[..., :3] @ verts[..., None])[..., 0] + T[..., 3]


def lbs(
    betas: torch.Tensor,
    rotmats: torch.Tensor,
    v_template: torch.Tensor,
    shapedirs: torch.Tensor,
    posedirs: torch.Tensor,
    J_regressor: torch.Tensor,
    parents: Any,
    weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The SMPL function (module docstring) without translation.

    Args:
        betas: (N, B) float; rotmats: (N, J, 3, 3) float; v_template: (V, 3) float;
        shapedirs: (V, 3, B') float; posedirs: (V, 3, 9 (J - 1)) float; J_regressor: (J, V)
        float; parents: J ints; weights: (V, J) float.

    Returns:
        vertices (N, V, 3) float and joints (N, J, 3) float, posed.
    """
    check_tensor(v_template, "v_template", ("V", 3), dtype="float", dims=(d := {}))
    check_tensor(rotmats, "rotmats", ("N", "J", 3, 3), dtype="float", dims=d)
    check_tensor(posedirs, "posedirs", ("V", 3, None), dtype="float", dims=d)
    check_tensor(J_regressor, "J_regressor", ("J", "V"), dtype="float", dims=d)
    if posedirs.shape[2] != 9 * (d["J"] - 1):
        raise ValueError(
            f"posedirs must have shape (V, 3, {9 * (d['J'] - 1)}); got {tuple(posedirs.shape)}"
        )
    v_shaped = v_template + blend_shapes(betas, shapedirs)  # (N, V, 3)
    J_rest = torch.einsum("jv,nvc->njc", J_regressor, v_shaped)
    eye = torch.eye(3, dtype=rotmats.dtype, device=rotmats.device)
    feat = (rotmats[:, 1:] - eye).reshape(rotmats.shape[0], -1)  # (N, 9 (J - 1))
    v_posed = v_shaped + torch.einsum("np,vcp->nvc", feat, posedirs)
    joints, A = forward_kinematics(rotmats, J_rest, parents)
    return skin_vertices(v_posed, weights, A), joints


@dataclass
class BodyModelOutput:
    """vertices: (N, V, 3) float (None when not asked for), joints: (N, J, 3) float, both posed
    and translated; rotmats: (N, J, 3, 3) float, the rotations used."""

    vertices: torch.Tensor | None
    joints: torch.Tensor
    rotmats: torch.Tensor


class BodyModel(torch.nn.Module):
    """An SMPL-family body model built from a model dict (body_model_io's layout) or file.

    Buffers: v_template (V, 3), faces (F, 3) int64, weights (V, J), J_regressor (J, V),
    shapedirs (V, 3, B), posedirs (V, 3, 9 (J - 1)); `parents` (J ints), `joint_names` (J str:
    the file's, SMPL's for 24-joint models, else joint_<j>).
    """

    def __init__(self, model: dict[str, Any], dtype: torch.dtype = torch.float32) -> None:
        super().__init__()

        def t(key: str, dt=dtype) -> torch.Tensor:
            return torch.as_tensor(np.asarray(model[key]), dtype=dt)

        self.register_buffer("v_template", t("v_template"))
        self.register_buffer("faces", t("f", torch.int64))
        self.register_buffer("weights", t("weights"))
        self.register_buffer("J_regressor", t("J_regressor"))
        self.register_buffer("shapedirs", t("shapedirs"))
        self.register_buffer("posedirs", t("posedirs"))
        J = self.weights.shape[1]
        kin = np.asarray(model["kintree_table"]).astype(np.int64)
        parents = [int(x) for x in kin[0]]
        parents[0] = -1  # SMPL stores the root's parent as 4294967295
        self.parents = tuple(_check_parents(parents, J))
        names = model.get("joint_names")
        if names is not None and len(names) == J:
            self.joint_names = tuple(str(n) for n in np.asarray(names).tolist())
        elif J == len(SMPL_JOINT_NAMES) and tuple(parents) == SMPL_PARENTS:
            self.joint_names = SMPL_JOINT_NAMES
        else:
            self.joint_names = tuple(f"joint_{j}" for j in range(J))

    @classmethod
    def from_file(cls, path: str | os.PathLike, dtype: torch.dtype = torch.float32) -> BodyModel:
        """Load a `.npz` / `.pkl` model file (io.body_model_io.load_body_model_file)."""
        from inverse3d.io.body_model_io import load_body_model_file

        return cls(load_body_model_file(path), dtype=dtype)

    @property
    def num_joints(self) -> int:
        return self.weights.shape[1]

    @property
    def num_betas(self) -> int:
        return self.shapedirs.shape[2]

    def rest_joints(self, betas: torch.Tensor | None = None) -> torch.Tensor:
        """(N, J, 3) float rest-pose joints of shapes betas (N, B) (the template when None)."""
        if betas is None:
            betas = self.v_template.new_zeros(1, self.num_betas)
        v = self.v_template + blend_shapes(betas, self.shapedirs)
        return torch.einsum("jv,nvc->njc", self.J_regressor, v)

    def forward(
        self,
        betas: torch.Tensor | None = None,
        pose: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
        return_verts: bool = True,
    ) -> BodyModelOutput:
        """Posed body.

        Args:
            betas: (N, B) float, B <= num_betas (zeros when None).
            pose: (N, J, 3) axis-angle, (N, J, 6) 6D or (N, J, 3, 3) matrices; joint 0 is the
                global orientation (identity when None).
            transl: (N, 3) float (zeros when None).
            return_verts: False skips blend shapes and skinning (joints only, cheaper).

        Returns:
            BodyModelOutput.
        """
        N = next((x.shape[0] for x in (betas, pose, transl) if x is not None), 1)
        J = self.num_joints
        ref = self.v_template
        if betas is None:
            betas = ref.new_zeros(N, self.num_betas)
        check_tensor(betas, "betas", (N, None), dtype="float")
        if pose is None:
            rotmats = torch.eye(3, dtype=ref.dtype, device=ref.device).expand(N, J, 3, 3)
        else:
            rotmats = pose_to_matrices(pose)
            if rotmats.shape[:2] != (N, J):
                raise ValueError(
                    f"pose must have N={N} rows of J={J} joints; got {tuple(pose.shape)}"
                )
        betas, rotmats = betas.to(ref.dtype), rotmats.to(ref.dtype)
        if return_verts:
            verts, joints = lbs(
                betas,
                rotmats,
                self.v_template,
                self.shapedirs,
                self.posedirs,
                self.J_regressor,
                self.parents,
                self.weights,
            )
        else:
            verts = None
            joints, _ = forward_kinematics(rotmats, self.rest_joints(betas), self.parents)
        if transl is not None:
            check_tensor(transl, "transl", (N, 3), dtype="float")
            joints = joints + transl[:, None].to(ref.dtype)
            if verts is not None:
                verts = verts + transl[:, None].to(ref.dtype)
        return BodyModelOutput(verts, joints, rotmats)
