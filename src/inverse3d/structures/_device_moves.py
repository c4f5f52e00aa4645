"""`to` / `cpu` / `cuda` shared by the batch structures that hold a `device`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch

from inverse3d.common.datatypes import make_device

__all__ = ["DeviceMoves"]

_Self = TypeVar("_Self", bound="DeviceMoves")


class DeviceMoves:
    """to / cpu / cuda of a batch structure (Pointclouds, VolumeLocator, Volumes) holding a
    `device`; the structure gives `_copy_to(device)`, a copy with every tensor on device."""

    device: torch.device
    # Each structure defines it: a copy with every tensor on `device`.
    _copy_to: Callable[[torch.device], Any]

    def to(self: _Self, device: str | torch.device, copy: bool = False) -> _Self:
        """Self if already on `device` and not copy, else a copy on `device`."""
        device_ = make_device(device)
        if not copy and device_ == self.device:
            return self
        return self._copy_to(device_)

    def cpu(self: _Self) -> _Self:
        return self.to("cpu")

    def cuda(self: _Self) -> _Self:
        return self.to("cuda")
