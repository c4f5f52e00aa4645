"""Inverse-CDF sampling of piecewise-constant densities (NeRF's hierarchical sampling)."""

from __future__ import annotations

import torch

from inverse3d._validation import check_nonneg_int, check_tensor

__all__ = ["sample_pdf"]


def sample_pdf(
    bins: torch.Tensor,
    weights: torch.Tensor,
    n_samples: int,
    det: bool = False,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Draw samples from the piecewise-constant densities given by bin edges and weights.

    Bin i spans [bins[..., i], bins[..., i + 1]] and is drawn with probability proportional to
    ``weights[..., i] + eps`` (eps keeps empty bins from dividing by zero); within a bin the
    density is uniform, so a sample is the inverse CDF of a uniform number u in [0, 1].

    Args:
        bins: (..., B + 1) float sorted bin edges.
        weights: (..., B) float non-negative bin weights (need not sum to one).
        n_samples: samples per distribution.
        det: False draws u at random; True takes u = linspace(0, 1, n_samples), i.e. evenly
            spaced quantiles.
        eps: added to every weight.

    Returns:
        samples: (..., n_samples) float in [bins[..., 0], bins[..., -1]], dtype of bins.
        Not differentiable (PyTorch3D raises when the inputs require grad; here the result is
        simply detached from them).
    """
    check_tensor(bins, "bins", dtype="float")
    check_tensor(weights, "weights", dtype="float")
    n_samples = check_nonneg_int(n_samples, "n_samples")
    if bins.dim() < 1 or weights.dim() < 1:
        raise ValueError("bins and weights must have at least one dimension")
    if bins.shape[:-1] != weights.shape[:-1] or bins.shape[-1] != weights.shape[-1] + 1:
        raise ValueError(
            "bins must have shape (..., B + 1) and weights (..., B); got "
            f"{tuple(bins.shape)} and {tuple(weights.shape)}"
        )
    if weights.shape[-1] < 1:
        raise ValueError("weights must have at least one bin; got shape (..., 0)")
    bins = bins.detach()
    weights = weights.detach().to(bins.dtype)
    if weights.numel() and float(weights.min()) < min(-eps, 0.0):
        raise ValueError(f"weights must be non-negative; got a minimum of {float(weights.min())}")
    batch_shape = bins.shape[:-1]
    out_shape = (*batch_shape, n_samples)
    if det:
        u = torch.linspace(0.0, 1.0, n_samples, dtype=bins.dtype, device=bins.device)
        u = u.expand(out_shape).contiguous()
    else:
        u = torch.rand(out_shape, dtype=bins.dtype, device=bins.device)
    w = weights + eps
    cdf = torch.cumsum(w, dim=-1)
    total = cdf[..., -1:]
    if total.numel() and not bool((total > 0).all()):
        raise ValueError("weights + eps must have a positive sum for every distribution")
    cdf = torch.cat((torch.zeros_like(total), cdf), dim=-1) / total  # (..., B + 1), 0 -> 1
    # bin index of each u: the last edge whose cdf is <= u, clamped to a real bin
    idx = torch.searchsorted(cdf.contiguous(), u, right=True) - 1
    idx = idx.clamp(0, weights.shape[-1] - 1)
    cdf_lo = torch.gather(cdf, -1, idx)
    cdf_hi = torch.gather(cdf, -1, idx + 1)
    bin_lo = torch.gather(bins, -1, idx)
    bin_hi = torch.gather(bins, -1, idx + 1)
    denom = cdf_hi - cdf_lo
    denom = torch.where(denom > 0, denom, torch.ones_like(denom))  # empty bin (eps = 0)
    t = ((u - cdf_lo) / denom).clamp(0.0, 1.0)
    return bin_lo + t * (bin_hi - bin_lo)
