"""PyTorch3D-compatibility checks for cameras and look_at helpers (renderer/cameras.py)."""

from __future__ import annotations

import inspect
import io
import math

import pytest
import torch

# PyTorch3D keeps these two in renderer/camera_utils.py
from inverse3d.renderer.camera_utils import join_cameras_as_batch, rotate_on_spot
from inverse3d.renderer.cameras import (
    CamerasBase,
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    OpenGLOrthographicCameras,
    OpenGLPerspectiveCameras,
    OrthographicCameras,
    PerspectiveCameras,
    SfMOrthographicCameras,
    SfMPerspectiveCameras,
    camera_position_from_spherical_angles,
    get_world_to_view_transform,
    look_at_rotation,
    look_at_view_transform,
)

ALL = [
    FoVPerspectiveCameras,
    FoVOrthographicCameras,
    PerspectiveCameras,
    OrthographicCameras,
]


class TestLookAt:
    def test_signature_defaults(self):
        sig = inspect.signature(look_at_view_transform)
        d = {k: v.default for k, v in sig.parameters.items()}
        assert list(d) == ["dist", "elev", "azim", "degrees", "eye", "at", "up", "device"]
        assert d["dist"] == 1.0 and d["elev"] == 0.0 and d["azim"] == 0.0 and d["degrees"] is True
        assert d["eye"] is None and d["device"] == "cpu"

    def test_default(self):
        R, T = look_at_view_transform()
        assert R.shape == (1, 3, 3) and T.shape == (1, 3)
        assert torch.allclose(R[0], torch.diag(torch.tensor([-1.0, 1.0, -1.0])), atol=1e-6)
        assert torch.allclose(T[0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)

    def test_tutorial_positional(self):
        # render_textured_meshes: look_at_view_transform(2.7, 0, 180) -> camera at z=-2.7
        R, T = look_at_view_transform(2.7, 0, 180)
        assert torch.allclose(R[0], torch.eye(3), atol=1e-6)
        assert torch.allclose(T[0], torch.tensor([0.0, 0.0, 2.7]), atol=1e-6)
        R2, T2 = look_at_view_transform(eye=((0.0, 0.0, -2.7),))
        assert torch.allclose(R2, R, atol=1e-6) and torch.allclose(T2, T, atol=1e-6)

    def test_radians_and_batches(self):
        R1, T1 = look_at_view_transform(dist=2.0, elev=30.0, azim=45.0)
        R2, T2 = look_at_view_transform(dist=2.0, elev=math.pi / 6, azim=math.pi / 4, degrees=False)
        assert torch.allclose(R1, R2, atol=1e-6) and torch.allclose(T1, T2, atol=1e-6)
        elev = torch.linspace(0, 180, 5)
        azim = torch.linspace(-180, 180, 5)
        R, T = look_at_view_transform(dist=2.7, elev=elev, azim=azim)
        assert R.shape == (5, 3, 3) and T.shape == (5, 3)
        # the camera centre -T R^T lies at distance 2.7 from the origin
        C = -torch.bmm(T[:, None], R.transpose(1, 2))[:, 0]
        assert torch.allclose(C.norm(dim=1), torch.full((5,), 2.7), atol=1e-5)

    def test_position_formula(self):
        C = camera_position_from_spherical_angles(2.0, 30.0, 60.0)
        e, a = math.radians(30), math.radians(60)
        want = torch.tensor(
            [[2 * math.cos(e) * math.sin(a), 2 * math.sin(e), 2 * math.cos(e) * math.cos(a)]]
        )
        assert C.shape == (1, 3) and torch.allclose(C, want, atol=1e-6)
        R, T = look_at_view_transform(dist=2.0, elev=30.0, azim=60.0, at=((1.0, 2.0, 3.0),))
        cam = FoVPerspectiveCameras(R=R, T=T)
        assert torch.allclose(
            cam.get_camera_center(), want + torch.tensor([1.0, 2.0, 3.0]), atol=1e-5
        )

    def test_look_at_rotation_tutorial(self):
        # camera_position_optimization: R from look_at_rotation, T = -R^T C
        pos = torch.tensor([3.0, 6.9, 2.5], requires_grad=True)
        R = look_at_rotation(pos[None, :], device="cpu")
        T = -torch.bmm(R.transpose(1, 2), pos[None, :, None])[:, :, 0]
        assert R.shape == (1, 3, 3)
        view = get_world_to_view_transform(R=R, T=T).transform_points(torch.zeros(1, 3))
        # the origin is straight ahead of the camera, at its distance
        assert torch.allclose(view[0, :2], torch.zeros(2), atol=1e-5)
        assert torch.allclose(view[0, 2], pos.norm(), atol=1e-5)
        view.sum().backward()
        assert pos.grad is not None and torch.isfinite(pos.grad).all()

    def test_rotate_on_spot(self):
        R, T = look_at_view_transform(2.0, 10.0, 20.0)
        R2, T2 = rotate_on_spot(R, T, torch.eye(3)[None])
        assert torch.allclose(R2, R) and torch.allclose(T2, T)


class TestCameraClasses:
    @pytest.mark.parametrize("cls", ALL)
    def test_defaults_and_common_methods(self, cls):
        cam = cls()
        assert isinstance(cam, CamerasBase)
        assert len(cam) == 1
        assert cam.R.shape == (1, 3, 3) and cam.T.shape == (1, 3)
        assert torch.equal(cam.R[0], torch.eye(3)) and torch.equal(cam.T[0], torch.zeros(3))
        pts = torch.tensor([[0.1, 0.2, 3.0]])
        assert cam.transform_points(pts).shape == (1, 3)
        assert cam.get_world_to_view_transform().get_matrix().shape == (1, 4, 4)
        assert cam.get_full_projection_transform().get_matrix().shape == (1, 4, 4)
        assert cam.get_camera_center().shape == (1, 3)
        c = cam.clone()
        assert type(c) is cls and c is not cam
        assert cam.to("cpu").device == torch.device("cpu")
        assert cam.in_ndc() is True

    def test_fov_perspective_projection(self):
        cam = FoVPerspectiveCameras(znear=1.0, zfar=10.0, fov=60.0)
        t = math.tan(math.radians(30))
        pts = torch.tensor([[2 * t, -2 * t, 2.0], [0.0, 0.0, 1.0], [0.0, 0.0, 10.0]])
        out = cam.transform_points(pts)
        assert torch.allclose(out[0, :2], torch.tensor([1.0, -1.0]), atol=1e-5)
        # depth maps to [0, 1] between znear and zfar
        assert torch.allclose(out[1:, 2], torch.tensor([0.0, 1.0]), atol=1e-5)
        assert cam.is_perspective() and torch.equal(cam.get_znear(), torch.tensor([1.0]))
        assert cam.znear.shape == (1,) and cam.fov.shape == (1,)
        # fov in radians
        cam2 = FoVPerspectiveCameras(znear=1.0, zfar=10.0, fov=math.pi / 3, degrees=False)
        assert torch.allclose(cam2.transform_points(pts), out, atol=1e-5)
        # projection override at call time (as MeshRasterizer passes kwargs)
        P = cam.get_projection_transform(fov=90.0).get_matrix()
        assert torch.allclose(P[0, 0, 0], torch.tensor(1.0), atol=1e-6)

    def test_fov_orthographic(self):
        cam = FoVOrthographicCameras(
            znear=1.0, zfar=3.0, max_y=2.0, min_y=-2.0, max_x=2.0, min_x=-2.0
        )
        out = cam.transform_points(torch.tensor([[1.0, -2.0, 2.0]]))
        assert torch.allclose(out, torch.tensor([[0.5, -1.0, 0.5]]), atol=1e-6)
        assert not cam.is_perspective()

    def test_perspective_ndc(self):
        cam = PerspectiveCameras(focal_length=2.0, principal_point=((0.1, 0.2),))
        assert cam.focal_length.shape == (1, 2)
        out = cam.transform_points(torch.tensor([[1.0, 1.0, 2.0]]))
        assert torch.allclose(out, torch.tensor([[1.1, 1.2, 0.5]]), atol=1e-6)
        assert cam.get_znear() is None and cam.get_image_size() is None
        with pytest.raises(ValueError):
            cam.transform_points_screen(torch.tensor([[1.0, 1.0, 2.0]]))
        scr = cam.transform_points_screen(torch.tensor([[1.0, 1.0, 2.0]]), image_size=((20, 40),))
        # x_screen = W/2 - s x_ndc, y_screen = H/2 - s y_ndc with s = min(H, W)/2
        assert torch.allclose(scr, torch.tensor([[20 - 10 * 1.1, 10 - 10 * 1.2, 0.5]]), atol=1e-5)

    def test_perspective_screen_space(self):
        # chap1/camera: fx, fy, px, py in pixels with in_ndc=False and (H, W) image size
        cam = PerspectiveCameras(
            focal_length=((1200.0, 300.0),),
            principal_point=((512.0, 256.0),),
            in_ndc=False,
            image_size=((512, 1024),),
        )
        pts = torch.tensor([[50.0, -50.0, 10.0]])
        full = cam.get_full_projection_transform().transform_points(pts)
        assert torch.allclose(
            full, torch.tensor([[1200 * 5 + 512.0, -300 * 5 + 256.0, 0.1]]), atol=1e-3
        )
        assert cam.in_ndc() is False
        ndc = cam.transform_points_ndc(pts)
        scr = cam.transform_points_screen(pts)
        # PyTorch3D mirrors the view-space offsets: x_screen = px - fx X / Z
        assert torch.allclose(scr[..., :2], torch.tensor([[512 - 6000.0, 256 + 1500.0]]), atol=1e-3)
        assert ndc.shape == (1, 3)

    def test_orthographic(self):
        cam = OrthographicCameras(focal_length=2.0, principal_point=((0.5, 0.0),))
        out = cam.transform_points(torch.tensor([[1.0, 1.0, 4.0]]))
        assert torch.allclose(out, torch.tensor([[2.5, 2.0, 4.0]]), atol=1e-6)

    def test_unproject_roundtrip(self):
        R, T = look_at_view_transform(3.0, 20.0, 30.0)
        cam = FoVPerspectiveCameras(R=R, T=T)
        pts = torch.rand(1, 10, 3) * 0.5
        proj = cam.transform_points(pts)
        depth = cam.get_world_to_view_transform().transform_points(pts)[..., 2:]
        xy_depth = torch.cat([proj[..., :2], depth], -1)
        back = cam.unproject_points(xy_depth, world_coordinates=True)
        assert torch.allclose(back, pts, atol=1e-4)

    def test_batched_tensor_props_and_indexing(self):
        R, T = look_at_view_transform(2.7, torch.linspace(0, 90, 4), 0.0)
        cams = FoVPerspectiveCameras(R=R, T=T, device="cpu")
        assert len(cams) == 4 and cams.znear.shape == (4,) and cams.fov.shape == (4,)
        idx = torch.tensor([0, 2])
        # fit_simple_neural_radiance_field rebuilds a minibatch from the attributes
        sub = FoVPerspectiveCameras(
            R=cams.R[idx],
            T=cams.T[idx],
            znear=cams.znear[idx],
            zfar=cams.zfar[idx],
            aspect_ratio=cams.aspect_ratio[idx],
            fov=cams.fov[idx],
            device="cpu",
        )
        assert len(sub) == 2
        # ... and single cameras from 0-dim tensors
        one = FoVPerspectiveCameras(
            R=R[None, 1], T=T[None, 1], znear=cams.znear[0], fov=cams.fov[0], device="cpu"
        )
        assert len(one) == 1
        assert type(cams[1]) is FoVPerspectiveCameras and len(cams[1]) == 1
        assert torch.equal(cams[[1, 3]].R, R[[1, 3]])
        assert torch.equal(cams[idx].T, T[idx])
        assert len(cams[torch.tensor([True, False, True, False])]) == 2
        # PyTorch3D: IndexError out of bounds, ValueError for an invalid index type
        with pytest.raises(IndexError):
            cams[10]
        with pytest.raises(ValueError):
            cams[torch.tensor([1.0, 2.0])]
        with pytest.raises(ValueError):
            cams[torch.tensor([True, False])]
        with pytest.raises(ValueError):
            cams[1.5]
        # every attribute survives indexing
        assert cams[0].__dict__.keys() == cams.__dict__.keys()

    def test_join(self):
        a = PerspectiveCameras(focal_length=1.0)
        b = PerspectiveCameras(focal_length=2.0)
        j = join_cameras_as_batch([a, b])
        assert len(j) == 2 and j.focal_length[:, 0].tolist() == [1.0, 2.0]
        with pytest.raises(ValueError):
            join_cameras_as_batch([a, FoVPerspectiveCameras()])

    def test_deprecated_aliases(self):
        with pytest.warns((PendingDeprecationWarning, DeprecationWarning)):
            c = SfMPerspectiveCameras(focal_length=2.0, R=torch.eye(3)[None], T=torch.zeros(1, 3))
        assert isinstance(c, PerspectiveCameras)
        with pytest.warns((PendingDeprecationWarning, DeprecationWarning)):
            assert isinstance(OpenGLPerspectiveCameras(), FoVPerspectiveCameras)
        with pytest.warns((PendingDeprecationWarning, DeprecationWarning)):
            assert isinstance(OpenGLOrthographicCameras(), FoVOrthographicCameras)
        with pytest.warns((PendingDeprecationWarning, DeprecationWarning)):
            assert isinstance(SfMOrthographicCameras(), OrthographicCameras)

    def test_bundle_adjustment_pattern(self):
        # relative cameras from composed world-to-view transforms
        from inverse3d.transforms.so3 import so3_exp_map, so3_relative_angle

        log_R = torch.randn(4, 3, requires_grad=True)
        Tabs = torch.randn(4, 3, requires_grad=True)
        with pytest.warns((PendingDeprecationWarning, DeprecationWarning)):
            cams = SfMPerspectiveCameras(R=so3_exp_map(log_R), T=Tabs, device="cpu")
        edges = torch.tensor([[0, 1], [1, 2], [2, 3]])
        ti = cams[edges[:, 0]].get_world_to_view_transform()
        tj = cams[edges[:, 1]].get_world_to_view_transform()
        rel = ti.inverse().compose(tj).get_matrix()
        with pytest.warns((PendingDeprecationWarning, DeprecationWarning)):
            rel_cams = SfMPerspectiveCameras(R=rel[:, :3, :3], T=rel[:, 3, :3], device="cpu")
        loss = (1.0 - so3_relative_angle(rel_cams.R, cams.R[:3], cos_angle=True)).mean()
        loss = loss + ((rel_cams.T - cams.T[:3]) ** 2).sum(1).mean()
        loss.backward()
        assert log_R.grad is not None and Tabs.grad is not None

    def test_pickle_and_torch_save(self):
        cam = FoVPerspectiveCameras(R=torch.eye(3)[None], T=torch.ones(1, 3))
        buf = io.BytesIO()
        torch.save({"cameras": cam}, buf)
        buf.seek(0)
        back = torch.load(buf, weights_only=False)["cameras"]
        assert torch.equal(back.T, cam.T) and type(back) is FoVPerspectiveCameras

    def test_K_matrix(self):
        K = torch.zeros(1, 4, 4)
        K[0, 0, 0] = K[0, 1, 1] = 2.0
        K[0, 3, 2] = K[0, 2, 3] = 1.0
        cam = PerspectiveCameras(K=K)
        out = cam.transform_points(torch.tensor([[1.0, 1.0, 2.0]]))
        assert torch.allclose(out, torch.tensor([[1.0, 1.0, 0.5]]), atol=1e-6)


def test_projection_matrices_are_transposed_K():
    # PyTorch3D returns Transform3d(matrix=K^T) for the column-vector calibration matrix K
    c = FoVPerspectiveCameras(znear=0.5, zfar=10.0, fov=60.0, aspect_ratio=1.5)
    M = c.get_projection_transform().get_matrix()[0]
    max_y = 0.5 * math.tan(math.radians(30))
    K = torch.zeros(4, 4)
    K[0, 0] = 0.5 / (max_y * 1.5)
    K[1, 1] = 0.5 / max_y
    K[2, 2] = 10.0 / 9.5
    K[2, 3] = -5.0 / 9.5
    K[3, 2] = 1.0
    assert torch.allclose(M, K.T, atol=1e-6)
    o = FoVOrthographicCameras(znear=1.0, zfar=3.0, scale_xyz=((2.0, 1.0, 1.0),))
    Mo = o.get_projection_transform().get_matrix()[0]
    assert torch.allclose(Mo.diagonal(), torch.tensor([2.0, 1.0, 0.5, 1.0]))
    assert torch.allclose(Mo[3, 2], torch.tensor(-0.5))
    p = PerspectiveCameras(focal_length=((2.0, 3.0),), principal_point=((0.1, 0.2),))
    Mp = p.get_projection_transform().get_matrix()[0]
    assert torch.allclose(Mp[2], torch.tensor([0.1, 0.2, 0.0, 1.0]))
    assert torch.allclose(Mp[3], torch.tensor([0.0, 0.0, 1.0, 0.0]))


def test_opencv_conversion_projects_like_a_pinhole():
    # pixel = K (R X + t), dehomogenised: what cv2.projectPoints computes without distortion
    from inverse3d.transforms import random_rotations
    from inverse3d.utils import cameras_from_opencv_projection, opencv_from_cameras_projection

    R = random_rotations(2)
    tvec = torch.tensor([[0.1, -0.2, 4.0], [0.3, 0.1, 5.0]])
    K = torch.tensor([[[500.0, 0, 310], [0, 520, 250], [0, 0, 1]]]).repeat(2, 1, 1)
    image_size = torch.tensor([[480, 640], [480, 640]])
    X = torch.rand(2, 7, 3) - 0.5
    Xc = X @ R.transpose(1, 2) + tvec[:, None]
    uv = Xc @ K.transpose(1, 2)
    uv = uv[..., :2] / uv[..., 2:]
    cams = cameras_from_opencv_projection(R, tvec, K, image_size)
    assert isinstance(cams, PerspectiveCameras)
    scr = cams.transform_points_screen(X)
    assert torch.allclose(scr[..., :2], uv, atol=1e-3)
    R2, t2, K2 = opencv_from_cameras_projection(cams, image_size)
    assert torch.allclose(R2, R, atol=1e-5) and torch.allclose(t2, tvec, atol=1e-5)
    assert torch.allclose(K2, K, atol=1e-3)


def test_small_pytorch3d_helpers():
    from inverse3d.renderer.cameras import try_get_projection_transform
    from inverse3d.renderer.utils import parse_image_size

    assert parse_image_size(64) == (64, 64)
    assert parse_image_size((32, 48)) == (32, 48)
    assert parse_image_size([32, 48]) == (32, 48)
    for bad in ((1, 2, 3), (0, 4), (2.5, 4)):
        with pytest.raises(ValueError):
            parse_image_size(bad)
    cam = FoVPerspectiveCameras()
    P = try_get_projection_transform(cam, {})
    assert torch.equal(P.get_matrix(), cam.get_projection_transform().get_matrix())
    assert try_get_projection_transform(CamerasBase(), {}) is None
