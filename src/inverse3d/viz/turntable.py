"""Render a mesh from many views: image batches and turntable GIFs (with our mesh renderer)."""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from inverse3d._validation import check_positive_int
from inverse3d.renderer.mesh.render_views import render_mesh_views

__all__ = ["render_mesh_views", "save_gif", "turntable_cameras", "render_turntable"]


def turntable_cameras(mesh, n_frames: int = 36, elev: float = 25.0, fov: float = 40.0):
    """FoVPerspectiveCameras circling the mesh's bounding-box centre, framing the whole mesh."""
    from inverse3d.renderer.cameras import FoVPerspectiveCameras
    from inverse3d.renderer.look_at import look_at_view_transform

    n_frames = check_positive_int(n_frames, "n_frames")
    verts = mesh.verts_packed().detach()
    if verts.shape[0] == 0:
        centre, radius = torch.zeros(3, device=verts.device), 1.0
    else:
        centre = (verts.min(0).values + verts.max(0).values) / 2
        radius = float((verts - centre).norm(dim=1).max().clamp(min=1e-6))
    dist = 1.1 * radius / math.sin(math.radians(fov) / 2)
    azim = torch.linspace(0.0, 360.0, n_frames + 1)[:-1]
    R, T = look_at_view_transform(
        dist=dist, elev=elev, azim=azim, at=centre[None].cpu(), device=verts.device
    )
    return FoVPerspectiveCameras(
        fov=fov, R=R, T=T, znear=dist * 0.05, zfar=dist * 4, device=verts.device
    )


def save_gif(frames: torch.Tensor, path: str | os.PathLike, fps: float = 12.0) -> None:
    """frames: (N, H, W, 3) float in [0, 1] -> an endlessly looping GIF at `path`."""
    from PIL import Image

    from inverse3d.viz.plots import to_uint8

    arr = to_uint8(frames)
    if arr.ndim != 4 or arr.shape[0] == 0:
        raise ValueError(f"frames must have shape (N, H, W, 3) with N >= 1; got {arr.shape}")
    images = [Image.fromarray(np.ascontiguousarray(a[..., :3])) for a in arr]
    images[0].save(
        path,
        save_all=True,
        append_images=images[1:],
        duration=int(1000 / fps),
        loop=0,
        optimize=False,
    )


def render_turntable(
    mesh,
    path: str | os.PathLike,
    n_frames: int = 36,
    image_size: int = 160,
    elev: float = 25.0,
    lights=None,
    materials=None,
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> torch.Tensor:
    """Render `n_frames` views around `mesh` and save them as a GIF; return (N, H, W, 4) frames."""
    cams = turntable_cameras(mesh, n_frames=n_frames, elev=elev)
    frames = render_mesh_views(
        mesh, cams, image_size, lights=lights, materials=materials, background=background
    )
    save_gif(frames[..., :3], path)
    return frames
