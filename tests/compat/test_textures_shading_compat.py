"""PyTorch3D-compatibility checks for textures, lights, materials and blending."""

from __future__ import annotations

import inspect

import pytest
import torch

from inverse3d.renderer.blending import (
    BlendParams,
    hard_rgb_blend,
    sigmoid_alpha_blend,
    softmax_rgb_blend,
)
from inverse3d.renderer.lighting import (
    AmbientLights,
    DirectionalLights,
    PointLights,
    diffuse,
    specular,
)
from inverse3d.renderer.materials import Materials
from inverse3d.renderer.mesh.rasterizer import Fragments
from inverse3d.renderer.mesh.textures import (
    Textures,
    TexturesAtlas,
    TexturesUV,
    TexturesVertex,
)
from inverse3d.renderer.utils import TensorProperties, convert_to_tensors_and_broadcast
from inverse3d.structures import Meshes, join_meshes_as_batch, join_meshes_as_scene
from inverse3d.utils import ico_sphere


def _frag(face: int, bary, dist: float = -1.0, z: float = 2.0) -> Fragments:
    return Fragments(
        pix_to_face=torch.tensor([face]).view(1, 1, 1, 1),
        zbuf=torch.tensor([z]).view(1, 1, 1, 1),
        bary_coords=torch.tensor(bary, dtype=torch.float32).view(1, 1, 1, 1, 3),
        dists=torch.tensor([dist]).view(1, 1, 1, 1),
    )


def _tri_mesh(textures=None):
    verts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    return Meshes(verts=[verts], faces=[torch.tensor([[0, 1, 2]])], textures=textures)


class TestTexturesVertex:
    def test_tutorial_white_mesh(self):
        # verts_rgb = torch.ones_like(verts)[None]; TexturesVertex(verts_features=verts_rgb)
        verts = torch.rand(5, 3)
        tex = TexturesVertex(verts_features=torch.ones_like(verts)[None])
        assert tex.verts_features_padded().shape == (1, 5, 3)
        assert tex.verts_features_packed().shape == (5, 3)
        assert len(tex.verts_features_list()) == 1
        tex2 = TexturesVertex(verts_features=[torch.rand(3, 4), torch.rand(2, 4)])
        assert tex2.verts_features_padded().shape == (2, 3, 4)

    def test_sample(self):
        colors = torch.tensor([[[1.0, 0, 0], [0, 1, 0], [0, 0, 1]]])
        mesh = _tri_mesh(TexturesVertex(verts_features=colors))
        frag = _frag(0, [0.2, 0.3, 0.5])
        out = mesh.sample_textures(frag)
        assert out.shape == (1, 1, 1, 1, 3)
        assert torch.allclose(out.view(3), torch.tensor([0.2, 0.3, 0.5]))
        empty = mesh.sample_textures(_frag(-1, [-1, -1, -1]))
        assert torch.equal(empty, torch.zeros(1, 1, 1, 1, 3))
        fvt = mesh.textures.faces_verts_textures_packed(mesh.faces_packed())
        assert torch.equal(fvt, colors)

    def test_assignment_and_gradient(self):
        # fit_textured_mesh: new_src_mesh.textures = TexturesVertex(verts_features=rgb)
        src = ico_sphere(1)
        V = src.verts_packed().shape[0]
        rgb = torch.full([1, V, 3], 0.5, requires_grad=True)
        new = src.offset_verts(torch.zeros(V, 3))
        new.textures = TexturesVertex(verts_features=rgb)
        ext = new.extend(2)
        assert ext.textures.verts_features_padded().shape == (2, V, 3)
        ext.textures.verts_features_packed().sum().backward()
        assert torch.equal(rgb.grad, torch.full_like(rgb, 2.0))

    def test_mesh_ops_carry_textures(self):
        m1 = _tri_mesh(TexturesVertex(verts_features=torch.ones(1, 3, 3)))
        m2 = _tri_mesh(TexturesVertex(verts_features=torch.zeros(1, 3, 3)))
        b = join_meshes_as_batch([m1, m2])
        assert torch.equal(b.textures.verts_features_padded()[1], torch.zeros(3, 3))
        s = join_meshes_as_scene(b)
        assert s.textures.verts_features_packed().shape == (6, 3)
        assert isinstance(b[1].textures, TexturesVertex)
        assert torch.equal(b[1].textures.verts_features_packed(), torch.zeros(3, 3))
        c = b.clone()
        assert c.textures is not b.textures
        assert b.to("cpu").textures is not None
        assert b.detach().textures is not None


