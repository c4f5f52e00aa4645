"""Device helpers under PyTorch3D's names (`pytorch3d.common.datatypes`), which many libraries import."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["Device", "get_device", "make_device"]

Device = str | torch.device


def make_device(device: Device) -> torch.device:
    """A torch.device; a bare "cuda" becomes the current CUDA device."""
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a str or torch.device; got {type(device).__name__}")
    device = torch.device(device) if isinstance(device, str) else device
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{torch.cuda.current_device()}")
    return device


def get_device(x: Any, device: Device | None = None) -> torch.device:
    """`device` if given, else the device of tensor `x`, else the CPU."""
    if device is not None:
        return make_device(device)
    if torch.is_tensor(x):
        return x.device
    return torch.device("cpu")
