"""Scalar math helpers shared by the rotation code (scriptable, checks in Python)."""

import math

import torch

__all__ = ["acos_linear_extrapolation"]


def _acos_tangent(x: torch.Tensor, x0: float) -> torch.Tensor:
    """First-order Taylor expansion of arccos around the scalar x0."""
    slope = -1.0 / math.sqrt(1.0 - x0 * x0)
    return (x - x0) * slope + math.acos(x0)


@torch.jit.ignore
def _check_bounds(x: torch.Tensor, bounds: tuple[float, float]) -> None:
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
    if len(bounds) != 2:
        raise ValueError(f"bounds must be a pair (lower, upper); got {bounds!r}")
    lower, upper = float(bounds[0]), float(bounds[1])
    if lower > upper:
        raise ValueError(f"bounds: lower must be <= upper; got {bounds!r}")
    if lower <= -1.0 or upper >= 1.0:
        raise ValueError(f"bounds must both lie inside (-1, 1); got {bounds!r}")


def acos_linear_extrapolation(
    x: torch.Tensor,
    bounds: tuple[float, float] = (-1.0 + 1e-4, 1.0 - 1e-4),
) -> torch.Tensor:
    """arccos(x) inside `bounds`, its tangent line outside (finite gradients everywhere).

    Args:
        x: (...) float, input values (values outside [-1, 1] are allowed).
        bounds: (lower, upper) with -1 < lower <= upper < 1. For x <= lower the result is the
            linear extrapolation of arccos at lower; for x >= upper, at upper.

    Returns:
        (...) float, same shape as x.
    """
    _check_bounds(x, bounds)
    lower, upper = float(bounds[0]), float(bounds[1])
    above = x >= upper
    below = x <= lower
    inside = ~(above | below)
    # Feed acos only in-range values so neither the value nor its gradient is NaN.
    x_safe = torch.where(inside, x, torch.zeros_like(x))
    out = torch.acos(x_safe)
    out = torch.where(above, _acos_tangent(x, upper), out)
    out = torch.where(below, _acos_tangent(x, lower), out)
    return out
