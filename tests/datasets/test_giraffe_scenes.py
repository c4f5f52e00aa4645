"""datasets.giraffe_scenes: deterministic, poses drawn from the ranges, object where projected."""

import pytest
import torch

from inverse3d.datasets.giraffe_scenes import make_giraffe_images
from inverse3d.models.giraffe import PoseRanges


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
