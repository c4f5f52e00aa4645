"""PointsRasterizer, compositors and PointsRenderer: projection, occlusion, background."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.renderer.cameras import FoVPerspectiveCameras
from inverse3d.renderer.look_at import look_at_view_transform
from inverse3d.renderer.points.compositor import AlphaCompositor, NormWeightedCompositor
from inverse3d.renderer.points.rasterizer import (
    PointFragments,
    PointsRasterizationSettings,
    PointsRasterizer,
)
from inverse3d.renderer.points.renderer import PointsRenderer
from inverse3d.structures.pointclouds import Pointclouds


def _cams(n=1):
    R, T = look_at_view_transform(dist=3.0, elev=15.0, azim=torch.tensor([25.0, -40.0])[:n])
    return FoVPerspectiveCameras(R=R, T=T)


class TestPointsRasterizer:
    def test_matches_reference_projection(self):
        cams = _cams(2)
        pts = torch.tensor([[0.3, -0.2, 0.1], [-0.4, 0.25, -0.3]])
        clouds = Pointclouds(points=[pts, pts])
        S = 64
        settings = PointsRasterizationSettings(image_size=S, radius=0.02, points_per_pixel=2)
        frags = PointsRasterizer(cams, settings)(clouds)
        assert isinstance(frags, PointFragments) and frags.idx.shape == (2, S, S, 2)
        ndc = cams.transform_points_ndc(pts[None].expand(2, -1, -1))
        zview = cams.get_world_to_view_transform().transform_points(pts[None].expand(2, -1, -1))
        for n in range(2):
            for p in range(2):
                # the pixel whose centre is nearest the projected point
                col = round((1 - float(ndc[n, p, 0])) * S / 2 - 0.5)
                row = round((1 - float(ndc[n, p, 1])) * S / 2 - 0.5)
                assert int(frags.idx[n, row, col, 0]) == 2 * n + p
                assert abs(float(frags.zbuf[n, row, col, 0]) - float(zview[n, p, 2])) < 1e-5

    def test_cameras_override_and_missing(self):
        clouds = Pointclouds(points=[torch.zeros(1, 3)])
        settings = PointsRasterizationSettings(image_size=8, radius=0.2)
        frags = PointsRasterizer(raster_settings=settings)(clouds, cameras=_cams())
        assert int((frags.idx[..., 0] >= 0).sum()) > 0
        with pytest.raises(ValueError, match="cameras"):
            PointsRasterizer(raster_settings=settings)(clouds)

    def test_defaults(self):
        s = PointsRasterizationSettings()
        assert (s.image_size, s.radius, s.points_per_pixel, s.bin_size, s.max_points_per_bin) == (
            256,
            0.01,
            8,
            None,
            None,
        )


def _two_points(front_first=True):
    # two points on the optical axis, the front one red, the back one green
    pts = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # z=0 is nearer a camera at z=-3
    cols = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    if not front_first:
        pts, cols = pts.flip(0), cols.flip(0)
    R, T = look_at_view_transform(dist=3.0, elev=0.0, azim=180.0)  # camera at z = -3
    return Pointclouds(points=[pts], features=[cols]), FoVPerspectiveCameras(R=R, T=T)


class TestPointsRenderer:
    @pytest.mark.parametrize("front_first", [True, False])
    def test_alpha_front_point_occludes(self, front_first):
        clouds, cams = _two_points(front_first)
        settings = PointsRasterizationSettings(image_size=16, radius=0.3, points_per_pixel=4)
        renderer = PointsRenderer(PointsRasterizer(cams, settings), AlphaCompositor())
        img = renderer(clouds)
        assert img.shape == (1, 16, 16, 3)
        # at the centre pixels both points cover: red in front, weight 1 - d2 / r^2
        frags = renderer.rasterizer(clouds)
        y = x = 8
        d2 = frags.dists[0, y, x]
        w = 1 - d2 / 0.09
        k_front = 0
        front = int(frags.idx[0, y, x, k_front])
        assert bool((clouds.features_packed()[front] == torch.tensor([1.0, 0.0, 0.0])).all())
        want = torch.tensor([w[0], (1 - w[0]) * w[1], 0.0])
        torch.testing.assert_close(img[0, y, x], want)

    def test_norm_weighted_and_background(self):
        clouds, cams = _two_points()
        settings = PointsRasterizationSettings(image_size=16, radius=0.3, points_per_pixel=4)
        rasterizer = PointsRasterizer(cams, settings)
        renderer = PointsRenderer(rasterizer, NormWeightedCompositor(background_color=(0, 0, 1)))
        img = renderer(clouds)
        frags = rasterizer(clouds)
        w = 1 - frags.dists[0, 8, 8, :2] / 0.09
        want = torch.tensor([w[0], w[1], 0.0]) / w.sum()
        torch.testing.assert_close(img[0, 8, 8], want)
        torch.testing.assert_close(img[0, 0, 0], torch.tensor([0.0, 0.0, 1.0]))  # background
        img = renderer(clouds, background_color=(0.5, 0.5, 0.5))
        torch.testing.assert_close(img[0, 0, 0], torch.full((3,), 0.5))

    def test_per_point_radius_weights(self):
        clouds, cams = _two_points()
        r = torch.tensor([[0.1, 0.4]])
        settings = PointsRasterizationSettings(image_size=16, radius=r, points_per_pixel=4)
        renderer = PointsRenderer(PointsRasterizer(cams, settings), NormWeightedCompositor())
        img = renderer(clouds)
        frags = renderer.rasterizer(clouds)
        k = frags.idx[0, 8, 8]
        rr = r[0][k.clamp(min=0)]
        w = torch.where(k >= 0, 1 - frags.dists[0, 8, 8] / rr**2, 0.0)
        f = clouds.features_packed()[k.clamp(min=0)]
        torch.testing.assert_close(img[0, 8, 8], (w[:, None] * f).sum(0) / w.sum())

    def test_disk_area_through_renderer(self):
        pts = torch.tensor([[0.0, 0.0, 0.0]])
        R, T = look_at_view_transform(dist=2.0)
        cams = FoVPerspectiveCameras(R=R, T=T)
        S, r = 128, 0.25
        renderer = PointsRenderer(
            PointsRasterizer(cams, PointsRasterizationSettings(image_size=S, radius=r)),
            AlphaCompositor(),
        )
        img = renderer(Pointclouds(points=[pts], features=[torch.ones(1, 1)]))
        area = int((img[0, ..., 0] > 0).sum())
        expected = math.pi * (r * S / 2) ** 2
        assert abs(area - expected) / expected < 0.03

    def test_gradient_reaches_points(self):
        clouds, cams = _two_points()
        pts = clouds.points_padded().clone().requires_grad_()
        clouds = Pointclouds(points=pts, features=clouds.features_padded())
        settings = PointsRasterizationSettings(image_size=16, radius=0.3, points_per_pixel=4)
        img = PointsRenderer(PointsRasterizer(cams, settings), AlphaCompositor())(clouds)
        img[..., 0].sum().backward()
        assert pts.grad is not None and float(pts.grad.abs().sum()) > 0

    def test_exceptions(self):
        clouds, cams = _two_points()
        renderer = PointsRenderer(
            PointsRasterizer(cams), AlphaCompositor(background_color=(1, 2, 3, 4, 5))
        )
        with pytest.raises(ValueError, match="background_color"):
            renderer(clouds)
        with pytest.raises(ValueError, match="features"):
            PointsRenderer(PointsRasterizer(cams), AlphaCompositor())(
                Pointclouds(points=[torch.rand(3, 3)])
            )
