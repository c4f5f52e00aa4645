"""Terms of SMPLify-style body fitting: a robust reprojection penalty, pose and shape priors, and
a capsule interpenetration penalty. Each returns a per-example (N,) float loss (sum over terms),
so a batch of independent fits can share one optimiser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from inverse3d._validation import check_tensor

__all__ = [
    "GaussianMixturePrior",
    "capsule_penetration",
    "gaussian_pose_prior",
    "geman_mcclure",
    "joint_angle_prior",
    "reprojection_loss",
]


def geman_mcclure(residual: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure robust penalty rho(r) = sigma^2 r^2 / (sigma^2 + r^2), elementwise.

    Quadratic for |r| << sigma, saturating at sigma^2 for |r| >> sigma (outliers stop pulling).

    Args:
        residual: (...) float; sigma: > 0, in the residual's unit.

    Returns:
        (...) float.
    """
    check_tensor(residual, "residual", dtype="float")
    if not isinstance(sigma, (int, float)) or not sigma > 0:
        raise ValueError(f"sigma must be a number > 0; got {sigma!r}")
    r2 = residual * residual
    s2 = float(sigma) ** 2
    return s2 * r2 / (s2 + r2)


def reprojection_loss(
    projected: torch.Tensor, keypoints: torch.Tensor, confidence: torch.Tensor, sigma: float
) -> torch.Tensor:
    """sum_k c_k sum_xy rho(projected - keypoints), rho = geman_mcclure(., sigma).

    Args:
        projected: (N, K, 2) float pixels; keypoints: (N, K, 2) float pixels;
        confidence: (N, K) float weights (0 = missing keypoint).

    Returns:
        (N,) float.
    """
    check_tensor(projected, "projected", ("N", "K", 2), dtype="float", dims=(d := {}))
    check_tensor(keypoints, "keypoints", ("N", "K", 2), dtype="float", dims=d)
    check_tensor(confidence, "confidence", ("N", "K"), dtype="float", dims=d)
    rho = geman_mcclure(projected - keypoints, sigma).sum(-1)  # (N, K)
    return (confidence * rho).sum(-1)


