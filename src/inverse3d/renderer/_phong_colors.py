"""The ambient / diffuse / specular colours that lights and materials both hold."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from inverse3d.renderer.utils import Device, TensorProperties

__all__ = ["as_row", "check_colors", "init_colors"]


def as_row(value: Any) -> Any:
    """A flat colour / vector (C,) (tuple, list, array or tensor of numbers) as one row (1, C):
    PyTorch3D documents "3 element tuple/list" inputs for light and material properties."""
    if torch.is_tensor(value) or isinstance(value, np.ndarray):
        return value[None] if value.ndim == 1 else value
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return (tuple(value),)
    return value


def check_colors(props: TensorProperties, same_channels: bool = False) -> None:
    """ambient/diffuse/specular_color must be (N, C) (and share C when same_channels)."""
    channels = None
    for name in ("ambient_color", "diffuse_color", "specular_color"):
        value = getattr(props, name)
        if value.dim() != 2:
            raise ValueError(f"{name} must have shape (N, C); got {tuple(value.shape)}")
        if same_channels and channels is not None and value.shape[-1] != channels:
            raise ValueError(
                f"{name} must have the same number of channels C={channels} as "
                f"ambient_color; got {value.shape[-1]}"
            )
        channels = value.shape[-1]


def init_colors(
    props: TensorProperties,
    device: Device,
    ambient_color,
    diffuse_color,
    specular_color,
    same_channels: bool = False,
    **fields,
) -> None:
    """TensorProperties.__init__ of a holder of the three Phong colours (lights, materials),
    with the other fields, then the colour shape checks. Colours and the (N, 3) vector fields
    may be given flat, (C,) / (3,): they are one row broadcast to the batch."""
    vectors = {k: (as_row(v) if k in ("direction", "location") else v) for k, v in fields.items()}
    TensorProperties.__init__(
        props,
        device=device,
        ambient_color=as_row(ambient_color),
        diffuse_color=as_row(diffuse_color),
        specular_color=as_row(specular_color),
        **vectors,
    )
    check_colors(props, same_channels)
