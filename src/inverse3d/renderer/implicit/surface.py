"""Rendering implicit surfaces: ray/box intersection, secant root finding with implicit
differentiation (DVR, Niemeyer et al. 2020) and NeuS weights (Wang et al. 2021).

Rays are ``origin + t * direction`` with (R, 3) origins and directions (directions need not be
unit; lengths t are in units of the direction's norm).

- `ray_box_intersection`: entry and exit lengths of each ray through an axis-aligned box (slab
  method).
- `find_surface`: the first crossing of a field from outside (value < 0) to inside (value > 0)
  along each ray, by dense sampling then the secant method; no gradient.
- `max_along_rays`: the sample of each ray (evenly spaced in [t_near, t_far]) where a field is
  largest: where a surface the dense search missed is nearest to appearing (DVR's occupancy loss).
- `surface_depth`: the same depth as a differentiable function of the field's parameters and of
  the rays, by implicit differentiation: at the root ``f(r0 + t w) = 0``,
  ``dt/dtheta = -(df/dp . w)^-1 df/dtheta`` (and likewise for r0 and w). `SurfaceDepth` is the
  custom autograd function that carries this rule.
- `neus_weights`: NeuS's unbiased, occlusion-aware rendering weights from signed distances at the
  samples of each ray.
- `neus_upsample` / `neus_importance_samples`: hierarchical importance sampling of NeuS (more
  samples where the weights of a sharp surface concentrate, in rounds of doubling sharpness).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from inverse3d._validation import check_nonneg_int, check_positive_int, check_tensor
from inverse3d.renderer.implicit.sample_pdf import sample_pdf
from inverse3d.renderer.implicit.weights import emission_absorption_weights

__all__ = [
    "SurfaceDepth",
    "find_surface",
    "max_along_rays",
    "neus_alpha",
    "neus_importance_samples",
    "neus_upsample",
    "neus_weights",
    "ray_box_intersection",
    "surface_depth",
]


def _check_rays(origins: torch.Tensor, directions: torch.Tensor) -> None:
    dims: dict[str, int] = {}
    check_tensor(origins, "origins", ("R", 3), "float", dims)
    check_tensor(directions, "directions", ("R", 3), "float", dims)


def ray_box_intersection(
    origins: torch.Tensor,
    directions: torch.Tensor,
    bound: float = 1.0,
    min_t: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where each ray enters and leaves the box [-bound, bound]^3.

    Args:
        origins, directions: (R, 3) float.
        bound: half side of the box (> 0).
        min_t: lengths below this are clipped (0: nothing behind the origin).

    Returns:
        t_near, t_far: (R,) float entry and exit lengths (clipped to >= min_t); hit: (R,) bool,
        False where the ray misses the box (there t_near = t_far = min_t).
    """
    _check_rays(origins, directions)
    if not float(bound) > 0:
        raise ValueError(f"bound must be > 0; got {bound}")
    # Slab method: per axis the lengths where the ray crosses the two planes; a zero component
    # gives +-inf, which orders correctly when the origin lies between the planes.
    safe = torch.where(directions.abs() < 1e-12, torch.full_like(directions, 1e-12), directions)
    inv = 1.0 / safe
    t0 = (-bound - origins) * inv
    t1 = (bound - origins) * inv
    t_near = torch.minimum(t0, t1).amax(dim=-1).clamp(min=min_t)
    t_far = torch.maximum(t0, t1).amin(dim=-1)
    hit = t_far > t_near
    t_near = torch.where(hit, t_near, torch.full_like(t_near, min_t))
    t_far = torch.where(hit, t_far, torch.full_like(t_far, min_t))
    return t_near, t_far, hit


