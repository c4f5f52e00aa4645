"""SplatterBlender / SplatterPhongShader: background where empty, a Gaussian-blurred copy of hard
Phong shading inside large faces, gradcheck of the splat w.r.t. fragment positions and vertices."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from inverse3d.renderer import SplatterBlender as FromRenderer
from inverse3d.renderer import SplatterPhongShader as ShaderFromRenderer
from inverse3d.renderer.blending import BlendParams
from inverse3d.renderer.cameras import FoVPerspectiveCameras
from inverse3d.renderer.lighting import PointLights
from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
from inverse3d.renderer.mesh.shader import HardPhongShader, SplatterPhongShader
from inverse3d.renderer.mesh.textures import TexturesVertex
from inverse3d.renderer.splatter_blend import SplatterBlender
from inverse3d.structures import Meshes

BP = BlendParams(sigma=0.5, background_color=(0.2, 0.3, 0.4))


def _scene(size=12, K=2, dtype=torch.float32, big=True):
    """A triangle facing the camera (world +z away from it), vertex colours, point light."""
    s = 1.6 if big else 0.5
    verts = torch.tensor([[-s, -s, 0.0], [s, -s, 0.0], [0.0, s, 0.0]], dtype=dtype)
    faces = torch.tensor([[0, 1, 2]])
    colors = torch.tensor([[[1.0, 0.2, 0.2], [0.2, 1.0, 0.2], [0.2, 0.2, 1.0]]], dtype=dtype)
    mesh = Meshes([verts], [faces], textures=TexturesVertex(colors))
    cams = FoVPerspectiveCameras(R=torch.eye(3, dtype=dtype)[None],
                                 T=torch.tensor([[0.0, 0.0, 3.0]], dtype=dtype), dtype=dtype)  # fmt: skip
    lights = PointLights(location=((0.5, 0.5, -2.0),))
    raster = MeshRasterizer(cams, RasterizationSettings(image_size=size, faces_per_pixel=K))
    return mesh, cams, lights, raster


class TestSplatterPhongShader:
    def test_exports(self):
        assert FromRenderer is SplatterBlender and ShaderFromRenderer is SplatterPhongShader

    def test_background_where_empty(self):
        mesh, cams, lights, raster = _scene(big=False)
        frags = raster(mesh)
        img = SplatterPhongShader(cameras=cams, lights=lights, blend_params=BP)(frags, mesh)
        assert img.shape == (1, 12, 12, 4)
        covered = (frags.pix_to_face[..., 0] >= 0).float()[None]
        near = torch.nn.functional.max_pool2d(covered, 3, stride=1, padding=1)[0] > 0
        far = ~near[0]
        assert bool(far.any())
        assert torch.allclose(img[0][far][:, :3], torch.tensor([0.2, 0.3, 0.4]))
        assert bool((img[0][far][:, 3] == 0).all())
        assert bool((img[0][near[0]][:, 3] > 0).all())  # covered pixels and their ring

    def test_interior_is_blurred_hard_phong(self):
        mesh, cams, lights, raster = _scene(size=16)
        frags = raster(mesh)
        img = SplatterPhongShader(cameras=cams, lights=lights, blend_params=BP)(frags, mesh)
        hard = HardPhongShader(cameras=cams, lights=lights, blend_params=BP)(frags, mesh)
        covered = (frags.pix_to_face[0, ..., 0] >= 0).float()
        interior = -torch.nn.functional.max_pool2d(-covered[None], 3, stride=1, padding=1)[0]
        interior = interior > 0.5  # all 3x3 neighbours covered by the (one) face
        assert int(interior.sum()) > 20
        # 3x3 Gaussian (sigma 0.5 px) average of the hard-shaded colours
        g = torch.tensor([math.exp(-(dr * dr + dc * dc) / 0.5) for dr in (-1, 0, 1)
                          for dc in (-1, 0, 1)]).view(1, 1, 3, 3)  # fmt: skip
        rgb = hard[0, ..., :3].permute(2, 0, 1)[:, None]  # (3, 1, H, W)
        blurred = torch.nn.functional.conv2d(rgb, g / g.sum(), padding=1)[:, 0].permute(1, 2, 0)
        assert torch.allclose(img[0][interior][:, :3], blurred[interior], atol=1e-5)
        assert torch.allclose(img[0][interior][:, 3], torch.ones(int(interior.sum())))

    def test_sigma_warning(self):
        mesh, cams, lights, raster = _scene(size=6)
        shader = SplatterPhongShader(cameras=cams, lights=lights)
        with pytest.warns(UserWarning, match="sigma"):
            shader(raster(mesh), mesh)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            shader(raster(mesh), mesh, blend_params=BP)

    def test_gradients_reach_vertices(self):
        mesh, cams, lights, raster = _scene(size=10)
        verts = mesh.verts_packed().clone().requires_grad_(True)
        moved = mesh.update_padded(verts[None])
        img = SplatterPhongShader(cameras=cams, lights=lights, blend_params=BP)(
            raster(moved), moved
        )
        img[..., 3].sum().backward()
        # growing the triangle grows the covered area: d(sum alpha) / d(verts) is non-zero
        assert torch.isfinite(verts.grad).all() and float(verts.grad.abs().sum()) > 1e-3

    def test_gradcheck_vertices(self):
        # With the fragments fixed, the image is a smooth function of the vertices (the
        # splats move with the re-projected fragment positions): check it by finite differences.
        mesh, cams, lights, raster = _scene(size=6, K=1, dtype=torch.float64)
        frags = raster(mesh).detach()
        shader = SplatterPhongShader(cameras=cams, lights=lights, blend_params=BP)
        faces = mesh.faces_packed()
        tex = mesh.textures

        def fn(v):
            return shader(frags, Meshes([v], [faces], textures=tex))

        v0 = mesh.verts_packed().clone().requires_grad_(True)
        torch.autograd.gradcheck(fn, (v0,), atol=1e-6, fast_mode=True)


class TestSplatterBlender:
    def test_gradcheck_positions_and_colors(self):
        torch.manual_seed(0)
        N, H, W, K = 1, 3, 4, 2
        cams = FoVPerspectiveCameras(R=torch.eye(3, dtype=torch.float64)[None],
                                     T=torch.tensor([[0.0, 0.0, 3.0]], dtype=torch.float64), dtype=torch.float64)  # fmt: skip
        # world points whose projections sit 0.1..0.3 px away from their pixel centres
        ys, xs = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
        screen = (
            torch.stack([xs + 0.5, ys + 0.5], -1).double()[None, :, :, None].expand(N, H, W, K, 2)
        )
        screen = screen + (torch.rand(N, H, W, K, 2, dtype=torch.float64) * 0.2 + 0.1)
        depth = torch.tensor([3.0, 4.0], dtype=torch.float64).expand(N, H, W, K)
        pts = torch.cat([screen, depth[..., None]], -1).reshape(N, -1, 3)
        xy_depth = torch.cat([_screen_to_ndc(pts[..., :2], H, W), pts[..., 2:]], -1)
        world = cams.unproject_points(xy_depth, world_coordinates=True).reshape(N, H, W, K, 3)
        colors = torch.rand(N, H, W, K, 3, dtype=torch.float64)
        bg = torch.zeros(N, H, W, K, dtype=torch.bool)
        bg[0, 0, 0, :] = True
        bg[0, 2, 3, 1] = True
        blender = SplatterBlender((N, H, W, K), "cpu")

        def fn(p, c):
            return blender(c, p, cams, bg, BP)

        got = cams.transform_points_screen(world.reshape(N, -1, 3), image_size=(H, W))
        assert torch.allclose(got[..., :2], pts[..., :2], atol=1e-9)
        inputs = (world.requires_grad_(True), colors.requires_grad_(True))
        torch.autograd.gradcheck(fn, inputs, fast_mode=True)

    def test_exceptions(self):
        blender = SplatterBlender((1, 2, 2, 1), "cpu")
        cams = FoVPerspectiveCameras()
        c = torch.rand(1, 2, 2, 1, 3)
        with pytest.raises(ValueError, match="pixel_coords_cameras"):
            blender(c, torch.rand(1, 2, 2, 2, 3), cams, torch.zeros(1, 2, 2, 1, dtype=bool), BP)
        with pytest.raises(ValueError, match="sigma"):
            blender(c, c, cams, torch.zeros(1, 2, 2, 1, dtype=bool), BlendParams(sigma=0.0))
        with pytest.raises(ValueError, match="input_shape"):
            SplatterBlender((1, 2, 2), "cpu")


def _screen_to_ndc(xy, H, W):
    """Pixel coordinates (x right, y down) -> NDC (+X left, +Y up), square image sides."""
    s = min(H, W)
    return torch.stack([(W - 2 * xy[..., 0]) / s, (H - 2 * xy[..., 1]) / s], -1)
