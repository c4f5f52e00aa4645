"""PyTorch3D behaviours that inverse3d does not match (xfail(strict=True), each a deliberate
difference or one still to do), and ones it now matches after a fix (plain tests)."""

from __future__ import annotations

import warnings

import pytest
import torch

from inverse3d.renderer.implicit import raymarching


def test_raymarcher_densities_out_of_range_only_warn():
    # PyTorch3D's EmissionAbsorptionRaymarcher only warns (UserWarning) for densities outside
    # [0, 1] and returns a result (renderer/implicit/raymarching.py, _check_density_bounds)
    dens = torch.tensor([0.5, 1.5]).view(1, 2, 1)
    feats = torch.ones(1, 2, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = raymarching.EmissionAbsorptionRaymarcher()(rays_densities=dens, rays_features=feats)
    assert out.shape == (1, 4)
    assert any("outside" in str(w.message) for w in caught)


def test_private_raymarcher_checks_keep_pytorch3d_signature():
    # PyTorch3D's private helpers, imported by its own projects/nerf raymarcher:
    # _check_raymarcher_inputs(rays_densities, rays_features, rays_z, features_can_be_none=False,
    # z_can_be_none=False, density_1d=True) and _check_density_bounds(rays_densities,
    # bounds=(0.0, 1.0)) (warns)
    dens = torch.rand(2, 4, 1)
    feats = torch.rand(2, 4, 3)
    raymarching._check_raymarcher_inputs(
        dens, feats, None, z_can_be_none=True, features_can_be_none=False, density_1d=True
    )
    with pytest.warns(UserWarning):
        raymarching._check_density_bounds(dens * 3, bounds=(0.0, 1.0))


def test_mesh_vertex_at_camera_centre_does_not_abort():
    from inverse3d.renderer.cameras import FoVPerspectiveCameras
    from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
    from inverse3d.structures import Meshes

    verts = torch.tensor(
        [[0.0, 0, 0], [1, 0, 2], [0, 1, 2], [-1, 0, 2], [0, -1, 2], [-1, -1, 2.0]]
    )  # vertex 0 sits on the camera centre of the default camera
    verts.requires_grad_(True)
    mesh = Meshes(verts=[verts], faces=[torch.tensor([[0, 1, 2], [3, 4, 5]])])
    frags = MeshRasterizer(FoVPerspectiveCameras(), RasterizationSettings(image_size=8))(mesh)
    assert (frags.pix_to_face == 1).any()
    assert not (frags.pix_to_face == 0).any()  # the face touching the camera centre is skipped
    frags.zbuf[frags.pix_to_face >= 0].sum().backward()
    # vertex 0 itself gets NaN from the projection x/z at z = 0 (as in PyTorch3D); the NaN must
    # not spread to the other vertices of its face
    assert torch.isfinite(verts.grad[1:]).all() and verts.grad[3:].abs().sum() > 0


def test_point_at_camera_centre_does_not_abort():
    from inverse3d.renderer.cameras import FoVPerspectiveCameras
    from inverse3d.renderer.points.rasterizer import (
        PointsRasterizationSettings,
        PointsRasterizer,
    )
    from inverse3d.structures import Pointclouds

    cloud = Pointclouds(points=[torch.tensor([[0.0, 0, 0], [0.1, 0.1, 2.0]])])
    settings = PointsRasterizationSettings(image_size=8, radius=0.2)
    frags = PointsRasterizer(FoVPerspectiveCameras(), settings)(cloud)
    assert (frags.idx == 1).any()
    assert not (frags.idx == 0).any()


def test_non_finite_vertices_in_front_of_the_camera_still_raise():
    """Only x/y of vertices on or behind the camera plane may be non-finite."""
    from inverse3d.renderer.mesh.rasterize_meshes import rasterize_meshes
    from inverse3d.renderer.points.rasterize_points import rasterize_points
    from inverse3d.structures import Meshes, Pointclouds

    verts = torch.tensor([[float("nan"), 0, 1], [1, 0, 2], [0, 1, 2]])
    with pytest.raises(ValueError, match="must be finite"):
        rasterize_meshes(Meshes([verts], [torch.tensor([[0, 1, 2]])]), image_size=8)
    with pytest.raises(ValueError, match="must be finite"):
        rasterize_points(Pointclouds([verts]), image_size=8, radius=0.1)
    verts[0] = torch.tensor([0.0, 0.0, float("nan")])
    with pytest.raises(ValueError, match="must be finite"):
        rasterize_meshes(Meshes([verts], [torch.tensor([[0, 1, 2]])]), image_size=8)
