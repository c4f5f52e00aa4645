"""Phong material properties of a batch of meshes."""

from __future__ import annotations

from inverse3d.renderer._phong_colors import init_colors
from inverse3d.renderer.utils import Device, TensorProperties

__all__ = ["Materials"]


class Materials(TensorProperties):
    """Ambient, diffuse and specular reflectance colours and a shininess exponent, per batch item.

    Attributes (after broadcasting to the batch size N):
        ambient_color: (N, C) float, fraction of ambient light reflected per channel.
        diffuse_color: (N, C) float, Lambertian reflectance.
        specular_color: (N, C) float, specular reflectance.
        shininess: (N,) float, Phong exponent.
    """

    def __init__(
        self,
        ambient_color=((1, 1, 1),),
        diffuse_color=((1, 1, 1),),
        specular_color=((1, 1, 1),),
        shininess=64,
        device: Device = "cpu",
    ) -> None:
        init_colors(
            self,
            device,
            ambient_color,
            diffuse_color,
            specular_color,
            same_channels=True,
            shininess=shininess,
        )
        if self.shininess.dim() != 1:
            raise ValueError(f"shininess must have shape (N,); got {tuple(self.shininess.shape)}")

    def clone(self) -> Materials:  # type: ignore[override]
        other = self.__class__(device=self.device)
        return super().clone(other)
