"""Choose between a Triton kernel and the pure-PyTorch reference implementation.

Every op has a reference implementation (the spec, tested in CI on CPU). A Triton kernel may
replace it for CUDA tensors. `INVERSE3D_KERNELS=reference` forces the reference everywhere.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import torch

__all__ = ["kernels_mode", "triton_available", "use_triton"]


def kernels_mode() -> str:
    """The value of INVERSE3D_KERNELS: "auto" (default), "reference" or "triton"."""
    mode = os.environ.get("INVERSE3D_KERNELS", "auto").strip().lower() or "auto"
    if mode not in ("auto", "reference", "triton"):
        raise ValueError(f"INVERSE3D_KERNELS must be auto, reference or triton; got {mode!r}")
    return mode


@functools.lru_cache(maxsize=1)
def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def use_triton(*tensors: torch.Tensor, experimental: bool = False) -> bool:
    """True when a Triton kernel should run for these tensors.

    "reference": never. "auto": when all tensors are on CUDA and Triton is importable, except
    for `experimental` kernels (not yet checked against the reference on a GPU: they run only
    when asked for). "triton": when all tensors are on CUDA; raises RuntimeError if Triton is
    missing (CPU tensors still take the reference, which is the only CPU implementation).
    """
    mode = kernels_mode()
    if mode == "reference" or (experimental and mode == "auto"):
        return False
    if not tensors or not all(t.is_cuda for t in tensors):
        return False
    if triton_available():
        return True
    if mode == "triton":
        raise RuntimeError("INVERSE3D_KERNELS=triton but the triton package is not importable")
    return False
