"""datasets.giraffe_scenes: deterministic, poses drawn from the ranges, object where projected."""

import pytest
import torch

from inverse3d.datasets.giraffe_scenes import giraffe_scene, make_giraffe_images
from inverse3d.models.giraffe import PoseRanges
from inverse3d.renderer.cameras import PerspectiveCameras
from inverse3d.renderer.lighting import PointLights
from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
from inverse3d.renderer.mesh.render_views import render_mesh_views


def test_deterministic_per_seed_and_index():
    a = make_giraffe_images(3, seed=5, image_size=16)
    b = make_giraffe_images(4, seed=5, image_size=16)
    c = make_giraffe_images(3, seed=6, image_size=16)
    torch.testing.assert_close(a.images, b.images[:3])
    assert not torch.allclose(a.images, c.images)
    assert a.images.shape == (3, 3, 16, 16) and a.masks.shape == (3, 16, 16)
    assert bool((a.images >= 0).all() and (a.images <= 1).all())


def test_mask_centroid_is_projected_centre():
    r = PoseRanges(tx=(-0.6, 0.6), ty=(-0.6, 0.6))
    d = make_giraffe_images(12, seed=1, image_size=32, pose_ranges=r)
    assert bool((d.poses.translation[..., 0].abs() <= 0.6).all())
    # NDC pixel centres: column 0 is +x (left), row 0 is +y (top)
    c = (torch.arange(32) + 0.5) / 16 - 1.0
    x, y = -c[None, :].expand(32, 32), -c[:, None].expand(32, 32)
    m = d.masks
    cx = (m * x).sum((1, 2)) / m.sum((1, 2))
    cy = (m * y).sum((1, 2)) / m.sum((1, 2))
    centre = d.poses.translation[:, 0] + torch.tensor([0.0, 0.0, 4.0])
    proj = 2.0 * centre[:, :2] / centre[:, 2:]
    assert torch.allclose(cx, proj[:, 0], atol=0.1) and torch.allclose(cy, proj[:, 1], atol=0.1)
    # the background is one plain colour: the corner pixels agree
    img = d.images
    torch.testing.assert_close(img[:, :, 0, 0], img[:, :, -1, -1])


def test_validation():
    with pytest.raises(ValueError, match="kinds"):
        make_giraffe_images(1, kinds=("torus",))
    with pytest.raises(ValueError, match="image_size"):
        make_giraffe_images(1, image_size=4)
    with pytest.raises(TypeError, match="n"):
        make_giraffe_images("3")
    with pytest.raises(ValueError, match="n_objects"):
        make_giraffe_images(1, n_objects=9)
    with pytest.raises(ValueError, match="objects"):
        giraffe_scene(0, 0).mesh([1])


def test_two_objects_shapes_and_determinism():
    a = make_giraffe_images(3, seed=2, image_size=16, n_objects=2)
    b = make_giraffe_images(4, seed=2, image_size=16, n_objects=2)
    torch.testing.assert_close(a.images, b.images[:3])
    assert a.images.shape == (3, 3, 16, 16) and a.masks.shape == (3, 16, 16)
    assert a.poses.scale.shape == (3, 2) and a.poses.translation.shape == (3, 2, 3)
    assert a.poses.rotation.shape == (3, 2) and a.colours.shape == (3, 2, 3)
    assert all(len(k) == 2 for k in a.kinds)
    # independent poses and colours
    assert not torch.allclose(a.poses.translation[:, 0], a.poses.translation[:, 1])
    assert not torch.allclose(a.colours[:, 0], a.colours[:, 1])
    # object 0 of a 2-object scene is drawn exactly as the single object of a 1-object scene
    one, two = giraffe_scene(2, 1), giraffe_scene(2, 1, n_objects=2)
    torch.testing.assert_close(one.verts[0], two.verts[0])
    # the union mask covers each object's own silhouette
    sc = giraffe_scene(2, 0, n_objects=2)
    m0 = render_mesh_views(sc.mesh([0]), PerspectiveCameras(focal_length=2.0), 16)[0, ..., 3]
    assert bool((a.masks[0] >= m0 - 1e-6).all())


def _zbuf(mesh, size):
    settings = RasterizationSettings(image_size=size, faces_per_pixel=1)
    frags = MeshRasterizer(PerspectiveCameras(focal_length=2.0), settings)(mesh)
    z = frags.zbuf[0, ..., 0]
    return torch.where(frags.pix_to_face[0, ..., 0] >= 0, z, torch.full_like(z, float("inf")))


def test_two_objects_occlude_by_depth():
    """Where both objects cover a pixel, the image shows the nearer one's own rendering."""
    r = PoseRanges(tx=(-0.15, 0.15), ty=(-0.15, 0.15), tz=(-0.8, 0.8))
    size, n = 16, 6
    d = make_giraffe_images(n, seed=4, image_size=size, pose_ranges=r, n_objects=2)
    cams = PerspectiveCameras(focal_length=2.0)
    light = PointLights(location=[[0.0, 1.0, 0.0]])
    fronts = set()
    for i in range(n):
        sc = giraffe_scene(4, i, pose_ranges=r, n_objects=2)
        alone = [render_mesh_views(sc.mesh([k]), cams, size, lights=light,
                                   background=sc.background)[0] for k in (0, 1)]  # fmt: skip
        # per pixel: which object is nearer at all 2 x 2 subsamples (the data's supersampling)
        z0, z1 = _zbuf(sc.mesh([0]), 2 * size), _zbuf(sc.mesh([1]), 2 * size)
        pool = lambda b: b.float().reshape(size, 2, size, 2).amin((1, 3)) > 0  # noqa: E731
        both = (alone[0][..., 3] == 1) & (alone[1][..., 3] == 1)
        for k, front in ((0, pool(z0 < z1)), (1, pool(z1 < z0))):
            sel = both & front
            if sel.any():
                fronts.add(k)
                torch.testing.assert_close(
                    d.images[i].permute(1, 2, 0)[sel], alone[k][..., :3][sel], atol=1e-5, rtol=0
                )
                other = alone[1 - k][..., :3][sel]
                assert float((other - alone[k][..., :3][sel]).abs().max()) > 0.01
    assert fronts == {0, 1}, "both depth orders must occur in these scenes"
