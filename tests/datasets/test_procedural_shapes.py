"""datasets.procedural_shapes: closed shapes, deterministic samples, voxels that match images."""

from __future__ import annotations

import pytest
import torch

from inverse3d.datasets.procedural_shapes import SHAPE_KINDS, make_shape_samples, shape_mesh
from inverse3d.ops.mesh_sdf import winding_number


@pytest.fixture(autouse=True)
def _one_thread():
    # compute-bound; on a shared CPU two threads are slower than one
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("kind", SHAPE_KINDS)
def test_shapes_are_closed_and_outward(kind):
    v, f = shape_mesh(kind)
    inside = {"torus": [0.8, 0.0, 0.0], "mug": None}.get(kind, [0.0, 0.0, 0.0])
    far = torch.tensor([[0.0, 0.0, 5.0]])
    assert abs(float(winding_number(far, v, f)[0])) < 1e-4
    if inside is not None:
        assert float(winding_number(torch.tensor([inside]), v, f)[0]) == pytest.approx(
            1.0, abs=1e-4
        )


def test_samples_are_deterministic_per_seed():
    a = make_shape_samples(3, seed=5, image_size=16, grid=6, n_points=50)
    b = make_shape_samples(3, seed=5, image_size=16, grid=6, n_points=50)
    c = make_shape_samples(3, seed=6, image_size=16, grid=6, n_points=50)
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)
    torch.testing.assert_close(a.voxels, b.voxels, rtol=0, atol=0)
    torch.testing.assert_close(a.points, b.points, rtol=0, atol=0)
    assert a.kinds == b.kinds
    assert not torch.equal(a.images, c.images)
    # sample i depends on (seed, i) only, not on n
    d = make_shape_samples(1, seed=5, image_size=16, grid=6, n_points=50)
    torch.testing.assert_close(d.images[0], a.images[0], rtol=0, atol=0)


def test_voxels_project_inside_the_silhouette():
    size, grid = 48, 12
    b = make_shape_samples(6, seed=0, image_size=size, grid=grid, n_points=50)
    assert b.images.shape == (6, 3, size, size) and b.voxels.shape == (6, grid, grid, grid)
    assert set(b.voxels.unique().tolist()) <= {0.0, 1.0}
    occ = b.voxels.amax(1)  # (N, h, w): some voxel along the ray is occupied
    assert float(occ.sum()) > 0
    # an occupied voxel centre is inside the object, so it projects into the silhouette: sample
    # the coverage mask at the projection of each voxel column's centre (gx, gy)
    c = (torch.arange(grid) + 0.5) * (2.0 / grid) - 1.0
    gy, gx = torch.meshgrid(c, c, indexing="ij")
    where = torch.stack([gx, gy], -1)[None].expand(6, -1, -1, -1)
    cover = torch.nn.functional.grid_sample(b.masks[:, None], where, align_corners=False)[:, 0]
    assert float((cover[occ > 0] > 0.25).float().mean()) > 0.99
    assert float((cover[occ == 0] > 0.99).float().mean()) < 0.05  # and not the other way round
    # every object is inside the grid: its points' grid coordinates are within [-1, 1]
    from inverse3d.models.mesh_rcnn import Frustum, view_to_grid

    g = view_to_grid(b.points, Frustum())
    assert float(g.abs().max()) <= 1.0


def test_validation():
    with pytest.raises(ValueError, match="image_size"):
        make_shape_samples(1, image_size=20)
    with pytest.raises(ValueError, match="kinds"):
        make_shape_samples(1, kinds=("sphere",))
    with pytest.raises(ValueError, match="kind"):
        shape_mesh("cone")
