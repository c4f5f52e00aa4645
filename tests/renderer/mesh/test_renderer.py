"""MeshRenderer / MeshRendererWithFragments: composition and per-call overrides."""

from __future__ import annotations

import math

import torch

from inverse3d.renderer.blending import BlendParams
from inverse3d.renderer.cameras import FoVPerspectiveCameras
from inverse3d.renderer.lighting import PointLights
from inverse3d.renderer.look_at import look_at_view_transform
from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
from inverse3d.renderer.mesh.renderer import MeshRenderer, MeshRendererWithFragments
from inverse3d.renderer.mesh.shader import HardPhongShader, SoftSilhouetteShader
from inverse3d.renderer.mesh.textures import TexturesVertex
from inverse3d.structures.meshes import join_meshes_as_batch
from inverse3d.utils.ico_sphere import ico_sphere


def spheres(n=2):
    ms = []
    for i in range(n):
        m = ico_sphere(2 + i % 2)
        m.textures = TexturesVertex(verts_features=torch.ones_like(m.verts_padded()))
        ms.append(m)
    return join_meshes_as_batch(ms)


class TestMeshRenderer:
    def test_smoke(self):
        R, T = look_at_view_transform(3.0, 0.0, 0.0)
        cam = FoVPerspectiveCameras(R=R, T=T)
        r = MeshRenderer(
            MeshRasterizer(cam, RasterizationSettings(image_size=16)), HardPhongShader(cameras=cam)
        )
        img = r(spheres(1))
        assert img.shape == (1, 16, 16, 4)
        assert 0 < img[..., 3].sum() < 256

    def test_matches_composition_and_fragments(self):
        R, T = look_at_view_transform(torch.tensor([2.5, 4.0]), 20.0, torch.tensor([0.0, 60.0]))
        cams = FoVPerspectiveCameras(R=R, T=T)
        m = spheres(2)
        rast = MeshRasterizer(cams, RasterizationSettings(image_size=24, faces_per_pixel=2))
        shader = HardPhongShader(cameras=cams, lights=PointLights(location=[[1.0, 2.0, 3.0]]))
        imgs, frags = MeshRendererWithFragments(rast, shader)(m)
        want_frags = rast(m)
        for a, b in zip(frags, want_frags):
            assert torch.equal(a, b)
        torch.testing.assert_close(imgs, shader(want_frags, m))
        torch.testing.assert_close(MeshRenderer(rast, shader)(m), imgs)

    def test_per_call_overrides(self):
        R, T = look_at_view_transform(3.0, 0.0, torch.tensor([0.0, 90.0]))
        cams = FoVPerspectiveCameras(R=R, T=T)
        m = spheres(2)
        base = FoVPerspectiveCameras(R=R[:1], T=T[:1])
        r = MeshRenderer(
            MeshRasterizer(base, RasterizationSettings(image_size=16)),
            HardPhongShader(cameras=base),
        )
        a = r(m, R=R, T=T, cameras=cams)
        b = MeshRenderer(
            MeshRasterizer(cams, RasterizationSettings(image_size=16)),
            HardPhongShader(cameras=cams),
        )(m)
        torch.testing.assert_close(a, b)
        # raster_settings and lights can be replaced per call as well
        c = r(m, raster_settings=RasterizationSettings(image_size=(8, 12)))
        assert c.shape == (2, 8, 12, 4)

    def test_soft_silhouette_disk_area(self):
        R, T = look_at_view_transform(3.0, 0.0, 0.0)
        cam = FoVPerspectiveCameras(R=R, T=T)
        sigma = 1e-4
        rs = RasterizationSettings(
            image_size=128, blur_radius=math.log(1.0 / 1e-4 - 1.0) * sigma, faces_per_pixel=50
        )
        r = MeshRenderer(MeshRasterizer(cam, rs), SoftSilhouetteShader(BlendParams(sigma=sigma)))
        alpha = r(ico_sphere(4))[0, ..., 3]
        radius = (1 / math.sqrt(8.0)) / math.tan(math.radians(30.0)) * 64
        want = math.pi * radius**2
        # Fully opaque inside, empty far outside; the soft band (about sqrt(sigma) wide, front
        # and back faces both contributing at the rim) adds a few percent to the alpha mass.
        assert (alpha > 0.999).sum() < want < (alpha > 1e-3).sum()
        assert 0 < (alpha.sum().item() - want) / want < 0.06
        torch.testing.assert_close(alpha, alpha.flip(1), atol=0.02, rtol=0)
