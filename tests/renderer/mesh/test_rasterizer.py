"""MeshRasterizer: camera projection, settings defaults, analytic sphere silhouettes."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.renderer.cameras import FoVOrthographicCameras, FoVPerspectiveCameras
from inverse3d.renderer.look_at import look_at_view_transform
from inverse3d.renderer.mesh.rasterize_meshes import rasterize_meshes
from inverse3d.renderer.mesh.rasterizer import Fragments, MeshRasterizer, RasterizationSettings
from inverse3d.structures.meshes import Meshes, join_meshes_as_batch
from inverse3d.utils.ico_sphere import ico_sphere


def disk_stats(mask: torch.Tensor):
    """Area (pixels) and centre (row, col) of a boolean (H, W) mask."""
    rows, cols = mask.nonzero(as_tuple=True)
    return mask.sum().item(), rows.double().mean().item(), cols.double().mean().item()


class TestRasterizationSettings:
    def test_defaults(self):
        s = RasterizationSettings()
        assert (s.image_size, s.blur_radius, s.faces_per_pixel) == (256, 0.0, 1)
        assert s.bin_size is None and s.max_faces_per_bin is None
        assert s.perspective_correct is None and s.clip_barycentric_coords is None
        assert (s.cull_backfaces, s.z_clip_value, s.cull_to_frustum) == (False, None, False)


class TestMeshRasterizer:
    def test_smoke(self):
        R, T = look_at_view_transform(3.0, 0.0, 0.0)
        rast = MeshRasterizer(FoVPerspectiveCameras(R=R, T=T), RasterizationSettings(image_size=16))
        frags = rast(ico_sphere(1))
        assert isinstance(frags, Fragments) and (frags.pix_to_face >= 0).any()
        p, z, b, d = frags  # a NamedTuple unpacks
        assert frags.detach().zbuf.requires_grad is False

    def test_shapes(self):
        R, T = look_at_view_transform(3.0, 0.0, 0.0)
        rs = RasterizationSettings(image_size=(12, 20), faces_per_pixel=3)
        frags = MeshRasterizer(FoVPerspectiveCameras(R=R, T=T), rs)(ico_sphere(1).extend(2))
        assert frags.pix_to_face.shape == (2, 12, 20, 3)
        assert frags.bary_coords.shape == (2, 12, 20, 3, 3)

    def test_exceptions(self):
        R, T = look_at_view_transform(3.0, 0.0, 0.0)
        meshes = ico_sphere(1).extend(2)
        with pytest.raises(ValueError, match="cameras"):
            MeshRasterizer()(meshes)
        cams = FoVPerspectiveCameras(R=R.expand(3, 3, 3), T=T.expand(3, 3))
        with pytest.raises(ValueError, match="1 camera or one per mesh"):
            MeshRasterizer(cams, RasterizationSettings(image_size=8))(meshes)
        with pytest.raises(ValueError, match="faces_per_pixel"):
            MeshRasterizer(
                FoVPerspectiveCameras(R=R, T=T), RasterizationSettings(faces_per_pixel=0)
            )(meshes)
        with pytest.raises(ValueError, match="image_size"):
            MeshRasterizer(FoVPerspectiveCameras(R=R, T=T), RasterizationSettings(image_size=0))(
                meshes
            )

    @pytest.mark.parametrize("kind", ["orthographic", "perspective"])
    def test_sphere_silhouette_matches_disk(self, kind):
        R, T = look_at_view_transform(3.0, 0.0, 0.0)
        if kind == "orthographic":
            cam = FoVOrthographicCameras(R=R, T=T)
            radius_ndc = 1.0
        else:
            cam = FoVPerspectiveCameras(R=R, T=T, fov=60.0)
            radius_ndc = (1 / math.sqrt(3.0**2 - 1)) / math.tan(math.radians(30.0))
        frags = MeshRasterizer(cam, RasterizationSettings(image_size=256))(ico_sphere(4))
        area, cy, cx = disk_stats(frags.pix_to_face[0, :, :, 0] >= 0)
        want = math.pi * (radius_ndc * 128) ** 2
        assert abs(area - want) / want < 0.01
        assert abs(cy - 127.5) < 0.01 * 256 and abs(cx - 127.5) < 0.01 * 256

    def test_convention_sphere_off_centre(self):
        # A sphere moved to world +X, +Y (camera at +Z looking at the origin, so world +X is
        # image left... look_at from +Z flips X): check against the projected centre.
        R, T = look_at_view_transform(4.0, 0.0, 0.0)
        cam = FoVPerspectiveCameras(R=R, T=T)
        sphere = ico_sphere(3)
        sphere = sphere.offset_verts(
            torch.tensor([0.8, 0.6, 0.0]).expand(sphere.verts_packed().shape)
        )
        sphere = sphere.scale_verts(1.0)
        frags = MeshRasterizer(cam, RasterizationSettings(image_size=64))(sphere)
        _, cy, cx = disk_stats(frags.pix_to_face[0, :, :, 0] >= 0)
        centre = cam.transform_points_ndc(torch.tensor([[0.8, 0.6, 0.0]]))[0]
        # column 0 is NDC +X, row 0 is NDC +Y
        assert abs(cx - (1 - centre[0].item()) * 32 + 0.5) < 1.5
        assert abs(cy - (1 - centre[1].item()) * 32 + 0.5) < 1.5

    def test_zbuf_is_view_depth_and_defaults_follow_camera(self):
        R, T = look_at_view_transform(2.5, 10.0, 20.0)
        cam = FoVPerspectiveCameras(R=R, T=T)
        mesh = ico_sphere(2)
        rs = RasterizationSettings(image_size=24, faces_per_pixel=2, blur_radius=1e-3)
        frags = MeshRasterizer(cam, rs)(mesh)
        verts_view = cam.get_world_to_view_transform().transform_points(mesh.verts_padded())
        ndc = cam.transform_points(mesh.verts_padded())
        proj = Meshes(torch.cat((ndc[..., :2], verts_view[..., 2:]), -1), mesh.faces_padded())
        want = rasterize_meshes(
            proj,
            24,
            blur_radius=1e-3,
            faces_per_pixel=2,
            perspective_correct=True,
            clip_barycentric_coords=True,
            z_clip_value=0.5,
        )
        for a, b in zip(frags, want):
            torch.testing.assert_close(a, b)
        # zbuf holds view-space depth: within the sphere's depth range [1.5, 3.5].
        z = frags.zbuf[frags.pix_to_face >= 0]
        assert z.min() > 1.5 - 1e-4 and z.max() < 3.5 + 1e-4

    def test_batch_one_camera_per_mesh_and_overrides(self):
        spheres = join_meshes_as_batch([ico_sphere(3), ico_sphere(2)])
        R, T = look_at_view_transform(torch.tensor([3.0, 5.0]), 0.0, 0.0)
        cams = FoVPerspectiveCameras(R=R, T=T)
        frags = MeshRasterizer(cams, RasterizationSettings(image_size=64))(spheres)
        areas = [(frags.pix_to_face[i, ..., 0] >= 0).sum().item() for i in range(2)]
        for a, d in zip(areas, (3.0, 5.0)):
            r = (1 / math.sqrt(d * d - 1)) / math.tan(math.radians(30.0)) * 32
            assert abs(a - math.pi * r * r) / (math.pi * r * r) < 0.05
        # packed indices: mesh 1's faces come after mesh 0's 1280
        assert (frags.pix_to_face[1][frags.pix_to_face[1] >= 0] >= 1280).all()
        # one camera for both meshes, then a per-call R/T override equal to the second view
        one = FoVPerspectiveCameras(R=R[:1], T=T[:1])
        f1 = MeshRasterizer(one, RasterizationSettings(image_size=64))(spheres)
        assert torch.equal(f1.pix_to_face[0], frags.pix_to_face[0])
        f2 = MeshRasterizer(one, RasterizationSettings(image_size=64))(spheres, R=R, T=T)
        assert torch.equal(f2.pix_to_face, frags.pix_to_face)
        f3 = MeshRasterizer(None, RasterizationSettings(image_size=64))(spheres, cameras=cams)
        assert torch.equal(f3.pix_to_face, frags.pix_to_face)

    def test_rectangular_image(self):
        R, T = look_at_view_transform(3.0, 0.0, 0.0)
        cam = FoVOrthographicCameras(R=R, T=T)
        frags = MeshRasterizer(cam, RasterizationSettings(image_size=(64, 128)))(ico_sphere(3))
        area, cy, cx = disk_stats(frags.pix_to_face[0, :, :, 0] >= 0)
        # NDC [-1, 1] spans the 64 rows: a unit disk is 32 px in radius, centred.
        assert abs(area - math.pi * 32**2) / (math.pi * 32**2) < 0.02
        assert abs(cy - 31.5) < 0.5 and abs(cx - 63.5) < 0.5

    def test_gradcheck(self):
        verts = torch.tensor(
            [[0.5, -0.4, 0.2], [-0.6, -0.3, 0.1], [0.05, 0.62, 0.3]],
            dtype=torch.float64,
            requires_grad=True,
        )
        faces = torch.tensor([[0, 1, 2]])
        R, T = look_at_view_transform(2.0, 5.0, 10.0)
        R = R.double().requires_grad_(True)
        T = T.double().requires_grad_(True)
        rs = RasterizationSettings(image_size=8, blur_radius=0.01, faces_per_pixel=1)

        def f(v, R, T):
            cam = FoVPerspectiveCameras(R=R, T=T, dtype=torch.float64)
            fr = MeshRasterizer(cam, rs)(Meshes([v], [faces]))
            return fr.zbuf, fr.bary_coords, fr.dists

        assert torch.autograd.gradcheck(f, (verts, R, T), atol=1e-6)