class TestTexturesUV:
    def test_uv_orientation(self):
        # 2x2 map; with PyTorch3D's convention v=0 is the bottom image row and align_corners=True
        img = torch.tensor([[[1.0, 0, 0], [0, 1, 0]], [[0, 0, 1], [1, 1, 1]]])[None]
        verts_uvs = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
        faces_uvs = torch.tensor([[[0, 1, 2]]])
        tex = TexturesUV(maps=img, faces_uvs=faces_uvs, verts_uvs=verts_uvs)
        mesh = _tri_mesh(tex)
        at_v0 = mesh.sample_textures(_frag(0, [1.0, 0.0, 0.0]))  # uv (0, 0)
        at_v1 = mesh.sample_textures(_frag(0, [0.0, 1.0, 0.0]))  # uv (1, 1)
        at_v2 = mesh.sample_textures(_frag(0, [0.0, 0.0, 1.0]))  # uv (0, 1)
        assert torch.allclose(at_v0.view(3), torch.tensor([0.0, 0, 1]), atol=1e-6)
        assert torch.allclose(at_v1.view(3), torch.tensor([0.0, 1, 0]), atol=1e-6)
        assert torch.allclose(at_v2.view(3), torch.tensor([1.0, 0, 0]), atol=1e-6)

    def test_defaults_and_accessors(self):
        sig = inspect.signature(TexturesUV.__init__)
        p = sig.parameters
        assert list(p)[1:4] == ["maps", "faces_uvs", "verts_uvs"]
        assert p["padding_mode"].default == "border"
        assert p["align_corners"].default is True
        assert p["sampling_mode"].default == "bilinear"
        tex = TexturesUV(
            maps=torch.rand(2, 8, 8, 3),
            faces_uvs=[torch.tensor([[0, 1, 2]]), torch.tensor([[0, 1, 2], [1, 2, 3]])],
            verts_uvs=[torch.rand(3, 2), torch.rand(4, 2)],
        )
        assert tex.maps_padded().shape == (2, 8, 8, 3)
        assert len(tex.maps_list()) == 2
        assert tex.faces_uvs_padded().shape == (2, 2, 3)
        assert tex.verts_uvs_padded().shape == (2, 4, 2)
        assert [f.shape[0] for f in tex.faces_uvs_list()] == [1, 2]
        assert tex.extend(2).maps_padded().shape == (4, 8, 8, 3)
        assert tex[1].faces_uvs_padded().shape == (1, 2, 3)

    def test_gradient_to_map(self):
        maps = torch.full((1, 4, 4, 3), 0.5, requires_grad=True)
        tex = TexturesUV(
            maps=maps,
            faces_uvs=torch.tensor([[[0, 1, 2]]]),
            verts_uvs=torch.tensor([[[0.1, 0.1], [0.9, 0.1], [0.1, 0.9]]]),
        )
        out = _tri_mesh(tex).sample_textures(_frag(0, [0.3, 0.3, 0.4]))
        out.sum().backward()
        assert maps.grad is not None and maps.grad.abs().sum() > 0


class TestTexturesAtlasAndDeprecated:
    def test_atlas(self):
        atlas = torch.zeros(1, 1, 2, 2, 3)
        atlas[..., 0] = 1.0
        tex = TexturesAtlas(atlas=atlas)
        assert tex.atlas_padded().shape == (1, 1, 2, 2, 3)
        assert tex.atlas_packed().shape == (1, 2, 2, 3)
        out = _tri_mesh(tex).sample_textures(_frag(0, [0.3, 0.3, 0.4]))
        assert torch.allclose(out.view(3), torch.tensor([1.0, 0, 0]))
        assert TexturesAtlas(atlas=[torch.rand(1, 2, 2, 3)]).atlas_list()[0].shape == (1, 2, 2, 3)

    def test_textures_deprecated(self):
        with pytest.warns((PendingDeprecationWarning, DeprecationWarning, UserWarning)):
            t = Textures(verts_rgb=torch.ones(1, 3, 3))
        assert isinstance(t, TexturesVertex)


