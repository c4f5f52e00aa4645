"""Version shims (PyTorch3D's `common.compat`): `meshgrid_ij` and `prod`.

PyTorch3D keeps these so that its code runs on old PyTorch / Python versions; code written
against it imports them, so they live at the same path here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

__all__ = ["meshgrid_ij", "prod"]


def meshgrid_ij(*A: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """`torch.meshgrid` with "ij" indexing (the behaviour of PyTorch before 1.10).

    Args:
        A: 1-D tensors (T1,), (T2,), ... given as separate arguments or as one sequence.

    Returns:
        one (T1, T2, ...) tensor per input; output k varies along dimension k.
    """
    if len(A) == 1 and isinstance(A[0], (list, tuple)):
        A = tuple(A[0])
    for i, a in enumerate(A):
        if not torch.is_tensor(a):
            raise TypeError(f"meshgrid_ij argument {i} must be a tensor; got {type(a).__name__}")
    return tuple(torch.meshgrid(*A, indexing="ij"))


def prod(iterable: Iterable[Any], *, start: Any = 1) -> Any:
    """The product of `start` and the items of `iterable` (like `math.prod`, any type with *)."""
    out = start
    for item in iterable:
        out = out * item
    return out
