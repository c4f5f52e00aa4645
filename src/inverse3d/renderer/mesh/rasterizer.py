"""MeshRasterizer: project world meshes with a camera and rasterize them (PyTorch3D API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from inverse3d.renderer.mesh.rasterize_meshes import rasterize_meshes

__all__ = ["Fragments", "RasterizationSettings", "MeshRasterizer"]


class Fragments(NamedTuple):
    """Output of the mesh rasterizer (K faces per pixel, nearest first).

    pix_to_face: (N, H, W, K) int64 packed face index, -1 = empty.
    zbuf: (N, H, W, K) float view-space depth at the pixel centre, -1 = empty.
    bary_coords: (N, H, W, K, 3) float barycentric coordinates, -1 = empty.
    dists: (N, H, W, K) float signed squared NDC distance to the face (negative inside),
        -1 = empty.
    """

    pix_to_face: torch.Tensor
    zbuf: torch.Tensor
    bary_coords: torch.Tensor
    dists: torch.Tensor | None

    def detach(self) -> Fragments:
        return Fragments(*(t.detach() if torch.is_tensor(t) else t for t in self))


@dataclass
class RasterizationSettings:
    """Settings of MeshRasterizer (see `rasterize_meshes` for each field).

    perspective_correct None follows cameras.is_perspective(); clip_barycentric_coords None is
    on when blur_radius > 0; z_clip_value None is znear / 2 for perspective cameras that have a
    znear (FoV cameras) and off otherwise.
    """

    image_size: int | tuple[int, int] = 256
    blur_radius: float = 0.0
    faces_per_pixel: int = 1
    bin_size: int | None = None
    max_faces_per_bin: int | None = None
    perspective_correct: bool | None = None
    clip_barycentric_coords: bool | None = None
    cull_backfaces: bool = False
    z_clip_value: float | None = None
    cull_to_frustum: bool = False


def _projection_or_none(cameras, kwargs):
    try:
        return cameras.get_projection_transform(**kwargs)
    except NotImplementedError:
        return None


class MeshRasterizer(nn.Module):
    """Rasterize world-space Meshes seen by `cameras` into Fragments.

    forward(meshes_world, **kwargs) accepts per-call overrides: cameras=, raster_settings= and any
    camera field (R=, T=, fov=, ...) which are passed to the camera's transforms.
    """

    def __init__(self, cameras=None, raster_settings: RasterizationSettings | None = None) -> None:
        super().__init__()
        if raster_settings is None:
            raster_settings = RasterizationSettings()
        self.cameras = cameras
        self.raster_settings = raster_settings

    def to(self, device):  # type: ignore[override]
        if self.cameras is not None:
            self.cameras = self.cameras.to(device)
        return self

    def _cameras(self, kwargs: dict[str, Any]):
        cameras = kwargs.get("cameras", self.cameras)
        if cameras is None:
            raise ValueError(
                "cameras must be given to MeshRasterizer at initialization or in forward "
                "(cameras=...); got None"
            )
        return cameras

    def transform(self, meshes_world, **kwargs):
        """Meshes with vertices in NDC (x, y) and view-space z.

        Raises ValueError if the number of cameras is neither 1 nor len(meshes_world).
        """
        cameras = self._cameras(kwargs)
        n_cam, n_mesh = len(cameras), len(meshes_world)
        if n_cam != 1 and n_cam != n_mesh:
            raise ValueError(
                f"cameras must hold 1 camera or one per mesh ({n_mesh}); got {n_cam} cameras"
            )
        kw = {k: v for k, v in kwargs.items() if k not in ("cameras", "raster_settings")}
        eps = kw.pop("eps", None)
        verts_world = meshes_world.verts_padded()
        verts_view = cameras.get_world_to_view_transform(**kw).transform_points(
            verts_world, eps=eps
        )
        to_ndc = cameras.get_ndc_camera_transform(**kw)
        projection = _projection_or_none(cameras, kw)
        if projection is not None:
            verts_ndc = projection.compose(to_ndc).transform_points(verts_view, eps=eps)
        else:
            verts_proj = cameras.transform_points(verts_world, eps=eps, **kw)
            verts_ndc = to_ndc.transform_points(verts_proj, eps=eps)
        verts_ndc = torch.cat((verts_ndc[..., :2], verts_view[..., 2:3]), dim=-1)
        return meshes_world.update_padded(new_verts_padded=verts_ndc)

    def rasterize_kwargs(self, cameras, raster_settings: RasterizationSettings) -> dict:
        """The keyword arguments of `rasterize_meshes` for these cameras and settings (the
        None settings resolved: perspective_correct, clip_barycentric_coords, z_clip_value)."""
        rs = raster_settings
        clip_bary = rs.clip_barycentric_coords
        if clip_bary is None:
            clip_bary = rs.blur_radius > 0.0
        persp = rs.perspective_correct
        if persp is None:
            persp = cameras.is_perspective()
        z_clip = rs.z_clip_value
        if z_clip is None:
            znear = cameras.get_znear()
            if torch.is_tensor(znear):
                znear = float(znear.min())
            z_clip = None if (not persp or znear is None) else znear / 2
        return dict(
            image_size=rs.image_size,
            blur_radius=rs.blur_radius,
            faces_per_pixel=rs.faces_per_pixel,
            bin_size=rs.bin_size,
            max_faces_per_bin=rs.max_faces_per_bin,
            perspective_correct=persp,
            clip_barycentric_coords=clip_bary,
            cull_backfaces=rs.cull_backfaces,
            z_clip_value=z_clip,
            cull_to_frustum=rs.cull_to_frustum,
        )

    def forward(self, meshes_world, **kwargs) -> Fragments:
        """Fragments of `meshes_world` (see Fragments for the shapes)."""
        cameras = self._cameras(kwargs)
        meshes_proj = self.transform(meshes_world, **kwargs)
        rs = kwargs.get("raster_settings", self.raster_settings)
        pix_to_face, zbuf, bary, dists = rasterize_meshes(
            meshes_proj, **self.rasterize_kwargs(cameras, rs)
        )
        return Fragments(pix_to_face=pix_to_face, zbuf=zbuf, bary_coords=bary, dists=dists)