class TestLightsMaterials:
    def test_point_lights_defaults(self):
        lights = PointLights()
        assert isinstance(lights, TensorProperties)
        assert torch.allclose(lights.ambient_color, torch.tensor([[0.5, 0.5, 0.5]]))
        assert torch.allclose(lights.diffuse_color, torch.tensor([[0.3, 0.3, 0.3]]))
        assert torch.allclose(lights.specular_color, torch.tensor([[0.2, 0.2, 0.2]]))
        assert torch.allclose(lights.location, torch.tensor([[0.0, 1.0, 0.0]]))

    def test_point_lights_values(self):
        lights = PointLights(device="cpu", location=[[0.0, 1.0, 0.0]])
        normals = torch.tensor([[[0.0, 1.0, 0.0]]])
        points = torch.zeros(1, 1, 3)
        assert torch.allclose(
            lights.diffuse(normals=normals, points=points), torch.full((1, 1, 3), 0.3)
        )
        spec = lights.specular(
            normals=normals,
            points=points,
            camera_position=torch.tensor([[0.0, 2.0, 0.0]]),
            shininess=64,
        )
        assert torch.allclose(spec, torch.full((1, 1, 3), 0.2), atol=1e-6)
        # the tutorial moves the light by assignment
        lights.location = torch.tensor([0.0, 0.0, +1.0])[None]
        assert torch.allclose(lights.diffuse(normals=normals, points=points), torch.zeros(1, 1, 3))

    def test_directional_and_ambient(self):
        d = DirectionalLights(direction=((0.0, 0.0, 1.0),))
        n = torch.tensor([[[0.0, 0.0, 1.0]]])
        assert torch.allclose(d.diffuse(normals=n), torch.full((1, 1, 3), 0.3))
        a = AmbientLights()
        assert torch.allclose(a.ambient_color, torch.ones(1, 3))
        assert torch.equal(a.diffuse(normals=n, points=torch.zeros(1, 1, 3)), torch.zeros(1, 1, 3))
        a2 = AmbientLights(ambient_color=((0.2, 0.3, 0.4),))
        assert torch.allclose(a2.ambient_color, torch.tensor([[0.2, 0.3, 0.4]]))

    def test_functional(self):
        n = torch.tensor([[0.0, 0.0, 1.0]])
        out = diffuse(
            normals=n,
            color=torch.tensor([[1.0, 0.5, 0.25]]),
            direction=torch.tensor([[0.0, 0.6, 0.8]]),
        )
        assert torch.allclose(out, torch.tensor([[0.8, 0.4, 0.2]]))
        out = specular(
            points=torch.zeros(1, 3),
            normals=n,
            direction=torch.tensor([[0.0, 0.0, 1.0]]),
            color=torch.ones(1, 3),
            camera_position=torch.tensor([[0.0, 0.0, 5.0]]),
            shininess=torch.tensor([10.0]),
        )
        assert torch.allclose(out, torch.ones(1, 3))

    def test_materials(self):
        m = Materials()
        for name in ("ambient_color", "diffuse_color", "specular_color"):
            assert torch.equal(getattr(m, name), torch.ones(1, 3))
        assert m.shininess.tolist() == [64.0]
        m = Materials(
            device="cpu",
            specular_color=[[0.0, 1.0, 0.0]],
            shininess=10.0,
            ambient_color=((0.01, 0.01, 0.01),),
        )
        assert m.shininess.tolist() == [10.0]
        assert m.clone().specular_color.tolist() == [[0.0, 1.0, 0.0]]

    def test_tensor_properties(self):
        a, b = convert_to_tensors_and_broadcast(1.0, torch.zeros(3, 2), device="cpu")
        assert a.shape == (3,) and b.shape == (3, 2)
        lights = PointLights(location=torch.rand(4, 3))
        assert len(lights) == 4
        # PyTorch3D's TensorProperties.__getitem__ returns a TensorAccessor: attribute access
        # gives the property at that index (pytorch3d/renderer/utils.py)
        assert torch.equal(lights[1].location, lights.location[1])
        assert lights[1:3].location.shape == (2, 3)
        assert lights.clone().location is not lights.location
        assert lights.to("cpu").device == torch.device("cpu")


class TestBlending:
    def test_blend_params(self):
        bp = BlendParams()
        assert bp._fields == ("sigma", "gamma", "background_color")
        assert bp.sigma == 1e-4 and bp.gamma == 1e-4
        assert tuple(bp.background_color) == (1.0, 1.0, 1.0)
        bp = BlendParams(sigma=1e-4, gamma=1e-4, background_color=(0.0, 0.0, 0.0))
        assert tuple(bp.background_color) == (0.0, 0.0, 0.0)

    def test_hard(self):
        colors = torch.tensor([0.2, 0.4, 0.6]).view(1, 1, 1, 1, 3)
        out = hard_rgb_blend(colors, _frag(0, [1.0, 0, 0]), BlendParams())
        assert out.shape == (1, 1, 1, 4)
        assert torch.allclose(out.view(4), torch.tensor([0.2, 0.4, 0.6, 1.0]))
        out = hard_rgb_blend(
            colors, _frag(-1, [-1, -1, -1]), BlendParams(background_color=(0, 1, 0))
        )
        assert torch.allclose(out.view(4), torch.tensor([0.0, 1.0, 0.0, 0.0]))

    def test_sigmoid(self):
        colors = torch.tensor([0.2, 0.4, 0.6]).view(1, 1, 1, 1, 3)
        out = sigmoid_alpha_blend(colors, _frag(0, [1.0, 0, 0], dist=0.0), BlendParams())
        # dist 0 -> prob 1/2 -> alpha 1/2
        assert torch.allclose(out.view(4), torch.tensor([0.2, 0.4, 0.6, 0.5]))

    def test_softmax(self):
        colors = torch.tensor([0.2, 0.4, 0.6]).view(1, 1, 1, 1, 3)
        sig = inspect.signature(softmax_rgb_blend)
        assert sig.parameters["znear"].default == 1.0 and sig.parameters["zfar"].default == 100
        out = softmax_rgb_blend(colors, _frag(0, [1.0, 0, 0], dist=-1.0), BlendParams())
        assert torch.allclose(out.view(4), torch.tensor([0.2, 0.4, 0.6, 1.0]), atol=1e-4)
        out = softmax_rgb_blend(colors, _frag(-1, [-1, -1, -1]), BlendParams())
        assert torch.allclose(out.view(4), torch.tensor([1.0, 1.0, 1.0, 0.0]), atol=1e-4)


