"""PulsarPointsRenderer: images against statistics of PyTorch3D's own reference renders, the
blending formula on a one-sphere scene, gradients, and PyTorch3D's argument checks."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from inverse3d.renderer import PulsarPointsRenderer as FromRenderer
from inverse3d.renderer.cameras import (
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    OrthographicCameras,
    PerspectiveCameras,
    look_at_view_transform,
)
from inverse3d.renderer.points import PulsarPointsRenderer as FromPoints
from inverse3d.renderer.points.pulsar.unified import PulsarPointsRenderer
from inverse3d.renderer.points.rasterizer import PointsRasterizationSettings, PointsRasterizer
from inverse3d.structures import Pointclouds
from inverse3d.utils import ico_sphere

CAMERAS = {
    "fovperspective": FoVPerspectiveCameras,
    "fovorthographic": FoVOrthographicCameras,
    "perspective": PerspectiveCameras,
    "orthographic": OrthographicCameras,
}
# PyTorch3D's test_render_points.py::test_simple_sphere_pulsar reference images
# (tests/data/test_pulsar_simple_pointcloud_sphere_azimuth{az}_{camera}.png, 256x256, white
# spheres on black): number of pixels > 0.5, their mean row and their mean column.
REFERENCE = {
    ("fovperspective", 0.0): (4669, 107.742, 148.021),
    ("fovorthographic", 0.0): (2225, 129.601, 132.293),
    ("perspective", 0.0): (5424, 115.839, 138.597),
    ("orthographic", 0.0): (2225, 129.601, 132.293),
    ("fovperspective", 90.0): (4754, 103.569, 127.500),
    ("fovorthographic", 90.0): (2647, 120.021, 127.420),
    ("perspective", 90.0): (5606, 114.880, 127.500),
    ("orthographic", 90.0): (2647, 120.021, 127.420),
}


def _sphere_cloud():
    verts = ico_sphere(1).verts_padded().clone()
    verts[..., 1] += 0.2
    verts[..., 0] += 0.2
    return Pointclouds(points=verts, features=torch.ones_like(verts))


def _renderer(cameras, image_size=256, radius=5e-2, **kw):
    rs = PointsRasterizationSettings(image_size=image_size, radius=radius, points_per_pixel=1)
    return PulsarPointsRenderer(PointsRasterizer(cameras=cameras, raster_settings=rs), **kw)


class TestPulsarPointsRenderer:
    def test_exports(self):
        assert FromRenderer is PulsarPointsRenderer and FromPoints is PulsarPointsRenderer

    @pytest.mark.parametrize(("name", "azimuth"), list(REFERENCE))
    def test_matches_pytorch3d_reference(self, name, azimuth):
        R, T = look_at_view_transform(2.7, 0.0, azimuth)
        ren = _renderer(CAMERAS[name](R=R, T=T))
        img = ren(_sphere_cloud(), gamma=(1e-3,), znear=(1.0,), zfar=(100.0,))
        assert img.shape == (1, 256, 256, 3)
        lit = img[0, ..., 0] > 0.5
        count, row, col = REFERENCE[(name, azimuth)]
        rows, cols = lit.nonzero(as_tuple=True)
        # measured: 0-8 of 65536 pixels differ from the reference images (sphere rims)
        assert abs(int(lit.sum()) - count) <= 8
        assert abs(float(rows.float().mean()) - row) < 0.05
        assert abs(float(cols.float().mean()) - col) < 0.05

    def test_blend_formula_one_sphere(self):
        # one sphere of world radius 0.5 at distance 3 in front of a FoV camera; the pixel
        # through its centre has closeness 1 and depth 2.5
        cams = FoVPerspectiveCameras(R=torch.eye(3)[None], T=torch.zeros(1, 3))
        pcl = Pointclouds(
            [torch.tensor([[0.0, 0.0, 3.0]])], features=[torch.tensor([[1.0, 0.5, 0.0]])]
        )
        ren = _renderer(cams, image_size=9, radius=torch.tensor([0.5]))
        bg = torch.tensor([0.0, 0.0, 1.0])
        gamma, znear, zfar = 0.5, 1.0, 11.0
        img = ren(pcl, gamma=(gamma,), znear=(znear,), zfar=(zfar,), bg_col=bg, radius_world=True)
        w = math.exp((1 - (2.5 - znear) / (zfar - znear)) / gamma)
        w_bg = math.exp(1e-6 / gamma)
        want = (w * torch.tensor([1.0, 0.5, 0.0]) + w_bg * bg) / (w + w_bg)
        assert torch.allclose(img[0, 4, 4], want, atol=1e-5)
        assert torch.allclose(img[0, 0, 0], bg)  # corner: no hit
        # opacity scales the weight and the exponent
        img2 = ren(pcl, gamma=(gamma,), znear=(znear,), zfar=(zfar,), bg_col=bg,
                   radius_world=True, opacity=torch.tensor([0.5]))  # fmt: skip
        w2 = 0.5 * math.exp(0.5 * (1 - (2.5 - znear) / (zfar - znear)) / gamma)
        want2 = (w2 * torch.tensor([1.0, 0.5, 0.0]) + w_bg * bg) / (w2 + w_bg)
        assert torch.allclose(img2[0, 4, 4], want2, atol=1e-5)

    def test_gradcheck(self):
        torch.manual_seed(0)
        dt = torch.float64
        cams = FoVPerspectiveCameras(
            R=torch.eye(3, dtype=dt)[None], T=torch.zeros(1, 3, dtype=dt), dtype=dt
        )
        pts = torch.tensor([[0.1, 0.05, 3.0], [-0.2, 0.1, 3.5], [0.05, -0.15, 4.0]], dtype=dt)
        feats = torch.rand(3, 3, dtype=dt)
        ren = _renderer(cams, image_size=6, radius=torch.full((3,), 0.4, dtype=dt))

        def fn(p, f):
            return ren(Pointclouds([p], features=[f]), gamma=(0.5,), znear=(1.0,), zfar=(10.0,),
                       radius_world=True)  # fmt: skip

        torch.autograd.gradcheck(fn, (pts.requires_grad_(), feats.requires_grad_()), fast_mode=True)

    def test_batch_and_cameras(self):
        R, T = look_at_view_transform(2.7, 0.0, [0.0, 90.0])
        cams = FoVPerspectiveCameras(R=R, T=T)
        cloud = _sphere_cloud()
        two = Pointclouds([cloud.points_packed()] * 2, features=[cloud.features_packed()] * 2)
        img = _renderer(cams, image_size=32)(two, gamma=(1e-3, 1e-3))
        one = _renderer(cams[1], image_size=32)(cloud, gamma=(1e-3,))
        assert img.shape == (2, 32, 32, 3)
        assert torch.allclose(img[1], one[0])

    def test_exceptions(self):
        R, T = look_at_view_transform(2.7, 0.0, 0.0)
        pcl = _sphere_cloud()
        with pytest.warns(UserWarning, match="compositor"):
            _renderer(FoVPerspectiveCameras(R=R, T=T), image_size=16, compositor=1)
        persp = _renderer(PerspectiveCameras(R=R, T=T), image_size=16)
        with pytest.raises(ValueError, match="znear and zfar"):
            persp(pcl, gamma=(1e-4,))
        with pytest.raises(TypeError, match="znear must be batched"):
            persp(pcl, gamma=(1e-4,), znear=1.0, zfar=(2.0,))
        fov = _renderer(FoVPerspectiveCameras(R=R, T=T), image_size=16)
        with pytest.raises(ValueError, match="gamma is a required"):
            fov(pcl)
        with pytest.raises(TypeError, match="gamma must be batched"):
            fov(pcl, gamma=1e-4)
        fov.rasterizer.raster_settings.image_size = 8
        with pytest.raises(ValueError, match="image size can not be changed"):
            fov(pcl, gamma=(1e-4,))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _renderer(FoVPerspectiveCameras(R=R, T=T), image_size=16)
