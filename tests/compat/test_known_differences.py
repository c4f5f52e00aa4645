"""PyTorch3D behaviours that inverse3d does not match yet, in modules whose owners are still at
work. Each test asserts PyTorch3D 0.7.9's behaviour and is marked xfail(strict=True): when the
owner changes the behaviour the test passes and the marker must go."""

from __future__ import annotations

import warnings

import pytest
import torch

from inverse3d.renderer.implicit import raymarching


@pytest.mark.xfail(
    strict=True,
    reason="renderer/implicit/raymarching.py: PyTorch3D's EmissionAbsorptionRaymarcher only "
    "warns (UserWarning) for densities outside [0, 1] and returns a result; inverse3d raises "
    "ValueError (deliberate, docs/implicit.md)",
)
def test_raymarcher_densities_out_of_range_only_warn():
    dens = torch.tensor([0.5, 1.5]).view(1, 2, 1)
    feats = torch.ones(1, 2, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = raymarching.EmissionAbsorptionRaymarcher()(rays_densities=dens, rays_features=feats)
    assert out.shape == (1, 4)
    assert any("outside" in str(w.message) for w in caught)


@pytest.mark.xfail(
    strict=True,
    reason="renderer/implicit/raymarching.py: PyTorch3D's private helpers, imported by its own "
    "projects/nerf raymarcher, are _check_raymarcher_inputs(rays_densities, rays_features, "
    "rays_z, features_can_be_none=False, z_can_be_none=False, density_1d=True) and "
    "_check_density_bounds(rays_densities, bounds=(0.0, 1.0)) (warns); inverse3d has "
    "(rays_densities, rays_features=None, features_required=False) and no `bounds`",
)
def test_private_raymarcher_checks_keep_pytorch3d_signature():
    dens = torch.rand(2, 4, 1)
    feats = torch.rand(2, 4, 3)
    raymarching._check_raymarcher_inputs(
        dens, feats, None, z_can_be_none=True, features_can_be_none=False, density_1d=True
    )
    with pytest.warns(UserWarning):
        raymarching._check_density_bounds(dens * 3, bounds=(0.0, 1.0))


@pytest.mark.xfail(
    strict=True,
    reason="renderer/mesh/rasterize_meshes.py: a vertex at the camera centre projects to NaN; "
    "PyTorch3D rasterizes the other faces (the bad one is clipped or skipped), inverse3d raises "
    "ValueError('meshes vertices must be finite') for the whole batch",
)
def test_mesh_vertex_at_camera_centre_does_not_abort():
    from inverse3d.renderer.cameras import FoVPerspectiveCameras
    from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
    from inverse3d.structures import Meshes

    verts = torch.tensor(
        [[0.0, 0, 0], [1, 0, 2], [0, 1, 2], [-1, 0, 2], [0, -1, 2], [-1, -1, 2.0]]
    )  # vertex 0 sits on the camera centre of the default camera
    mesh = Meshes(verts=[verts], faces=[torch.tensor([[0, 1, 2], [3, 4, 5]])])
    frags = MeshRasterizer(FoVPerspectiveCameras(), RasterizationSettings(image_size=8))(mesh)
    assert (frags.pix_to_face == 1).any()


@pytest.mark.xfail(
    strict=True,
    reason="renderer/points/rasterize_points.py: a point at the camera centre projects to NaN; "
    "PyTorch3D skips it and draws the others, inverse3d raises "
    "ValueError('pointclouds points must be finite')",
)
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
