"""Small rotation helpers shared by rotation_conversions, so3, se3 and transform3d.

TorchScript compiles these when the rotation conversions are scripted: no postponed annotations,
no module-level float read inside them, input checks marked `torch.jit.ignore`."""

import torch

__all__ = ["SMALL_ANGLE_SQ", "angle_ratios", "axis_angle_rotation", "check_vec_batch", "skew"]

# Below this squared angle the ratios use their Taylor series.
SMALL_ANGLE_SQ = 1e-6


def angle_ratios(theta_sq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """sin(t)/t, (1 - cos t)/t^2 and (t - sin t)/t^3 as functions of t^2, smooth at t = 0."""
    small = theta_sq < 1e-6  # SMALL_ANGLE_SQ, written out for TorchScript
    t2 = torch.where(small, torch.ones_like(theta_sq), theta_sq)
    t = t2.sqrt()
    s = torch.sin(t)
    half = torch.sin(0.5 * t) / t
    a_big = s / t
    b_big = 2.0 * half * half  # (1 - cos t) / t^2 without cancellation
    c_big = (t - s) / (t2 * t)
    z = theta_sq
    a_small = 1.0 - z / 6.0 + z * z / 120.0
    b_small = 0.5 - z / 24.0 + z * z / 720.0
    c_small = 1.0 / 6.0 - z / 120.0 + z * z / 5040.0
    return (
        torch.where(small, a_small, a_big),
        torch.where(small, b_small, b_big),
        torch.where(small, c_small, c_big),
    )


def skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrix K with K @ u = v x u."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], dim=-1).reshape(v.shape[:-1] + (3, 3))


def axis_angle_rotation(axis: str, angle: torch.Tensor) -> torch.Tensor:
    """(...) angles -> (..., 3, 3) column-vector rotation about the named axis."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == "X":
        flat = (one, zero, zero, zero, c, -s, zero, s, c)
    elif axis == "Y":
        flat = (c, zero, s, zero, one, zero, -s, zero, c)
    else:
        flat = (c, -s, zero, s, c, zero, zero, zero, one)
    return torch.stack(flat, dim=-1).reshape(angle.shape + (3, 3))


@torch.jit.ignore
def check_vec_batch(v: torch.Tensor, name: str, size: int = 3) -> None:
    """`v` must be an (N, size) tensor (TypeError / ValueError naming `name`)."""
    if not torch.is_tensor(v):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(v).__name__}")
    if v.dim() != 2 or v.shape[1] != size:
        raise ValueError(f"{name} must have shape (N, {size}); got {tuple(v.shape)}")
