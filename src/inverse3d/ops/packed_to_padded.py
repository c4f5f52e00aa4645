"""Convert per-element tensors between packed (F, ...) and padded (N, M, ...) layouts."""

from __future__ import annotations

import math

import torch

from inverse3d._validation import check_nonneg_int, check_tensor

__all__ = ["packed_to_padded", "padded_to_packed"]


def _segments(first_idxs: torch.Tensor, total: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For every packed position 0..total-1: its batch index and its offset inside the batch."""
    pos = torch.arange(total, device=first_idxs.device)
    batch = torch.searchsorted(first_idxs, pos, right=True) - 1  # (total,)
    return batch, pos - first_idxs[batch.clamp(min=0)]


def _check_first(first_idxs: torch.Tensor, total: int) -> torch.Tensor:
    check_tensor(first_idxs, "first_idxs", (None,), "int")
    first_idxs = first_idxs.to(torch.int64)
    if first_idxs.numel():
        if int(first_idxs[0]) != 0 and total > 0:
            raise ValueError(f"first_idxs[0] must be 0; got {int(first_idxs[0])}")
        if bool((first_idxs[1:] < first_idxs[:-1]).any()):
            raise ValueError("first_idxs must be non-decreasing")
        if int(first_idxs[-1]) > total:
            raise ValueError(
                f"first_idxs values must be <= the number of packed elements {total}; "
                f"got {int(first_idxs[-1])}"
            )
    return first_idxs


def packed_to_padded(inputs: torch.Tensor, first_idxs: torch.Tensor, max_size: int) -> torch.Tensor:
    """Scatter packed rows into a zero-padded batch.

    Args:
        inputs: (F,) or (F, D1, D2, ...) float packed values.
        first_idxs: (N,) int64 index in inputs of the first row of each batch element.
        max_size: M, the padded size (>= the largest batch element).

    Returns:
        (N, M) or (N, M, D1, D2, ...) tensor, zeros where padded; differentiable in inputs.
    """
    check_tensor(inputs, "inputs")
    if inputs.ndim < 1:
        raise ValueError(f"inputs must have shape (F,) or (F, D1, ...); got {tuple(inputs.shape)}")
    max_size = check_nonneg_int(max_size, "max_size")
    F = inputs.shape[0]
    first_idxs = _check_first(first_idxs, F)
    N = first_idxs.shape[0]
    flat = inputs.reshape(F, math.prod(inputs.shape[1:]))  # (F, D), D = 1 for (F,) inputs
    D = flat.shape[1]
    out = inputs.new_zeros((N * max_size, D))
    if N and F:
        batch, off = _segments(first_idxs, F)
        if int(off.max()) >= max_size:
            raise ValueError(
                f"a batch element has {int(off.max()) + 1} rows, more than max_size={max_size}"
            )
        out = out.index_copy(0, batch * max_size + off, flat)
    return out.reshape(N, max_size, *inputs.shape[1:])


def padded_to_packed(
    inputs: torch.Tensor, first_idxs: torch.Tensor, num_inputs: int, max_size_dim: int = 1
) -> torch.Tensor:
    """Gather the valid rows of a padded batch into a packed tensor.

    Args:
        inputs: (N, M) or (N, M, D1, D2, ...) float padded values, or any (N, ...) layout with
            the padded dimension M at position `max_size_dim`.
        first_idxs: (N,) int64 index of the first packed row of each batch element.
        num_inputs: F, the total number of packed rows.
        max_size_dim: the dimension of inputs that holds M (default 1); it is moved to
            position 1 before packing, as PyTorch3D does.

    Returns:
        (F,) or (F, ...) tensor: the dimensions of inputs after the batch dimension and M, in
        order; differentiable in inputs.
    """
    check_tensor(inputs, "inputs")
    if inputs.ndim < 2:
        raise ValueError(
            f"inputs must have shape (N, M) or (N, M, D1, ...); got {tuple(inputs.shape)}"
        )
    if isinstance(max_size_dim, bool) or not isinstance(max_size_dim, int):
        raise TypeError(f"max_size_dim must be an int; got {type(max_size_dim).__name__}")
    if not -inputs.ndim <= max_size_dim < inputs.ndim or max_size_dim % inputs.ndim == 0:
        raise ValueError(
            f"max_size_dim must index a dimension of inputs other than the batch dimension "
            f"(1..{inputs.ndim - 1}); got {max_size_dim}"
        )
    inputs = inputs.movedim(max_size_dim, 1)
    num_inputs = check_nonneg_int(num_inputs, "num_inputs")
    N, M = inputs.shape[:2]
    rest = inputs.shape[2:]
    first_idxs = _check_first(first_idxs, num_inputs)
    if first_idxs.shape[0] != N:
        raise ValueError(f"first_idxs must have shape ({N},); got {tuple(first_idxs.shape)}")
    flat = inputs.reshape(N * M, math.prod(rest))  # (N M, D), D = 1 for (N, M) inputs
    if num_inputs == 0:
        out = flat[:0]
    else:
        batch, off = _segments(first_idxs, num_inputs)
        if int(off.max()) >= M:
            raise ValueError(f"a batch element has {int(off.max()) + 1} rows, more than M={M}")
        out = flat[batch * M + off]
    return out.reshape(out.shape[0], *rest)
