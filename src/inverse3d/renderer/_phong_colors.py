"""The ambient / diffuse / specular colours that lights and materials both hold."""

from __future__ import annotations

from inverse3d.renderer.utils import Device, TensorProperties

__all__ = ["check_colors", "init_colors"]


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
    with the other fields, then the colour shape checks."""
    TensorProperties.__init__(
        props,
        device=device,
        ambient_color=ambient_color,
        diffuse_color=diffuse_color,
        specular_color=specular_color,
        **fields,
    )
    check_colors(props, same_channels)
