"""Shaders and shading functions against hand-computed lighting and blending formulas."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from inverse3d.renderer.blending import BlendParams
from inverse3d.renderer.cameras import FoVPerspectiveCameras
from inverse3d.renderer.lighting import AmbientLights, DirectionalLights, PointLights
from inverse3d.renderer.look_at import look_at_view_transform
from inverse3d.renderer.materials import Materials
from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
from inverse3d.renderer.mesh.renderer import MeshRendererWithFragments
from inverse3d.renderer.mesh.shader import (
    HardDepthShader,
    HardFlatShader,
    HardGouraudShader,
    HardPhongShader,
    SoftDepthShader,
    SoftGouraudShader,
    SoftPhongShader,
    SoftSilhouetteShader,
    TexturedSoftPhongShader,
)
from inverse3d.renderer.mesh.shading import flat_shading, gouraud_shading, phong_shading
from inverse3d.renderer.mesh.textures import TexturesAtlas, TexturesVertex
from inverse3d.structures.meshes import Meshes
from inverse3d.utils.ico_sphere import ico_sphere


def camera(dist=3.0, elev=0.0, azim=0.0, dtype=torch.float32):
    R, T = look_at_view_transform(dist, elev, azim)
    return FoVPerspectiveCameras(R=R.to(dtype), T=T.to(dtype))


def white_sphere(level=3):
    m = ico_sphere(level)
    m.textures = TexturesVertex(verts_features=torch.ones_like(m.verts_padded()))
    return m


def facing_quad(color=(0.8, 0.6, 0.4)):
    """A square in the plane z = 0 whose normals point to +Z (towards a camera at +Z)."""
    v = torch.tensor([[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]])
    f = torch.tensor([[0, 1, 2], [0, 2, 3]])
    m = Meshes([v], [f])
    assert torch.allclose(m.verts_normals_packed(), torch.tensor([0.0, 0.0, 1.0]).expand(4, 3))
    m.textures = TexturesVertex(verts_features=[torch.tensor(color).expand(4, 3)])
    return m


def render(shader, meshes, cam, size=32, **rs):
    rs = RasterizationSettings(image_size=size, **rs)
    return MeshRendererWithFragments(MeshRasterizer(cam, rs), shader)(meshes)


class TestLighting:
    def test_light_behind_object_leaves_only_ambient(self):
        cam = camera()
        lights = PointLights(location=[[0.0, 0.0, -5.0]])
        for shader_cls in (HardPhongShader, HardGouraudShader, HardFlatShader):
            img, frags = render(shader_cls(cameras=cam, lights=lights), white_sphere(), cam, 64)
            fg = frags.pix_to_face[0, ..., 0] >= 0
            assert fg.sum() > 500
            rgb = img[0][fg][:, :3]
            torch.testing.assert_close(rgb, torch.full_like(rgb, 0.5))  # ambient 0.5 x white
            # background keeps the white background colour and alpha 0
            assert (img[0][~fg] == torch.tensor([1.0, 1.0, 1.0, 0.0])).all()

    def test_lambert_matches_hand_computed(self):
        d = torch.tensor([0.3, -0.2, 1.0])
        lights = DirectionalLights(
            ambient_color=[[0.1, 0.1, 0.1]],
            diffuse_color=[[0.7, 0.5, 0.9]],
            specular_color=[[0.0, 0.0, 0.0]],
            direction=[d.tolist()],
        )
        cam = camera()
        color = torch.tensor([0.8, 0.6, 0.4])
        cos = (F.normalize(d, dim=0) @ torch.tensor([0.0, 0.0, 1.0])).item()
        want = (0.1 + torch.tensor([0.7, 0.5, 0.9]) * cos) * color
        for shader_cls in (HardPhongShader, HardGouraudShader, HardFlatShader):
            img, frags = render(shader_cls(cameras=cam, lights=lights), facing_quad(), cam)
            fg = frags.pix_to_face[0, ..., 0] >= 0
            assert fg.sum() > 100
            rgb = img[0][fg][:, :3]
            torch.testing.assert_close(rgb, want.expand_as(rgb))

    def test_phong_specular_matches_hand_computed(self):
        loc = torch.tensor([0.5, 0.8, 2.0])
        lights = PointLights(
            ambient_color=[[0.0] * 3],
            diffuse_color=[[0.0] * 3],
            specular_color=[[1.0, 0.5, 0.25]],
            location=[loc.tolist()],
        )
        mats = Materials(shininess=10.0)
        cam = camera()
        img, frags = render(
            HardPhongShader(cameras=cam, lights=lights, materials=mats), facing_quad(), cam
        )
        fv = torch.tensor([[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]])
        faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
        C = cam.get_camera_center()[0]
        n = torch.tensor([0.0, 0.0, 1.0])
        fg = (frags.pix_to_face[0, ..., 0] >= 0).nonzero().tolist()
        for i, j in fg[::7]:
            f = frags.pix_to_face[0, i, j, 0]
            p = frags.bary_coords[0, i, j, 0] @ fv[faces[f]]
            ldir = F.normalize(loc - p, dim=0)
            refl = 2 * (ldir @ n) * n - ldir
            view = F.normalize(C - p, dim=0)
            spec = torch.clamp(view @ refl, min=0) ** 10 * torch.tensor([1.0, 0.5, 0.25])
            torch.testing.assert_close(img[0, i, j, :3], spec, atol=1e-5, rtol=1e-4)


class TestShaders:
    def test_smoke(self):
        cam = camera()
        m = white_sphere(2)
        for cls in (
            HardPhongShader,
            SoftPhongShader,
            HardGouraudShader,
            SoftGouraudShader,
            HardFlatShader,
        ):
            img, _ = render(cls(cameras=cam), m, cam, 16, faces_per_pixel=2, blur_radius=1e-4)
            assert img.shape == (1, 16, 16, 4) and torch.isfinite(img).all()
        img, _ = render(SoftSilhouetteShader(), m, cam, 16)
        assert img.shape == (1, 16, 16, 4)
        for cls in (HardDepthShader, SoftDepthShader):
            img, _ = render(cls(cameras=cam), m, cam, 16)
            assert img.shape == (1, 16, 16, 1)
        with pytest.warns(PendingDeprecationWarning):
            TexturedSoftPhongShader(cameras=cam)

    def test_exceptions(self):
        cam = camera()
        m = white_sphere(1)
        _, frags = render(SoftSilhouetteShader(), m, cam, 8)
        with pytest.raises(ValueError, match="cameras"):
            HardPhongShader()(frags, m)
        atlas = ico_sphere(1)
        atlas.textures = TexturesAtlas(atlas=[torch.ones(atlas.faces_packed().shape[0], 2, 2, 3)])
        with pytest.raises(ValueError, match="TexturesVertex"):
            HardGouraudShader(cameras=cam)(frags, atlas)

    def test_shading_functions_shapes(self):
        cam = camera()
        m = white_sphere(1)
        _, frags = render(SoftSilhouetteShader(), m, cam, 8, faces_per_pixel=2)
        texels = m.sample_textures(frags)
        lights, mats = PointLights(), Materials()
        for out in (
            phong_shading(m, frags, lights, cam, mats, texels),
            gouraud_shading(m, frags, lights, cam, mats),
            flat_shading(m, frags, lights, cam, mats, texels),
        ):
            assert out.shape == (1, 8, 8, 2, 3)

    def test_silhouette_matches_formula(self):
        cam = camera()
        sigma = 1e-4
        blur = math.log(1.0 / 1e-4 - 1.0) * sigma
        img, frags = render(
            SoftSilhouetteShader(BlendParams(sigma=sigma)),
            white_sphere(2),
            cam,
            32,
            faces_per_pixel=20,
            blur_radius=blur,
        )
        prob = torch.sigmoid(-frags.dists / sigma) * (frags.pix_to_face >= 0)
        want = 1 - torch.prod(1 - prob, dim=-1)
        torch.testing.assert_close(img[..., 3], want)
        assert ((img[..., 3] > 0.01) & (img[..., 3] < 0.99)).any()  # soft edges

    def test_depth_shaders(self):
        cam = camera()
        img, frags = render(HardDepthShader(cameras=cam), white_sphere(2), cam, 32)
        fg = frags.pix_to_face[..., :1] >= 0
        torch.testing.assert_close(img[fg], frags.zbuf[..., :1][fg])
        assert (img[~fg] == 100.0).all()  # FoV camera zfar
        soft, frags = render(
            SoftDepthShader(cameras=cam, blend_params=BlendParams(sigma=1e-6)),
            white_sphere(2),
            cam,
            32,
            faces_per_pixel=3,
        )
        inside = (frags.dists[..., 0] < -1e-4) & (frags.pix_to_face[..., 0] >= 0)
        torch.testing.assert_close(soft[..., 0][inside], frags.zbuf[..., 0][inside])
        assert (soft[..., 0][frags.pix_to_face[..., 0] < 0] == 100.0).all()

    def test_per_call_overrides(self):
        cam = camera()
        m = white_sphere(2)
        behind = PointLights(location=[[0.0, 0.0, -5.0]])
        front = PointLights(location=[[0.0, 0.0, 5.0]])
        shader = HardPhongShader(cameras=cam, lights=front)
        rast = MeshRasterizer(cam, RasterizationSettings(image_size=16))
        frags = rast(m)
        a = shader(frags, m, lights=behind)
        b = HardPhongShader(cameras=cam, lights=behind)(frags, m)
        torch.testing.assert_close(a, b)
        assert not torch.allclose(a, shader(frags, m))
        amb = shader(
            frags, m, lights=AmbientLights(), materials=Materials(ambient_color=[[0.2] * 3])
        )
        fg = frags.pix_to_face[0, ..., 0] >= 0
        torch.testing.assert_close(amb[0][fg][:, :3], torch.full((int(fg.sum()), 3), 0.2))


class TestGradients:
    """gradcheck in float64 on one or two triangles at 8x8."""

    def scene(self):
        verts = torch.tensor(
            [[0.5, -0.45, 0.1], [-0.55, -0.35, 0.0], [0.05, 0.62, 0.2], [0.7, 0.6, -0.3]],
            dtype=torch.float64,
        )
        faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
        R, T = look_at_view_transform(2.0, 5.0, 10.0)
        return verts, faces, R.double(), T.double()

    def test_gradcheck_soft_silhouette(self):
        verts, faces, R, T = self.scene()
        bp = BlendParams(sigma=1e-2)
        rs = RasterizationSettings(
            image_size=8, blur_radius=math.log(1 / 1e-4 - 1) * 1e-2, faces_per_pixel=2
        )

        def f(v, R, T):
            cam = FoVPerspectiveCameras(R=R, T=T, dtype=torch.float64)
            frags = MeshRasterizer(cam, rs)(Meshes([v], [faces]))
            return SoftSilhouetteShader(bp)(frags, None)[..., 3]

        inputs = (verts.requires_grad_(), R.requires_grad_(), T.requires_grad_())
        assert torch.autograd.gradcheck(f, inputs, atol=1e-6)

    def test_gradcheck_soft_phong(self):
        verts, faces, R, T = self.scene()
        feats = torch.tensor(
            [[0.9, 0.2, 0.3], [0.1, 0.8, 0.4], [0.5, 0.5, 0.9], [0.3, 0.7, 0.1]],
            dtype=torch.float64,
        )
        loc = torch.tensor([[0.3, 0.9, 2.5]], dtype=torch.float64)
        bp = BlendParams(sigma=1e-2, gamma=1e-1)
        rs = RasterizationSettings(
            image_size=8, blur_radius=math.log(1 / 1e-4 - 1) * 1e-2, faces_per_pixel=2
        )

        def f(v, tex, R, T, loc):
            cam = FoVPerspectiveCameras(R=R, T=T, dtype=torch.float64)
            m = Meshes([v], [faces], textures=TexturesVertex(verts_features=[tex]))
            lights = PointLights(location=loc)
            frags = MeshRasterizer(cam, rs)(m)
            return SoftPhongShader(cameras=cam, lights=lights, blend_params=bp)(frags, m)

        inputs = tuple(t.requires_grad_() for t in (verts, feats, R, T, loc))
        assert torch.autograd.gradcheck(f, inputs, atol=1e-6)
