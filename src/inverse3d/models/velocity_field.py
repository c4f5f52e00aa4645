"""A time-dependent velocity field v(x, t) and the flow it generates.

`VelocityField` is a small MLP of (x, t) (optionally with a harmonic encoding of x and t).
`integrate_flow` moves points along it from t = t0 to t = t1 in T explicit steps (Euler or
classical RK4). Every step is a small smooth displacement, so with a Lipschitz field and enough
steps the map x(t0) -> x(t1) is a diffeomorphism: a mesh whose vertices are moved by it keeps its
topology and does not fold (the "diffeomorphic" reconstruction method uses this on a sphere).

Memory: with `checkpoint=True` each step runs under `torch.utils.checkpoint`, so the backward
pass stores only the (P, 3) points between steps and recomputes one step's activations at a
time: the peak memory of the field's activations does not grow with T (only the T point sets
do, 12 bytes per point per step in float32).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.utils.checkpoint
from torch import nn

from inverse3d._validation import check_nonneg_int, check_positive_int
from inverse3d.renderer.implicit.harmonic_embedding import HarmonicEmbedding

__all__ = ["VelocityField", "integrate_flow", "FLOW_METHODS"]

FLOW_METHODS = ("euler", "rk4")
"""Integration schemes of `integrate_flow`."""


class VelocityField(nn.Module):
    """v(x, t): an MLP of the point and the time, (P, 3) x scalar -> (P, 3).

    Args:
        hidden_dim: width of the hidden layers.
        n_layers: hidden layers (>= 1).
        n_harmonic_xyz: harmonic frequencies of the position encoding (0: raw x only).
        n_harmonic_t: harmonic frequencies of the time encoding (0: raw t only).
        activation: "softplus" (smooth, the default: a smooth field gives a smooth flow) or "relu".
        zero_init: start as the zero field (the flow is then the identity), so that training
            starts from the undeformed points.
        lipschitz: None, or a bound L on the field's Lipschitz constant in x: every linear layer
            is spectrally normalised (`torch.nn.utils.parametrizations.spectral_norm`, one power
            iteration per training forward), the activations are 1-Lipschitz, the harmonic
            encoding's constant sqrt(1 + sum of squared frequencies) is divided out and the
            output is L * tanh(gain) * MLP(x, t) with |tanh(gain)| < 1. An Euler step
            x + dt v(x, t) with dt * L < 1 is then injective (its displacement is a contraction),
            so a surface moved by it cannot fold or self-intersect. The bound holds up to the
            accuracy of the power-iteration estimate of each layer's spectral norm.
    """

    def __init__(
        self,
        hidden_dim: int = 128,
        n_layers: int = 3,
        n_harmonic_xyz: int = 4,
        n_harmonic_t: int = 2,
        activation: str = "softplus",
        zero_init: bool = True,
        lipschitz: float | None = None,
    ) -> None:
        super().__init__()
        if lipschitz is not None and not (isinstance(lipschitz, (int, float)) and lipschitz > 0):
            raise ValueError(f"lipschitz must be None or a number > 0; got {lipschitz!r}")
        self.lipschitz = None if lipschitz is None else float(lipschitz)
        hidden_dim = check_positive_int(hidden_dim, "hidden_dim")
        n_layers = check_positive_int(n_layers, "n_layers")
        self.n_harmonic_xyz = check_nonneg_int(n_harmonic_xyz, "n_harmonic_xyz")
        self.n_harmonic_t = check_nonneg_int(n_harmonic_t, "n_harmonic_t")
        if activation not in ("softplus", "relu"):
            raise ValueError(f'activation must be "softplus" or "relu"; got {activation!r}')
        self.embed_x = HarmonicEmbedding(self.n_harmonic_xyz) if self.n_harmonic_xyz else None
        self.embed_t = HarmonicEmbedding(self.n_harmonic_t) if self.n_harmonic_t else None
        d_in = 3 * (2 * self.n_harmonic_xyz + 1) + (2 * self.n_harmonic_t + 1)
        act: Callable[[], nn.Module] = (
            (lambda: nn.Softplus(beta=100.0)) if activation == "softplus" else nn.ReLU
        )
        layers: list[nn.Module] = []
        d = d_in
        for _ in range(n_layers):
            layers += [nn.Linear(d, hidden_dim), act()]
            d = hidden_dim
        self.out = nn.Linear(d, 3)
        self.net = nn.Sequential(*layers)
        if self.lipschitz is not None:
            sn = nn.utils.parametrizations.spectral_norm
            for m in layers:
                if isinstance(m, nn.Linear):
                    sn(m)
            sn(self.out)
            freqs = 2.0 ** torch.arange(self.n_harmonic_xyz, dtype=torch.float64)
            embed_lip = float(torch.sqrt(1.0 + (freqs**2).sum()))
            self.register_buffer("scale", torch.tensor(self.lipschitz / embed_lip))
            # the output's gain: tanh(gain) in (-1, 1); 0 gives the zero field
            self.gain = nn.Parameter(torch.tensor(0.0 if zero_init else 0.5))
        elif zero_init:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        """Velocity at points x: (P, 3) float, time t (a float or a 0-d tensor) -> (P, 3)."""
        if not torch.is_tensor(x):
            raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
        if x.dim() != 2 or x.shape[-1] != 3:
            raise ValueError(f"x must have shape (P, 3); got {tuple(x.shape)}")
        tt = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(1, 1).expand(len(x), 1)
        fx = self.embed_x(x) if self.embed_x is not None else x
        ft = self.embed_t(tt) if self.embed_t is not None else tt
        v = self.out(self.net(torch.cat([fx, ft], dim=-1)))
        if self.lipschitz is not None:
            v = (self.scale * torch.tanh(self.gain)) * v
        return v


def _euler(field, x: torch.Tensor, t: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
    return x + dt * field(x, t)


def _rk4(field, x: torch.Tensor, t: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
    k1 = field(x, t)
    k2 = field(x + 0.5 * dt * k1, t + 0.5 * dt)
    k3 = field(x + 0.5 * dt * k2, t + 0.5 * dt)
    k4 = field(x + dt * k3, t + dt)
    return x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def integrate_flow(
    field: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    steps: int = 20,
    method: str = "euler",
    checkpoint: bool = True,
    t0: float = 0.0,
    t1: float = 1.0,
    return_path: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
    """Move points along the velocity field from t0 to t1 in `steps` equal steps.

    Args:
        field: callable v(x, t) -> (P, 3) with x (P, 3) and t a 0-d tensor (a `VelocityField`,
            or any function of the points and the time).
        x: (P, 3) float starting points.
        steps: number of steps T (>= 1); dt = (t1 - t0) / T.
        method: "euler" (one evaluation per step) or "rk4" (four, fourth order).
        checkpoint: recompute each step's activations in the backward pass
            (`torch.utils.checkpoint`) instead of storing them: memory independent of T except
            for the (P, 3) points of each step. Ignored when autograd is off.
        t0, t1: start and end times.
        return_path: also return the list of the T + 1 point sets (x(t0), ..., x(t1)).

    Returns:
        (P, 3) points at t1, or (points, path) with `return_path`.
    """
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
    if x.dim() != 2 or x.shape[-1] != 3 or not x.is_floating_point():
        raise ValueError(
            f"x must be a float tensor of shape (P, 3); got {x.dtype} {tuple(x.shape)}"
        )
    steps = check_positive_int(steps, "steps")
    if method not in FLOW_METHODS:
        raise ValueError(f"method must be one of {FLOW_METHODS}; got {method!r}")
    if not callable(field):
        raise TypeError(f"field must be callable v(x, t); got {type(field).__name__}")
    step_fn = _euler if method == "euler" else _rk4
    dt = torch.tensor((float(t1) - float(t0)) / steps, dtype=x.dtype, device=x.device)
    use_ckpt = checkpoint and torch.is_grad_enabled()
    path = [x]
    for i in range(steps):
        t = torch.tensor(float(t0), dtype=x.dtype, device=x.device) + i * dt
        if use_ckpt:
            x = torch.utils.checkpoint.checkpoint(step_fn, field, x, t, dt, use_reentrant=False)
        else:
            x = step_fn(field, x, t, dt)
        if return_path:
            path.append(x)
    return (x, path) if return_path else x
