"""models.giraffe: composition operator (analytic), controllability of the untrained model."""

import math

import pytest
import torch

from inverse3d.models.giraffe import (
    GiraffeDiscriminator,
    GiraffeGenerator,
    ObjectPoses,
    PoseRanges,
    SceneCodes,
    composite_fields,
    rotation_y,
)


def test_composite_two_fields_analytic():
    g = torch.Generator().manual_seed(0)
    s1, s2 = torch.rand(2, 5, generator=g), torch.rand(2, 5, generator=g)
    f1, f2 = torch.randn(2, 5, 4, generator=g), torch.randn(2, 5, 4, generator=g)
    sigma, feat = composite_fields([s1, s2], [f1, f2])
    torch.testing.assert_close(sigma, s1 + s2)
    expect = (s1[..., None] * f1 + s2[..., None] * f2) / (s1 + s2)[..., None]
    torch.testing.assert_close(feat, expect)
    # equal densities: the plain mean; a single field: itself
    _, fm = composite_fields([s1, s1], [f1, f2])
    torch.testing.assert_close(fm, 0.5 * (f1 + f2))
    s, f = composite_fields([s1], [f1])
    torch.testing.assert_close(s, s1)
    torch.testing.assert_close(f, f1)


def test_zero_density_object_leaves_background_unchanged():
    g = torch.Generator().manual_seed(1)
    sb, fb = torch.rand(3, 7, generator=g) + 0.1, torch.randn(3, 7, 2, generator=g)
    fo = torch.randn(3, 7, 2, generator=g) * 100
    sigma, feat = composite_fields([torch.zeros(3, 7), sb], [fo, fb])
    torch.testing.assert_close(sigma, sb)
    torch.testing.assert_close(feat, fb)


def test_composite_validation():
    with pytest.raises(ValueError, match="equal length"):
        composite_fields([torch.zeros(2)], [])
    with pytest.raises(ValueError, match="features\\[1\\]"):
        composite_fields([torch.zeros(2), torch.zeros(2)], [torch.zeros(2, 3), torch.zeros(3, 3)])
    with pytest.raises(TypeError, match="sigmas\\[0\\]"):
        composite_fields([torch.zeros(2, dtype=torch.long)], [torch.zeros(2, 3)])


def test_rotation_y_is_rotation_about_y():
    R = rotation_y(torch.tensor([math.pi / 2]))[0]
    torch.testing.assert_close(R @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, -1.0]))
    torch.testing.assert_close(R @ torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]))


def test_pose_ranges_validation():
    with pytest.raises(ValueError, match="scale"):
        PoseRanges(scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="tx"):
        PoseRanges(tx=(1.0, -1.0))
    p = ObjectPoses.sample(50, 2, PoseRanges(tx=(0.1, 0.2)), torch.Generator().manual_seed(0))
    assert p.translation.shape == (50, 2, 3)
    assert bool((p.translation[..., 0] >= 0.1).all() and (p.translation[..., 0] <= 0.2).all())


def _centroids(gen, codes, poses):
    with torch.no_grad():
        op = gen.object_opacity(codes, poses).reshape(codes.shape.shape[0], -1)
    xy = gen.rays(1)[2]  # NDC (+x left, +y up), the projection's frame
    return (op @ xy) / op.sum(1, keepdim=True), op


def test_untrained_translation_moves_silhouette_centroid_as_projection():
    torch.manual_seed(0)
    gen = GiraffeGenerator(hidden=32)
    n = 20
    codes, poses = gen.sample_latents(n, torch.Generator().manual_seed(3))
    cen, _ = _centroids(gen, codes, poses)
    centre = poses.translation[:, 0] + torch.tensor([0.0, 0.0, gen.depth])
    proj = gen.focal * centre[:, :2] / centre[:, 2:]
    for j in range(2):
        r = torch.corrcoef(torch.stack([cen[:, j], proj[:, j]]))[0, 1]
        assert r >= 0.9, (j, float(r))
    # moving one object by +dx (left in the view frame) moves its centroid left (+x NDC)
    moved = ObjectPoses(poses.scale, poses.translation + torch.tensor([0.4, 0, 0]), poses.rotation)
    cen2, _ = _centroids(gen, codes, moved)
    assert bool((cen2[:, 0] > cen[:, 0]).float().mean() >= 0.9)


def test_untrained_appearance_code_keeps_silhouette():
    torch.manual_seed(0)
    gen = GiraffeGenerator(hidden=32)
    codes, poses = gen.sample_latents(8, torch.Generator().manual_seed(4))
    other = SceneCodes(codes.shape, torch.randn_like(codes.appearance), codes.bg_shape,
                       codes.bg_appearance)  # fmt: skip
    with torch.no_grad():
        a = gen.object_opacity(codes, poses) > 0.5
        b = gen.object_opacity(other, poses) > 0.5
        img_a, img_b = gen(codes, poses), gen(other, poses)
    iou = (a & b).sum() / (a | b).sum().clamp_min(1)
    assert a.any() and float(iou) >= 0.9
    assert not torch.allclose(img_a, img_b)  # the appearance does change the image


def test_shapes_and_validation():
    gen = GiraffeGenerator(hidden=16, feat_dim=8, image_size=64, n_samples=8)
    codes, poses = gen.sample_latents(2)
    img = gen(codes, poses)
    assert img.shape == (2, 3, 64, 64) and bool(((img >= 0) & (img <= 1)).all())
    assert GiraffeDiscriminator(64, 8)(img).shape == (2,)
    with pytest.raises(ValueError, match="image_size"):
        GiraffeGenerator(image_size=40)
    with pytest.raises(ValueError, match="codes.bg_shape"):
        gen.object_opacity(SceneCodes.sample(2, 1, 16), poses)
    with pytest.raises(ValueError, match="images"):
        GiraffeDiscriminator(32)(img)


def test_render_only_one_object():
    torch.manual_seed(0)
    gen = GiraffeGenerator(n_objects=2, hidden=16, feat_dim=4, n_samples=8)
    codes, poses = gen.sample_latents(2, torch.Generator().manual_seed(3))
    poses.translation[:, 0, 0], poses.translation[:, 1, 0] = 0.5, -0.5  # apart in x
    with torch.no_grad():
        both = gen.object_opacity(codes, poses)
        one = gen.render_features(codes, poses, objects_only=True, only=1)[1]
    # object 1 alone: a subset of the pair's silhouette, and not all of it
    assert bool((one <= both + 1e-5).all()) and float(one.sum()) < float(both.sum()) - 1.0
    with pytest.raises(ValueError, match="only"):
        gen.render_features(codes, poses, objects_only=True, only=2)
