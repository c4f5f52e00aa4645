"""Cook-Torrance BRDF and shaders: energy bound, reciprocity, the Lambert limit."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.renderer.cameras import FoVPerspectiveCameras
from inverse3d.renderer.lighting import DirectionalLights, PointLights
from inverse3d.renderer.look_at import look_at_view_transform
from inverse3d.renderer.materials import Materials
from inverse3d.renderer.mesh.cook_torrance import (
    HardCookTorranceShader,
    SoftCookTorranceShader,
    cook_torrance_brdf,
    cook_torrance_radiance,
)
from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
from inverse3d.renderer.mesh.shader import HardPhongShader
from inverse3d.renderer.mesh.textures import TexturesVertex
from inverse3d.utils.ico_sphere import ico_sphere

N = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)


def hemisphere(n: int, seed: int = 0) -> torch.Tensor:
    """n uniform directions on the upper hemisphere (z > 0), pdf 1 / (2 pi)."""
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(n, 3, generator=g, dtype=torch.float64)
    d = d / d.norm(dim=1, keepdim=True)
    d[:, 2] = d[:, 2].abs()
    return d


def directional_albedo(view: torch.Tensor, n_samples: int = 40_000, **kw) -> float:
    """Monte Carlo estimate of the integral of f(l, v) cos(theta_l) over the hemisphere."""
    ls = hemisphere(n_samples)
    f = cook_torrance_brdf(N.expand_as(ls), ls, view.expand_as(ls), torch.ones(1), **kw)
    return float((f[:, 0] * ls[:, 2]).mean() * 2 * math.pi)


class TestBRDF:
    @pytest.mark.parametrize("roughness", [0.4, 1.0])
    @pytest.mark.parametrize("theta_v", [0.0, 75.0])
    def test_energy_bound(self, roughness, theta_v):
        t = math.radians(theta_v)
        view = torch.tensor([math.sin(t), 0.0, math.cos(t)], dtype=torch.float64)
        # white diffuse lobe at full weight, and a perfect (f0 = 1) specular lobe alone
        assert directional_albedo(view, roughness=roughness, ks=0.0) == pytest.approx(1.0, abs=0.01)
        spec = directional_albedo(view, roughness=roughness, f0=1.0, ks=1.0)
        mix = directional_albedo(view, roughness=roughness, f0=0.5, ks=0.5)
        # Monte Carlo error a few percent at most at these roughnesses; Smith G loses energy
        assert 0.3 < spec <= 1.03
        assert mix <= 1.03

    def test_reciprocity(self):
        g = torch.Generator().manual_seed(3)
        n = torch.randn(100, 3, generator=g, dtype=torch.float64)
        a = torch.randn(100, 3, generator=g, dtype=torch.float64)
        b = torch.randn(100, 3, generator=g, dtype=torch.float64)
        alb = torch.rand(100, 3, generator=g, dtype=torch.float64)
        kw = dict(roughness=0.4, f0=torch.tensor([0.04, 0.5, 0.9], dtype=torch.float64), ks=0.7)
        f_ab = cook_torrance_brdf(n, a, b, alb, **kw)
        f_ba = cook_torrance_brdf(n, b, a, alb, **kw)
        assert (f_ab > 0).any()  # some pairs are both above the horizon
        assert torch.allclose(f_ab, f_ba, rtol=1e-12, atol=1e-14)

    def test_lambert_limit_and_horizon(self):
        g = torch.Generator().manual_seed(4)
        ls = hemisphere(64, 1)
        vs = hemisphere(64, 2)
        alb = torch.rand(64, 3, generator=g, dtype=torch.float64)
        f = cook_torrance_brdf(N.expand_as(ls), ls, vs, alb, roughness=0.2, ks=0.0)
        assert torch.allclose(f, alb / math.pi)
        below = ls.clone()
        below[:, 2] = -below[:, 2]
        assert (cook_torrance_brdf(N.expand_as(ls), below, vs, alb) == 0).all()

    def test_specular_peak_at_mirror_direction(self):
        view = torch.tensor([[0.6, 0.0, 0.8]], dtype=torch.float64)
        mirror = torch.tensor([[-0.6, 0.0, 0.8]], dtype=torch.float64)
        off = torch.tensor([[-0.3, 0.5, 0.8]], dtype=torch.float64)
        kw = dict(albedo=torch.zeros(1, 1, dtype=torch.float64), roughness=0.3, ks=1.0)
        assert cook_torrance_brdf(N[None], mirror, view, **kw) > 5 * cook_torrance_brdf(
            N[None], off, view, **kw
        )

    def test_errors(self):
        v = torch.zeros(2, 3)
        with pytest.raises(ValueError, match="normals"):
            cook_torrance_brdf(torch.zeros(2, 2), v, v, 1.0)
        with pytest.raises(ValueError, match="roughness"):
            cook_torrance_brdf(v, v, v, 1.0, roughness=2.0)
        with pytest.raises(ValueError, match="ks"):
            HardCookTorranceShader(ks=-0.1)


class TestShader:
    def test_ks0_matches_phong_lambert(self):
        """With ks = 0 the shader equals Phong shading with no specular term."""
        mesh = ico_sphere(2)
        mesh.textures = TexturesVertex(
            [torch.rand(mesh.verts_packed().shape, generator=torch.Generator().manual_seed(0))]
        )
        R, T = look_at_view_transform(2.7, 20.0, 30.0)
        cams = FoVPerspectiveCameras(R=R, T=T)
        frags = MeshRasterizer(cams, RasterizationSettings(image_size=32))(mesh)
        for lights in (
            PointLights(
                location=((1.0, 2.0, 2.0),),
                ambient_color=((0.2,) * 3,),
                diffuse_color=((0.7,) * 3,),
            ),
            DirectionalLights(direction=((0.0, 1.0, 1.0),)),
        ):
            ct = HardCookTorranceShader(cameras=cams, lights=lights, ks=0.0)(frags, mesh)
            mats = Materials(specular_color=((0.0, 0.0, 0.0),))
            ph = HardPhongShader(cameras=cams, lights=lights, materials=mats)(frags, mesh)
            # equal except at silhouette pixels whose interpolated normal faces away from the
            # viewer, where the BRDF (defined on the upper hemisphere only) is zero: darker there
            diff = (ct - ph).abs().amax(-1)
            assert (diff > 1e-5).sum() <= 0.005 * diff.numel()
            assert (ct[..., :3] <= ph[..., :3] + 1e-5).all()

    def test_radiance_lambert_limit(self):
        g = torch.Generator().manual_seed(5)
        normals = hemisphere(200, 3)
        normals = normals[normals[:, 2] > 0.3][None]  # facing the camera above
        points = torch.randn(normals.shape, generator=g, dtype=torch.float64) * 0.1
        cam = torch.tensor([[0.0, 0.0, 5.0]], dtype=torch.float64)  # above every point
        alb = torch.rand(1, normals.shape[1], 3, generator=g, dtype=torch.float64)
        for lights in (
            PointLights(location=((1.0, 2.0, 2.0),)),
            DirectionalLights(direction=((0.3, -0.2, 1.0),)),
        ):
            out = cook_torrance_radiance(points, normals, alb, lights, cam, roughness=0.3, ks=0.0)
            lam = alb * (lights.ambient_color.double() + lights.diffuse(normals, points).double())
            assert torch.allclose(out, lam, atol=1e-6)

    def test_soft_shader_runs_and_specular_adds_light(self):
        mesh = ico_sphere(2)
        mesh.textures = TexturesVertex([torch.full_like(mesh.verts_packed(), 0.5)])
        R, T = look_at_view_transform(2.7, 0.0, 0.0)
        cams = FoVPerspectiveCameras(R=R, T=T)
        frags = MeshRasterizer(cams, RasterizationSettings(image_size=24, faces_per_pixel=4))(mesh)
        lights = PointLights(location=((0.0, 0.0, 3.0),))
        diffuse = SoftCookTorranceShader(cameras=cams, lights=lights, ks=0.0)(frags, mesh)
        shiny = SoftCookTorranceShader(cameras=cams, lights=lights, ks=0.5, roughness=0.5, f0=0.9)
        shiny = shiny(frags, mesh)
        assert diffuse.shape == (1, 24, 24, 4)
        # head-on light and viewer: a highlight at the centre, brighter than the diffuse image;
        # darker towards the rim (half the diffuse lobe went to the specular one)
        assert shiny[0, 10:14, 10:14, 0].max() > 1.5 * diffuse[0, 10:14, 10:14, 0].max()
        assert shiny[0, 12, 4, 0] < diffuse[0, 12, 4, 0]

    def test_radiance_ambient_only(self):
        from inverse3d.renderer.lighting import AmbientLights

        p = torch.rand(1, 5, 3)
        alb = torch.rand(1, 5, 3)
        out = cook_torrance_radiance(
            p, p, alb, AmbientLights(ambient_color=((0.3,) * 3,)), torch.zeros(1, 3)
        )
        assert torch.allclose(out, 0.3 * alb)
