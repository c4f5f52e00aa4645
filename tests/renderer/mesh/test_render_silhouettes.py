"""renderer.mesh.render_views.render_mesh_silhouettes: a sphere's hard silhouette has the
analytic disc's area, supersampling matches `render_mesh_views`' alpha, and the arguments are
checked."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.renderer.cameras import FoVPerspectiveCameras
from inverse3d.renderer.look_at import look_at_view_transform
from inverse3d.renderer.mesh.render_views import render_mesh_silhouettes, render_mesh_views
from inverse3d.utils.ico_sphere import ico_sphere

DIST, FOV, SIZE = 3.0, 40.0, 96


def disc_pixels(radius: float) -> float:
    """Pixel area of the silhouette of a sphere of `radius` at the origin seen from DIST: a disc
    of angular radius asin(r / d), i.e. tan(asin(r / d)) / tan(fov / 2) half image widths."""
    rel = math.tan(math.asin(radius / DIST)) / math.tan(math.radians(FOV) / 2)
    return math.pi * (rel * SIZE / 2) ** 2


@pytest.fixture(scope="module")
def cameras():
    R, T = look_at_view_transform(DIST, [10.0, 35.0, -20.0], [0.0, 120.0, 250.0])
    return FoVPerspectiveCameras(fov=FOV, R=R, T=T)


def sphere(radius: float, level: int = 4):
    s = ico_sphere(level)
    return s.update_padded(s.verts_padded() * radius)


def test_sphere_area_is_analytic(cameras):
    for radius in (0.5, 1.0):
        sil = render_mesh_silhouettes(sphere(radius), cameras, SIZE)
        assert sil.shape == (3, SIZE, SIZE) and set(sil.unique().tolist()) <= {0.0, 1.0}
        area = sil.flatten(1).sum(1)
        # measured 0.1% and 0.15% below (level 4 is inscribed in the sphere; pixel counting)
        assert torch.allclose(area, torch.full_like(area, disc_pixels(radius)), rtol=0.01)


def test_supersampled_equals_render_mesh_views_alpha(cameras):
    mesh = sphere(0.9, level=3)
    sil = render_mesh_silhouettes(mesh, cameras, (40, 48), supersample=2)
    alpha = render_mesh_views(mesh, cameras, (40, 48), supersample=2)[..., 3]
    assert sil.shape == (3, 40, 48)
    assert torch.equal(sil, alpha)
    assert ((sil > 0) & (sil < 1)).any()  # edge pixels are fractional


def test_no_gradient_and_chunks(cameras):
    mesh = sphere(0.7, level=2)
    mesh = mesh.update_padded(mesh.verts_padded().requires_grad_())
    a = render_mesh_silhouettes(mesh, cameras, 32, chunk=1)
    b = render_mesh_silhouettes(mesh, cameras, 32)
    assert not a.requires_grad and torch.equal(a, b)


def test_arguments_are_checked(cameras):
    mesh = sphere(0.5, level=1)
    with pytest.raises(ValueError, match="supersample"):
        render_mesh_silhouettes(mesh, cameras, 32, supersample=0)
    with pytest.raises(ValueError, match="image_size"):
        render_mesh_silhouettes(mesh, cameras, (32, 0))
    with pytest.raises(ValueError, match="one mesh"):
        render_mesh_silhouettes(mesh.extend(2), cameras, 32)
