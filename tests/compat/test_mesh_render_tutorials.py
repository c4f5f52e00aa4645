"""PyTorch3D mesh-rendering tutorials (render_textured_meshes, camera_position_optimization,
fit_textured_mesh, deform_source_mesh_to_target_mesh) run at tiny sizes through inverse3d."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.nn as nn

from inverse3d.io import load_obj, load_objs_as_meshes
from inverse3d.loss import (
    chamfer_distance,
    mesh_edge_loss,
    mesh_laplacian_smoothing,
    mesh_normal_consistency,
)
from inverse3d.ops.sample_points_from_meshes import sample_points_from_meshes
from inverse3d.renderer.blending import BlendParams
from inverse3d.renderer.cameras import (
    FoVPerspectiveCameras,
    look_at_rotation,
    look_at_view_transform,
)
from inverse3d.renderer.lighting import PointLights
from inverse3d.renderer.materials import Materials
from inverse3d.renderer.mesh.rasterize_meshes import rasterize_meshes
from inverse3d.renderer.mesh.rasterizer import Fragments, MeshRasterizer, RasterizationSettings
from inverse3d.renderer.mesh.renderer import MeshRenderer, MeshRendererWithFragments
from inverse3d.renderer.mesh.shader import (
    HardDepthShader,
    HardFlatShader,
    HardGouraudShader,
    HardPhongShader,
    SoftDepthShader,
    SoftGouraudShader,
    SoftPhongShader,
    SoftSilhouetteShader,
)
from inverse3d.renderer.mesh.textures import TexturesVertex
from inverse3d.structures import Meshes
from inverse3d.utils import ico_sphere

SIZE = 48


@pytest.fixture
def cow(book_dir):
    return load_objs_as_meshes([book_dir / "chap2/data/cow_mesh/cow.obj"], device="cpu")


def _phong(cameras, lights, size=SIZE, shader=SoftPhongShader):
    settings = RasterizationSettings(image_size=size, blur_radius=0.0, faces_per_pixel=1)
    return MeshRenderer(
        rasterizer=MeshRasterizer(cameras=cameras, raster_settings=settings),
        shader=shader(device="cpu", cameras=cameras, lights=lights),
    )


class TestSettings:
    def test_raster_settings_defaults(self):
        s = RasterizationSettings()
        assert s.image_size == 256 and s.blur_radius == 0.0 and s.faces_per_pixel == 1
        assert s.bin_size is None and s.max_faces_per_bin is None
        assert s.perspective_correct is None and s.clip_barycentric_coords is None
        assert s.cull_backfaces is False and s.z_clip_value is None and s.cull_to_frustum is False
        sig = inspect.signature(rasterize_meshes)
        assert sig.parameters["faces_per_pixel"].default == 8
        assert sig.parameters["image_size"].default == 256

    def test_fragments_fields(self):
        t = torch.zeros(1, 2, 2, 1, requires_grad=True)
        f = Fragments(
            pix_to_face=t.long(),
            zbuf=t * 1,
            bary_coords=t[..., None].expand(1, 2, 2, 1, 3) * 1,
            dists=t * 1,
        )
        for name in ("pix_to_face", "zbuf", "bary_coords", "dists"):
            assert torch.is_tensor(getattr(f, name))
        # PyTorch3D 0.7: Fragments.detach() stops the gradients
        d = f.detach()
        assert not d.zbuf.requires_grad and not d.bary_coords.requires_grad

    def test_cull_backfaces_keeps_the_visible_side(self):
        m = ico_sphere(2)
        R, T = look_at_view_transform(3, 20, 30)
        cam = FoVPerspectiveCameras(R=R, T=T)
        a = MeshRasterizer(cam, RasterizationSettings(image_size=24))(m)
        b = MeshRasterizer(cam, RasterizationSettings(image_size=24, cull_backfaces=True))(m)
        assert torch.equal(a.pix_to_face, b.pix_to_face)
        vis = a.pix_to_face[a.pix_to_face >= 0].unique()
        centres = m.verts_packed()[m.faces_packed()].mean(1)
        to_cam = cam.get_camera_center()[0] - centres[vis]
        assert bool(((to_cam * m.faces_normals_packed()[vis]).sum(-1) > 0).all())
        inside = FoVPerspectiveCameras(R=R, T=torch.zeros(1, 3))
        c = MeshRasterizer(inside, RasterizationSettings(image_size=12, cull_backfaces=True))(m)
        assert (c.pix_to_face >= 0).sum() == 0


class TestRenderTexturedMeshes:
    def test_tutorial_flow(self, cow):
        R, T = look_at_view_transform(2.7, 0, 180)
        cameras = FoVPerspectiveCameras(device="cpu", R=R, T=T)
        lights = PointLights(device="cpu", location=[[0.0, 0.0, -3.0]])
        renderer = _phong(cameras, lights)
        images = renderer(cow)
        assert images.shape == (1, SIZE, SIZE, 4)
        # the cow covers the centre (soft blending with blur 0 gives alpha in (0.5, 1]); corners
        # show the white background with alpha 0
        assert images[0, SIZE // 2, SIZE // 2, 3] > 0.5
        assert torch.allclose(images[0, 0, 0], torch.tensor([1.0, 1.0, 1.0, 0.0]))
        # moving the light behind the cow darkens the visible side
        lights.location = torch.tensor([0.0, 0.0, +1.0])[None]
        dark = renderer(cow, lights=lights)
        mask = images[0, ..., 3] > 0
        assert dark[0, ..., :3][mask].mean() < images[0, ..., :3][mask].mean()
        materials = Materials(device="cpu", specular_color=[[0.0, 1.0, 0.0]], shininess=10.0)
        out = renderer(cow, lights=lights, materials=materials, cameras=cameras)
        assert out.shape == (1, SIZE, SIZE, 4)

    def test_batched_views(self, cow):
        meshes = cow.extend(3)
        elev = torch.linspace(0, 180, 3)
        azim = torch.linspace(-180, 180, 3)
        R, T = look_at_view_transform(dist=2.7, elev=elev, azim=azim)
        cameras = FoVPerspectiveCameras(device="cpu", R=R, T=T)
        lights = PointLights(device="cpu", location=[[0.0, 0.0, -3.0]])
        renderer = _phong(cameras, lights, size=32)
        images = renderer(meshes, cameras=cameras, lights=lights)
        assert images.shape == (3, 32, 32, 4)
        assert (images[..., 3].flatten(1).sum(1) > 0).all()

    @pytest.mark.parametrize(
        "shader", [HardPhongShader, HardGouraudShader, HardFlatShader, SoftGouraudShader]
    )
    def test_other_shaders(self, cow, shader):
        if "Gouraud" in shader.__name__:
            # PyTorch3D's Gouraud shading needs vertex colours (ValueError for TexturesUV)
            with pytest.raises(ValueError):
                _phong(FoVPerspectiveCameras(), PointLights(), size=8, shader=shader)(
                    cow,
                    R=look_at_view_transform(2.7, 0, 0)[0],
                    T=look_at_view_transform(2.7, 0, 0)[1],
                )
            v = cow.verts_packed()
            cow = Meshes(
                verts=[v],
                faces=[cow.faces_packed()],
                textures=TexturesVertex(verts_features=torch.ones_like(v)[None]),
            )
        R, T = look_at_view_transform(2.7, 10, -150)
        cameras = FoVPerspectiveCameras(R=R, T=T)
        lights = PointLights(location=[[2.0, 2.0, -2.0]])
        img = _phong(cameras, lights, size=32, shader=shader)(cow)
        assert img.shape == (1, 32, 32, 4)
        assert img[0, 16, 16, 3] > 0.5

    def test_with_fragments_and_depth(self, cow):
        R, T = look_at_view_transform(2.7, 0, 180)
        cameras = FoVPerspectiveCameras(R=R, T=T)
        settings = RasterizationSettings(image_size=32, faces_per_pixel=1)
        r = MeshRendererWithFragments(
            rasterizer=MeshRasterizer(cameras=cameras, raster_settings=settings),
            shader=HardDepthShader(device="cpu", cameras=cameras),
        )
        depth, frags = r(cow)
        assert depth.shape == (1, 32, 32, 1)
        assert frags.pix_to_face.shape == (1, 32, 32, 1)
        assert frags.zbuf.shape == (1, 32, 32, 1) and frags.bary_coords.shape == (1, 32, 32, 1, 3)
        hit = frags.pix_to_face[..., 0] >= 0
        assert torch.allclose(depth[..., 0][hit], frags.zbuf[..., 0][hit])
        soft = MeshRenderer(
            rasterizer=MeshRasterizer(cameras=cameras, raster_settings=settings),
            shader=SoftDepthShader(device="cpu", cameras=cameras),
        )(cow)
        assert soft.shape == (1, 32, 32, 1)


class TestCameraPositionOptimization:
    def test_tutorial_step(self, book_dir):
        verts, faces_idx, _ = load_obj(book_dir / "chap4/data/teapot.obj")
        faces = faces_idx.verts_idx
        verts_rgb = torch.ones_like(verts)[None]
        textures = TexturesVertex(verts_features=verts_rgb)
        teapot = Meshes(verts=[verts], faces=[faces], textures=textures)
        cameras = FoVPerspectiveCameras(device="cpu")
        blend_params = BlendParams(sigma=1e-4, gamma=1e-4)
        raster_settings = RasterizationSettings(
            image_size=24,
            blur_radius=np.log(1.0 / 1e-4 - 1.0) * blend_params.sigma,
            faces_per_pixel=5,
        )
        silhouette_renderer = MeshRenderer(
            rasterizer=MeshRasterizer(cameras=cameras, raster_settings=raster_settings),
            shader=SoftSilhouetteShader(blend_params=blend_params),
        )
        lights = PointLights(device="cpu", location=((2.0, 2.0, -2.0),))
        phong_renderer = _phong(cameras, lights, size=24, shader=HardPhongShader)
        R, T = look_at_view_transform(3, 50.0, 0.0, device="cpu")
        silhouette = silhouette_renderer(meshes_world=teapot, R=R, T=T)
        image_ref = phong_renderer(meshes_world=teapot, R=R, T=T)
        assert silhouette.shape == (1, 24, 24, 4) and image_ref.shape == (1, 24, 24, 4)
        image_ref = image_ref.cpu().numpy()

        class Model(nn.Module):
            def __init__(self, meshes, renderer, image_ref):
                super().__init__()
                self.meshes = meshes
                self.device = meshes.device
                self.renderer = renderer
                ref = torch.from_numpy((image_ref[..., :3].max(-1) != 1).astype(np.float32))
                self.register_buffer("image_ref", ref)
                self.camera_position = nn.Parameter(torch.tensor([3.0, 6.9, 2.5]))

            def forward(self):
                R = look_at_rotation(self.camera_position[None, :], device=self.device)
                T = -torch.bmm(R.transpose(1, 2), self.camera_position[None, :, None])[:, :, 0]
                image = self.renderer(meshes_world=self.meshes.clone(), R=R, T=T)
                return torch.sum((image[..., 3] - self.image_ref) ** 2), image

        model = Model(teapot, silhouette_renderer, image_ref)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        loss, _ = model()
        loss.backward()
        g = model.camera_position.grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
        optimizer.step()


class TestFitTexturedMesh:
    def test_silhouette_and_rgb_loss_step(self, cow):
        verts = cow.verts_packed()
        center = verts.mean(0)
        scale = max((verts - center).abs().max(0)[0])
        cow.offset_verts_(-center)
        cow.scale_verts_((1.0 / float(scale)))
        num_views = 2
        R, T = look_at_view_transform(
            dist=2.7,
            elev=torch.linspace(0, 360, num_views),
            azim=torch.linspace(-180, 180, num_views),
        )
        cameras = FoVPerspectiveCameras(device="cpu", R=R, T=T)
        camera = FoVPerspectiveCameras(device="cpu", R=R[None, 1, ...], T=T[None, 1, ...])
        lights = PointLights(device="cpu", location=[[0.0, 0.0, -3.0]])
        target_rgb = _phong(camera, lights, size=24)(
            cow.extend(num_views), cameras=cameras, lights=lights
        )
        sigma = 1e-4
        settings_sil = RasterizationSettings(
            image_size=24, blur_radius=np.log(1.0 / 1e-4 - 1.0) * sigma, faces_per_pixel=5
        )
        renderer_sil = MeshRenderer(
            rasterizer=MeshRasterizer(cameras=camera, raster_settings=settings_sil),
            shader=SoftSilhouetteShader(),
        )
        target_sil = renderer_sil(cow.extend(num_views), cameras=cameras, lights=lights)[..., 3]
        src = ico_sphere(2, "cpu")
        shape = src.verts_packed().shape
        deform = torch.full(shape, 0.0, requires_grad=True)
        rgb = torch.full([1, shape[0], 3], 0.5, requires_grad=True)
        new_src = src.offset_verts(deform)
        new_src.textures = TexturesVertex(verts_features=rgb)
        settings_soft = RasterizationSettings(
            image_size=24,
            blur_radius=np.log(1.0 / 1e-4 - 1.0) * sigma,
            faces_per_pixel=5,
            perspective_correct=False,
        )
        renderer_tex = MeshRenderer(
            rasterizer=MeshRasterizer(cameras=camera, raster_settings=settings_soft),
            shader=SoftPhongShader(device="cpu", cameras=camera, lights=lights),
        )
        j = 1
        target_cam = FoVPerspectiveCameras(device="cpu", R=R[None, j, ...], T=T[None, j, ...])
        pred = renderer_tex(new_src, cameras=target_cam, lights=lights)
        loss = ((pred[..., 3] - target_sil[j]) ** 2).mean()
        loss = loss + ((pred[..., :3] - target_rgb[j, ..., :3]) ** 2).mean()
        loss = loss + mesh_edge_loss(new_src) + mesh_normal_consistency(new_src)
        loss = loss + mesh_laplacian_smoothing(new_src, method="uniform")
        loss.backward()
        assert deform.grad.abs().sum() > 0 and rgb.grad.abs().sum() > 0


class TestDeformMesh:
    def test_tutorial_step(self, book_dir):
        verts, faces, _ = load_obj(book_dir / "chap2/data/dodecahedron.obj")
        verts = verts - verts.mean(0)
        verts = verts / max(verts.abs().max(0)[0])
        trg = Meshes(verts=[verts], faces=[faces.verts_idx])
        src = ico_sphere(2, "cpu")
        deform = torch.full(src.verts_packed().shape, 0.0, requires_grad=True)
        opt = torch.optim.SGD([deform], lr=1.0, momentum=0.9)
        new_src = src.offset_verts(deform)
        sample_trg = sample_points_from_meshes(trg, 500)
        sample_src = sample_points_from_meshes(new_src, 500)
        assert sample_trg.shape == (1, 500, 3)
        loss_chamfer, loss_normals = chamfer_distance(sample_trg, sample_src)
        assert loss_normals is None and loss_chamfer.dim() == 0
        loss = (
            loss_chamfer
            + mesh_edge_loss(new_src)
            + 0.01 * mesh_normal_consistency(new_src)
            + 0.1 * mesh_laplacian_smoothing(new_src, method="uniform")
        )
        loss.backward()
        opt.step()
        assert deform.grad.abs().sum() > 0
        final_verts, final_faces = new_src.get_mesh_verts_faces(0)
        assert final_verts.shape[1] == 3 and final_faces.shape[1] == 3


def test_rasterizer_conventions_rectangular():
    # +X of NDC points left and the longer side extends past 1 (PyTorch3D's non-square NDC)
    from inverse3d.renderer.cameras import FoVOrthographicCameras

    tri = Meshes(
        verts=[torch.tensor([[1.2, 0.2, 2.0], [1.8, 0.2, 2.0], [1.5, 0.8, 2.0]])],
        faces=[torch.tensor([[0, 1, 2]])],
    )
    cam = FoVOrthographicCameras()
    r = MeshRasterizer(cameras=cam, raster_settings=RasterizationSettings(image_size=(8, 16)))
    frags = r(tri)
    # pixel (row i, col j) has its centre at (x, y) = (2 - (2j + 1) / 8, 1 - (2i + 1) / 8)
    assert (frags.pix_to_face[0, ..., 0] >= 0).nonzero().tolist() == [[2, 1], [2, 2]]
    assert torch.allclose(frags.zbuf[0, 2, 1, 0], torch.tensor(2.0))
    assert torch.allclose(r.transform(tri).verts_packed(), tri.verts_packed())
    square = MeshRasterizer(cameras=cam, raster_settings=RasterizationSettings(image_size=8))
    assert (square(tri).pix_to_face >= 0).sum() == 0