def gaussian_pose_prior(pose: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """sum_j |pose_j / std_j|^2: a zero-mean Gaussian on each joint's axis-angle.

    Args:
        pose: (N, J, 3) float axis-angle; std: (J,) or (J, 3) float > 0 (radians).

    Returns:
        (N,) float.
    """
    check_tensor(pose, "pose", ("N", "J", 3), dtype="float", dims=(d := {}))
    check_tensor(std, "std", dtype="float")
    if std.shape not in ((d["J"],), (d["J"], 3)):
        raise ValueError(
            f"std must have shape (J,) or (J, 3) with J={d['J']}; got {tuple(std.shape)}"
        )
    s = std if std.dim() == 2 else std[:, None]
    return ((pose / s) ** 2).sum((-1, -2))


def joint_angle_prior(pose: torch.Tensor, hinges: Sequence[tuple[int, int, float]]) -> torch.Tensor:
    """sum over hinges of exp(-sign * pose[j, axis])^2: penalises bending a hinge joint (elbow,
    knee) against its natural direction, with vanishing cost along it.

    Args:
        pose: (N, J, 3) float axis-angle; hinges: (joint, axis 0-2, sign) triples, sign the
            direction of natural bending.

    Returns:
        (N,) float.
    """
    check_tensor(pose, "pose", (None, None, 3), dtype="float")
    if not hinges:
        return pose.new_zeros(pose.shape[0])
    idx = torch.tensor([h[0] for h in hinges], device=pose.device)
    ax = torch.tensor([h[1] for h in hinges], device=pose.device)
    sign = pose.new_tensor([float(h[2]) for h in hinges])
    if int(idx.max()) >= pose.shape[1] or int(ax.max()) > 2:
        raise ValueError(f"hinges must index joints < {pose.shape[1]} and axes 0-2; got {hinges}")
    angles = pose[:, idx, ax]  # (N, H)
    return torch.exp(-sign * angles).pow(2).sum(-1)


class GaussianMixturePrior(torch.nn.Module):
    """Pose prior from a Gaussian mixture (SMPLify's): min over components k of
    (x - mu_k)^T P_k (x - mu_k) / 2 - log(w_k / sqrt(det(2 pi Sigma_k))), offset so that its
    minimum over x is 0; x is the flattened (J_body * 3) axis-angle of the body joints.

    means: (M, D) float; covars: (M, D, D) float symmetric positive definite; weights: (M,)
    float > 0. Built from an npz with those keys by `from_file`.
    """

    def __init__(self, means: torch.Tensor, covars: torch.Tensor, weights: torch.Tensor) -> None:
        super().__init__()
        check_tensor(means, "means", ("M", "D"), dtype="float", dims=(d := {}))
        check_tensor(covars, "covars", ("M", "D", "D"), dtype="float", dims=d)
        check_tensor(weights, "weights", ("M",), dtype="float", dims=d)
        if bool((weights <= 0).any()):
            raise ValueError("weights must be > 0")
        covars = covars.double()
        try:
            chol = torch.linalg.cholesky(covars)
        except RuntimeError:
            raise ValueError("covars must be symmetric positive definite") from None
        precisions = torch.cholesky_inverse(chol)
        logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        const = -torch.log(weights.double()) + 0.5 * (logdet + d["D"] * math.log(2 * math.pi))
        self.register_buffer("means", means.float())
        self.register_buffer("precisions", precisions.float())
        self.register_buffer("const", (const - const.min()).float())

    @classmethod
    def from_file(cls, path: str) -> GaussianMixturePrior:
        """Read an npz with `means` (M, D), `covars` (M, D, D), `weights` (M,) (no pickles)."""
        from inverse3d.io.utils import ParseError

        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: torch.as_tensor(z[k]).double() for k in ("means", "covars", "weights")}
        except KeyError as e:
            raise ParseError(str(path), f"GMM file needs means, covars, weights ({e})") from None
        except (ValueError, OSError) as e:
            raise ParseError(str(path), f"not a readable GMM .npz ({e})") from None
        try:
            return cls(arrays["means"], arrays["covars"], arrays["weights"])
        except ValueError as e:
            raise ParseError(str(path), str(e)) from None

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        """pose: (N, D) or (N, D / 3, 3) float. Returns (N,) float."""
        x = pose.reshape(pose.shape[0], -1)
        if x.shape[1] != self.dim:
            raise ValueError(f"pose must have {self.dim} values per example; got {x.shape[1]}")
        diff = x[:, None].to(self.means) - self.means  # (N, M, D)
        maha = torch.einsum("nmd,mde,nme->nm", diff, self.precisions, diff)
        return (0.5 * maha + self.const).min(-1).values


def capsule_penetration(
    starts: torch.Tensor,
    ends: torch.Tensor,
    radii: torch.Tensor,
    pairs: torch.Tensor,
    samples: int = 8,
) -> torch.Tensor:
    """Overlap of capsule pairs: sum over pairs of relu(r_a + r_b - d_ab)^2, where d_ab is the
    smallest distance between `samples` points spread along each capsule's axis.

    Args:
        starts, ends: (N, C, 3) float capsule axis end points; radii: (C,) float;
        pairs: (Q, 2) int64 capsule indices to test (non-adjacent parts).

    Returns:
        (N,) float, 0 when no tested pair overlaps.
    """
    check_tensor(starts, "starts", ("N", "C", 3), dtype="float", dims=(d := {}))
    check_tensor(ends, "ends", ("N", "C", 3), dtype="float", dims=d)
    check_tensor(radii, "radii", ("C",), dtype="float", dims=d)
    check_tensor(pairs, "pairs", (None, 2), dtype="int")
    if pairs.numel() and (int(pairs.min()) < 0 or int(pairs.max()) >= d["C"]):
        raise ValueError(f"pairs must index capsules in [0, {d['C']})")
    if pairs.numel() == 0:
        return starts.new_zeros(starts.shape[0])
    t = torch.linspace(0, 1, samples, dtype=starts.dtype, device=starts.device)[:, None]
    pts = starts[:, :, None] + t * (ends - starts)[:, :, None]  # (N, C, S, 3)
    a, b = pts[:, pairs[:, 0]], pts[:, pairs[:, 1]]  # (N, Q, S, 3)
    dist = torch.cdist(a.flatten(0, 1), b.flatten(0, 1)).amin((-1, -2))  # (N Q,)
    dist = dist.view(starts.shape[0], -1)
    overlap = torch.relu(radii[pairs[:, 0]] + radii[pairs[:, 1]] - dist)
    return (overlap**2).sum(-1)