@torch.no_grad()
def find_surface(
    field_fn: Callable[[torch.Tensor], torch.Tensor],
    origins: torch.Tensor,
    directions: torch.Tensor,
    t_near: torch.Tensor,
    t_far: torch.Tensor,
    n_samples: int = 64,
    n_secant: int = 8,
    chunk_size: int = 2**16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """First crossing of `field_fn` from negative (outside) to positive (inside) along each ray.

    The field is evaluated at `n_samples` evenly spaced lengths in [t_near, t_far]; the first
    pair of consecutive samples with f_k < 0 <= f_{k+1} brackets the root, which `n_secant`
    secant steps (keeping the bracket, i.e. regula falsi) then refine. A ray that starts inside
    (first sample >= 0) or never crosses has no surface.

    Args:
        field_fn: (P, 3) float points -> (P,) or (P, 1) float values, < 0 outside, > 0 inside
            (pass ``-sdf`` for a signed distance, the occupancy logit for DVR).
        origins, directions: (R, 3) float.
        t_near, t_far: (R,) float.
        n_samples: samples of the dense search (>= 2).
        n_secant: secant refinement steps (0: linear interpolation of the bracket only).
        chunk_size: points per call of field_fn.

    Returns:
        t: (R,) float root lengths (t_far where there is none); hit: (R,) bool.
    """
    _check_rays(origins, directions)
    R = origins.shape[0]
    check_tensor(t_near, "t_near", (R,), "float")
    check_tensor(t_far, "t_far", (R,), "float")
    S = check_positive_int(n_samples, "n_samples")
    if S < 2:
        raise ValueError(f"n_samples must be >= 2; got {S}")
    n_secant = check_nonneg_int(n_secant, "n_secant")
    chunk = check_positive_int(chunk_size, "chunk_size")

    def evaluate(points: torch.Tensor) -> torch.Tensor:
        flat = points.reshape(-1, 3)
        vals = [field_fn(c).reshape(-1) for c in flat.split(chunk)] if flat.shape[0] else []
        out = torch.cat(vals) if vals else flat.new_zeros(0)
        return out.reshape(points.shape[:-1])

    u = torch.linspace(0.0, 1.0, S, dtype=origins.dtype, device=origins.device)
    t = t_near[:, None] + (t_far - t_near)[:, None] * u  # (R, S)
    f = evaluate(origins[:, None] + t[..., None] * directions[:, None])  # (R, S)
    crossing = (f[:, :-1] < 0) & (f[:, 1:] >= 0)  # (R, S-1)
    # Index of the first crossing: argmax of a strictly decreasing score on the crossings.
    score = crossing.to(t.dtype) * torch.arange(S - 1, 0, -1, dtype=t.dtype, device=t.device)
    k = score.argmax(dim=-1)
    hit = crossing.any(dim=-1) & (f[:, 0] < 0)
    rows = torch.arange(R, device=t.device)
    t_lo, t_hi = t[rows, k], t[rows, k + 1]
    f_lo, f_hi = f[rows, k], f[rows, k + 1]
    idx = hit.nonzero().squeeze(-1)
    t_lo, t_hi, f_lo, f_hi = t_lo[idx], t_hi[idx], f_lo[idx], f_hi[idx]
    o, d = origins[idx], directions[idx]
    t_root = t_lo - f_lo * (t_hi - t_lo) / (f_hi - f_lo)
    for _ in range(n_secant):
        if idx.numel() == 0:
            break
        f_mid = evaluate(o + t_root[:, None] * d)
        below = f_mid < 0
        t_lo = torch.where(below, t_root, t_lo)
        f_lo = torch.where(below, f_mid, f_lo)
        t_hi = torch.where(below, t_hi, t_root)
        f_hi = torch.where(below, f_hi, f_mid)
        denom = f_hi - f_lo
        safe = torch.where(denom.abs() < 1e-12, torch.ones_like(denom), denom)
        t_root = torch.where(
            denom.abs() < 1e-12, 0.5 * (t_lo + t_hi), t_lo - f_lo * (t_hi - t_lo) / safe
        )
    out = t_far.clone()
    out[idx] = t_root
    return out, hit


@torch.no_grad()
def max_along_rays(
    field_fn: Callable[[torch.Tensor], torch.Tensor],
    origins: torch.Tensor,
    directions: torch.Tensor,
    t_near: torch.Tensor,
    t_far: torch.Tensor,
    n_samples: int = 64,
    chunk_size: int = 2**16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The sample of each ray where `field_fn` is largest; no gradient.

    The field is evaluated at `n_samples` evenly spaced lengths in [t_near, t_far] (the same
    samples as `find_surface`'s dense search); ties go to the nearest sample.

    Args:
        field_fn: (P, 3) float points -> (P,) or (P, 1) float values.
        origins, directions: (R, 3) float.
        t_near, t_far: (R,) float.
        n_samples: samples per ray (>= 1).
        chunk_size: points per call of field_fn.

    Returns:
        t: (R,) float length of the best sample; value: (R,) float the field there.
    """
    _check_rays(origins, directions)
    R = origins.shape[0]
    check_tensor(t_near, "t_near", (R,), "float")
    check_tensor(t_far, "t_far", (R,), "float")
    S = check_positive_int(n_samples, "n_samples")
    chunk = check_positive_int(chunk_size, "chunk_size")
    if R == 0:
        return t_near.clone(), t_near.clone()
    u = torch.linspace(0.0, 1.0, S, dtype=origins.dtype, device=origins.device)
    t = t_near[:, None] + (t_far - t_near)[:, None] * u  # (R, S)
    flat = (origins[:, None] + t[..., None] * directions[:, None]).reshape(-1, 3)
    f = torch.cat([field_fn(c).reshape(-1) for c in flat.split(chunk)]).reshape(R, S)
    value, k = f.max(dim=-1)
    return t.gather(1, k[:, None]).squeeze(1), value


class SurfaceDepth(torch.autograd.Function):
    """Identity on the root length whose backward is the implicit-function rule.

    forward(t: (R,), f: (R,), df_dt: (R,)) -> t, where ``f = field(r0 + t.detach() w)`` was
    computed WITH the graph to the field's parameters (and to r0, w) and ``df_dt = grad_p f . w``
    (detached). backward sends ``-grad / df_dt`` into f, so that the chain through f gives
    ``dt/dtheta = -(df/dp . w)^-1 df/dtheta`` (and the same for the rays); t itself gets no
    gradient (the root does not depend on where the search started).
    """

    @staticmethod
    def forward(ctx, t, f, df_dt):  # type: ignore[override]
        ctx.save_for_backward(df_dt)
        return t.detach().clone()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (df_dt,) = ctx.saved_tensors
        return None, -grad / df_dt, None


def surface_depth(
    field_fn: Callable[[torch.Tensor], torch.Tensor],
    origins: torch.Tensor,
    directions: torch.Tensor,
    t: torch.Tensor,
    min_slope: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Root lengths made differentiable by implicit differentiation.

    Args:
        field_fn: as in `find_surface` (differentiable; its parameters receive gradients).
        origins, directions: (R, 3) float (may require grad).
        t: (R,) float roots found by `find_surface` (only the hits).
        min_slope: |df/dt| is clamped away from 0 by this (a ray grazing the surface).

    Returns:
        t: (R,) float, equal to the input, with gradients dt/dtheta, dt/dr0, dt/dw;
        points: (R, 3) float surface points ``r0 + t w`` (differentiable the same way).
    """
    _check_rays(origins, directions)
    check_tensor(t, "t", (origins.shape[0],), "float")
    t0 = t.detach()
    p0 = (origins + t0[:, None] * directions).detach().requires_grad_(True)
    with torch.enable_grad():
        g = torch.autograd.grad(field_fn(p0).sum(), p0)[0]
    df_dt = (g * directions.detach()).sum(-1)
    sign = torch.where(df_dt < 0, -torch.ones_like(df_dt), torch.ones_like(df_dt))
    df_dt = sign * df_dt.abs().clamp(min=min_slope)
    f = field_fn(origins + t0[:, None] * directions).reshape(-1)
    t_out = SurfaceDepth.apply(t0, f, df_dt)
    return t_out, origins + t_out[:, None] * directions


def neus_alpha(
    sdf: torch.Tensor,
    cos: torch.Tensor,
    deltas: torch.Tensor,
    inv_s: torch.Tensor | float,
    eps: float = 1e-5,
) -> torch.Tensor:
    """NeuS's discrete opacity of the ray section around each sample.

    The SDF over the section of sample i (length deltas_i, centred on the sample) is taken as
    linear with slope `cos` (the SDF's directional derivative, <= 0 where the ray enters a
    surface): its values at the section's ends are ``sdf -+ cos * delta / 2``, and with
    ``Phi = sigmoid(inv_s * .)`` the opacity is
    ``alpha_i = clamp((Phi(prev) - Phi(next)) / Phi(prev), 0, 1)``.

    Args:
        sdf: (...) float signed distances at the samples.
        cos: (...) float directional derivative of the SDF along the (unit) ray.
        deltas: (...) float section lengths.
        inv_s: positive float or 0-dim tensor, the sharpness s (1 / standard deviation).

    Returns:
        alpha: (...) float in [0, 1].
    """
    check_tensor(sdf, "sdf", None, "float")
    for name, x in (("cos", cos), ("deltas", deltas)):
        check_tensor(x, name, None, "float")
        if x.shape != sdf.shape:
            raise ValueError(
                f"{name} must have the shape of sdf {tuple(sdf.shape)}; got {tuple(x.shape)}"
            )
    prev = sdf - cos * deltas * 0.5
    nxt = sdf + cos * deltas * 0.5
    phi_prev = torch.sigmoid(prev * inv_s)
    phi_next = torch.sigmoid(nxt * inv_s)
    return ((phi_prev - phi_next + eps) / (phi_prev + eps)).clamp(0.0, 1.0)


def neus_weights(
    sdf: torch.Tensor,
    cos: torch.Tensor,
    deltas: torch.Tensor,
    inv_s: torch.Tensor | float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """NeuS's opacities (`neus_alpha`) and their compositing weights along rays.

    For a plane the weight is maximal at the zero crossing (unbiased) and a surface hides what
    lies behind it (occlusion-aware).

    Args:
        sdf, cos, deltas: (..., S) float, samples sorted by length along each ray.
        inv_s: the sharpness s.

    Returns:
        alpha: (..., S) float in [0, 1]; weights: (..., S) float (sum <= 1 per ray).
    """
    alpha = neus_alpha(sdf, cos, deltas, inv_s)
    return alpha, emission_absorption_weights(alpha, eps=1e-7)


def neus_upsample(
    t: torch.Tensor,
    sdf: torch.Tensor,
    inv_s: float,
    n_samples: int,
    valid: torch.Tensor | None = None,
    det: bool = False,
) -> torch.Tensor:
    """New lengths drawn where NeuS's weights at sharpness `inv_s` put the surface; no gradient.

    Each section between consecutive samples gets the NeuS opacity of a linear SDF (`neus_alpha`)
    whose slope is the smaller of its own and the previous section's (a section that straddles a
    thin wall still sees the entering slope), clamped to <= 0 (only entries count); the
    compositing weights of these opacities are the piecewise-constant pdf that `sample_pdf`
    inverts.

    Args:
        t: (R, S) float sorted lengths along each ray (S >= 2).
        sdf: (R, S) float signed distances at those lengths (> 0 outside).
        inv_s: sharpness s (> 0) of the weights used for the pdf.
        n_samples: new lengths per ray (>= 0).
        valid: optional (R, S - 1) bool, sections to consider (False: weight 0).
        det: evenly spaced quantiles k / (n_samples + 1) (deterministic) instead of uniform
            random ones.

    Returns:
        (R, n_samples) float new lengths in [t_0, t_{S-1}], sorted along each ray. A ray whose
        SDF stays positive gets a near-uniform pdf (no NaN); one that starts inside (sdf < 0) is
        opaque from its first section, where its samples then go.
    """
    check_tensor(t, "t", ("R", "S"), "float")
    check_tensor(sdf, "sdf", tuple(t.shape), "float")
    if t.shape[1] < 2:
        raise ValueError(f"t must have at least 2 samples per ray; got {t.shape[1]}")
    n = check_nonneg_int(n_samples, "n_samples")
    if not float(inv_s) > 0:
        raise ValueError(f"inv_s must be > 0; got {inv_s}")
    if valid is not None:
        check_tensor(valid, "valid", (t.shape[0], t.shape[1] - 1), "bool")
    with torch.no_grad():
        t = t.detach()
        f = sdf.detach().to(t.dtype)
        dt = (t[:, 1:] - t[:, :-1]).clamp(min=1e-6)
        mid = 0.5 * (f[:, 1:] + f[:, :-1])
        slope = (f[:, 1:] - f[:, :-1]) / dt
        prev = torch.cat([torch.zeros_like(slope[:, :1]), slope[:, :-1]], dim=1)
        slope = torch.minimum(slope, prev).clamp(-1e3, 0.0)
        alpha = neus_alpha(mid, slope, dt, float(inv_s))
        if valid is not None:
            alpha = alpha * valid
        weights = emission_absorption_weights(alpha, eps=1e-7)
        if n == 0:
            return t.new_zeros(t.shape[0], 0)
        if det:  # quantiles k / (n + 1), k = 1..n: not the pdf's two ends (0 and 1)
            new = sample_pdf(t, weights, n + 2, det=True, eps=1e-5)[:, 1:-1]
        else:
            new = sample_pdf(t, weights, n, det=False, eps=1e-5)
        return new.sort(dim=-1).values


def neus_importance_samples(
    sdf_fn: Callable[[torch.Tensor], torch.Tensor],
    origins: torch.Tensor,
    directions: torch.Tensor,
    t: torch.Tensor,
    sdf: torch.Tensor,
    n_importance: int,
    rounds: int = 4,
    base_inv_s: float = 64.0,
    det: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """NeuS's hierarchical up-sampling: `rounds` rounds of `neus_upsample` at sharpness
    ``base_inv_s * 2**i``, each adding ``n_importance // rounds`` lengths (the last round the
    remainder) where the current samples put the surface; no gradient.

    Args:
        sdf_fn: (P, 3) float points -> (P,) or (P, 1) signed distances.
        origins, directions: (R, 3) float.
        t: (R, S) float sorted coarse lengths; sdf: (R, S) float the SDF there.
        n_importance: lengths to add per ray (>= 0).
        rounds: up-sampling rounds (>= 1).
        base_inv_s: sharpness of the first round (> 0).
        det: deterministic quantiles (see `neus_upsample`).

    Returns:
        t: (R, S + n_importance) float sorted lengths; sdf: (R, S + n_importance) float the SDF
        there (detached).
    """
    _check_rays(origins, directions)
    R = origins.shape[0]
    check_tensor(t, "t", (R, "S"), "float")
    check_tensor(sdf, "sdf", tuple(t.shape), "float")
    n = check_nonneg_int(n_importance, "n_importance")
    k = check_positive_int(rounds, "rounds")
    if not float(base_inv_s) > 0:
        raise ValueError(f"base_inv_s must be > 0; got {base_inv_s}")
    with torch.no_grad():
        t = t.detach()
        f = sdf.detach().to(t.dtype)
        per = [n // k] * k
        per[-1] += n - sum(per)
        for i, m in enumerate(per):
            if m == 0 or R == 0:
                continue
            t_new = neus_upsample(t, f, base_inv_s * 2.0**i, m, det=det)
            pts = origins[:, None] + t_new[..., None] * directions[:, None]
            f_new = sdf_fn(pts.reshape(-1, 3)).reshape(R, m).to(t.dtype)
            t, order = torch.cat([t, t_new], dim=1).sort(dim=1)
            f = torch.cat([f, f_new], dim=1).gather(1, order)
        return t, f