def test_atlas_faces_verts_textures_matches_pytorch3d_corners():
    # PyTorch3D: v0 -> atlas[:, 0, -1], v1 -> atlas[:, -1, 0], v2 -> atlas[:, 0, 0]
    a = torch.rand(2, 3, 3, 3)
    fv = TexturesAtlas(atlas=[a]).faces_verts_textures_packed()
    assert torch.equal(fv, torch.stack((a[:, 0, -1], a[:, -1, 0], a[:, 0, 0]), 1))
    # ... and sampling at each vertex's barycentrics returns those texels
    mesh = _tri_mesh(TexturesAtlas(atlas=[a[:1]]))
    for k, bary in enumerate(([1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0])):
        assert torch.allclose(mesh.sample_textures(_frag(0, bary)).view(3), fv[0, k])


def test_softmax_blend_two_faces_formula():
    # PyTorch3D's softmax_rgb_blend, restated: probabilities from signed distances, depth
    # weights relative to the nearest face, background weight delta
    sigma, gamma, znear, zfar, eps = 0.1, 0.5, 1.0, 100.0, 1e-10
    colors = torch.tensor([[0.9, 0.1, 0.2], [0.1, 0.8, 0.3]]).view(1, 1, 1, 2, 3)
    dists = torch.tensor([-0.05, 0.02])
    zbuf = torch.tensor([2.0, 3.0])
    frag = Fragments(
        pix_to_face=torch.tensor([0, 1]).view(1, 1, 1, 2),
        zbuf=zbuf.view(1, 1, 1, 2),
        bary_coords=torch.full((1, 1, 1, 2, 3), 1 / 3),
        dists=dists.view(1, 1, 1, 2),
    )
    bg = torch.tensor([0.0, 0.0, 1.0])
    out = softmax_rgb_blend(
        colors, frag, BlendParams(sigma, gamma, tuple(bg.tolist())), znear=znear, zfar=zfar
    ).view(4)
    prob = torch.sigmoid(-dists / sigma)
    z_inv = (zfar - zbuf) / (zfar - znear)
    w = prob * torch.exp((z_inv - z_inv.max()) / gamma)
    delta = max(float(torch.exp((eps - z_inv.max()) / gamma)), eps)
    rgb = ((w[:, None] * colors.view(2, 3)).sum(0) + delta * bg) / (w.sum() + delta)
    alpha = 1 - torch.prod(1 - prob)
    assert torch.allclose(out, torch.cat([rgb, alpha[None]]), atol=1e-6)
    sig = sigmoid_alpha_blend(colors, frag, BlendParams(sigma, gamma)).view(4)
    assert torch.allclose(sig, torch.cat([colors.view(2, 3)[0], alpha[None]]), atol=1e-6)


def test_ndc_grid_sample_reads_pixel_centres():
    from inverse3d.renderer.utils import ndc_grid_sample, ndc_to_grid_sample_coords

    # (H, W) = (2, 4): NDC spans [-2, 2] x [-1, 1]; pixel (0, 0) is centred at (1.5, 0.5)
    img = torch.arange(8.0).view(1, 1, 2, 4)
    grid = torch.tensor([[[[1.5, 0.5], [-1.5, -0.5]]]])
    assert ndc_grid_sample(img, grid).flatten().tolist() == [0.0, 7.0]
    gs = ndc_to_grid_sample_coords(torch.tensor([1.5, 0.5]), (2, 4))
    assert torch.allclose(gs, torch.tensor([-0.75, -0.5]))
