"""NeRF positional encoding and mip-NeRF's integrated positional encoding."""

from __future__ import annotations

import math
from typing import Any

import torch

from inverse3d._validation import check_nonneg_int

__all__ = ["HarmonicEmbedding"]


class HarmonicEmbedding(torch.nn.Module):
    """Map each input coordinate to sines and cosines of growing frequencies.

    With frequencies ``f_j = omega_0 * 2**j`` (logspace) or ``omega_0 * linspace(1,
    2**(L-1), L)`` for j < L = n_harmonic_functions, the output for x: (..., D) is laid out as
    PyTorch3D's::

        [sin(f_j x_d) for d in D for j in L] + [cos(f_j x_d) for d in D for j in L] (+ x)

    With ``diag_cov`` (..., D) (the variances of a Gaussian of mean x, mip-NeRF's integrated
    encoding) each sine and cosine is multiplied by ``exp(-0.5 f_j**2 diag_cov_d)``, the
    expectation of sin / cos under that Gaussian.

    Args:
        n_harmonic_functions: L >= 0.
        omega_0: base frequency.
        logspace: powers of two (True) or linearly spaced frequencies.
        append_input: append x itself to the output.

    forward(x: (..., D) float, diag_cov: (..., D) float | None = None) -> (..., D * (2 L +
    int(append_input))) float.
    """

    def __init__(
        self,
        n_harmonic_functions: int = 6,
        omega_0: float = 1.0,
        logspace: bool = True,
        append_input: bool = True,
    ) -> None:
        super().__init__()
        L = check_nonneg_int(n_harmonic_functions, "n_harmonic_functions")
        if logspace:
            freqs = 2.0 ** torch.arange(L, dtype=torch.float32)
        else:
            freqs = torch.linspace(1.0, 2.0 ** (L - 1), L, dtype=torch.float32)
        self.register_buffer("_frequencies", freqs * float(omega_0), persistent=False)
        self.register_buffer("_zero_half_pi", torch.tensor([0.0, 0.5 * math.pi]), persistent=False)
        self.append_input = bool(append_input)

    def forward(
        self, x: torch.Tensor, diag_cov: torch.Tensor | None = None, **kwargs: Any
    ) -> torch.Tensor:
        if not torch.is_tensor(x):
            raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
        if x.dim() < 1:
            raise ValueError(f"x must have shape (..., D); got {tuple(x.shape)}")
        freqs = self._frequencies.to(x.dtype)
        phase = self._zero_half_pi.to(x.dtype)
        embed = x[..., None] * freqs  # (..., D, L)
        # cos(a) = sin(a + pi / 2): one sin call for both halves
        embed = (embed[..., None, :, :] + phase[:, None, None]).sin()  # (..., 2, D, L)
        if diag_cov is not None:
            if not torch.is_tensor(diag_cov) or diag_cov.shape != x.shape:
                got = tuple(diag_cov.shape) if torch.is_tensor(diag_cov) else type(diag_cov)
                raise ValueError(f"diag_cov must have the shape of x {tuple(x.shape)}; got {got}")
            damp = torch.exp(-0.5 * diag_cov[..., None] * freqs**2)  # (..., D, L)
            embed = embed * damp[..., None, :, :]
        embed = embed.reshape(*x.shape[:-1], -1)
        if self.append_input:
            return torch.cat((embed, x), dim=-1)
        return embed

    @staticmethod
    def get_output_dim_static(
        input_dims: int, n_harmonic_functions: int, append_input: bool
    ) -> int:
        """Size of the last output dimension: input_dims * (2 L + int(append_input))."""
        return input_dims * (2 * n_harmonic_functions + int(append_input))

    def get_output_dim(self, input_dims: int = 3) -> int:
        """Size of the last output dimension for inputs of size ``input_dims``."""
        return self.get_output_dim_static(input_dims, len(self._frequencies), self.append_input)
