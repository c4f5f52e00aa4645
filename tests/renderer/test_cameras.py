"""Tests of renderer/cameras.py: golden values, analytic conventions, round trips, bad input."""

from __future__ import annotations

import math
import re

import pytest
import torch

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
    get_ndc_to_screen_transform,
    get_screen_to_ndc_transform,
    get_world_to_view_transform,
    look_at_rotation,
    look_at_view_transform,
)
from inverse3d.transforms.rotation_conversions import euler_angles_to_matrix, random_rotations

F64 = torch.float64


def _read_obj_vertices(path) -> torch.Tensor:
    verts = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "v":
            verts.append([float(x) for x in parts[1:4]])
    return torch.tensor(verts, dtype=F64)


def _parse_tensor_block(text: str) -> torch.Tensor:
    nums = re.findall(r"-?\d+\.\d+(?:e[-+]\d+)?", text)
    return torch.tensor([float(x) for x in nums], dtype=F64)


def _printed_tolerance(text: str) -> torch.Tensor:
    """Half a unit in the last printed digit of every number in `text`."""
    tols = []
    for num in re.findall(r"-?\d+\.\d+(?:e[-+]\d+)?", text):
        mant, _, exp = num.partition("e")
        decimals = len(mant.split(".")[1])
        tols.append(0.5 * 10.0 ** (-decimals + (int(exp) if exp else 0)))
    return torch.tensor(tols, dtype=F64)


def _random_cameras(cls, N=3, dtype=F64, **kwargs):
    R = random_rotations(N, dtype=dtype)
    T = torch.randn(N, 3, dtype=dtype) * 0.3 + torch.tensor([0.0, 0.0, 6.0], dtype=dtype)
    return cls(R=R, T=T, dtype=dtype, **kwargs)


def _points(N=3, P=7, dtype=F64):
    return torch.randn(N, P, 3, dtype=dtype)


class TestGoldenBookCameras:
    """chap1/camera/camera_output.txt: the book's screen-space PerspectiveCameras example.

    Set-up (inferred from the printed values, exact to printed precision): n = -4..3,
    R_n = euler_angles_to_matrix(radians([n, n, 5 n]), "XYZ") (equivalently the transpose of
    euler "ZYX" [-5n, -n, -n] degrees), T_n = [n, 0, 0], focal (1200, 300), principal point
    (512, 256), in_ndc=False, image_size (1024, 512). The printed screen values are
    get_full_projection_transform().transform_points(verts) (x = fx X/Z + px, z = 1/Z).
    """

    def test_matches_reference(self, book_dir):
        txt = (book_dir / "chap1/camera/camera_output.txt").read_text()
        verts = _read_obj_vertices(book_dir / "chap1/camera/cube.obj")
        view_txt = txt.split("world_to_view_vertices")[1].split("world_to_screen_vertices")[0]
        screen_txt = txt.split("world_to_screen_vertices")[1]
        view_ref = _parse_tensor_block(view_txt).reshape(8, 8, 3)
        screen_ref = _parse_tensor_block(screen_txt).reshape(8, 8, 3)
        n = torch.arange(-4, 4, dtype=F64)
        R = euler_angles_to_matrix(torch.stack([n, n, 5 * n], 1) * math.pi / 180, "XYZ")
        T = torch.stack([n, torch.zeros_like(n), torch.zeros_like(n)], 1)
        cams = PerspectiveCameras(
            focal_length=torch.tensor([[1200.0, 300.0]], dtype=F64),
            principal_point=torch.tensor([[512.0, 256.0]], dtype=F64),
            in_ndc=False,
            image_size=((1024, 512),),
            R=R,
            T=T,
            dtype=F64,
        )
        pts = verts[None].expand(8, -1, -1)
        view = cams.get_world_to_view_transform().transform_points(pts)
        screen = cams.get_full_projection_transform().transform_points(pts)
        assert torch.allclose(cams.transform_points(pts), screen)
        # half a unit of the last printed digit, plus the float32 rounding of the book's run
        view_tol = _printed_tolerance(view_txt).reshape(8, 8, 3) + 4e-7 * view_ref.abs().amax()
        screen_tol = _printed_tolerance(screen_txt).reshape(8, 8, 3) + 1e-6 * screen_ref.abs()
        assert ((view - view_ref).abs() <= view_tol).all()
        assert ((screen - screen_ref).abs() <= screen_tol).all()
        # transform_points_screen mirrors x, y about the principal point (+X of view is left)
        ss = cams.transform_points_screen(pts)
        assert torch.allclose(ss[..., 0], 2 * 512 - screen[..., 0])
        assert torch.allclose(ss[..., 1], 2 * 256 - screen[..., 1])


class TestLookAtViewTransform:
    def test_camera_centre_formula(self):
        dist = torch.tensor([2.0, 3.0, 1.5], dtype=F64)
        elev = torch.tensor([10.0, -30.0, 60.0], dtype=F64)
        azim = torch.tensor([0.0, 45.0, 200.0], dtype=F64)
        at = torch.tensor([[0.1, 0.2, -0.3]], dtype=F64)
        R, T = look_at_view_transform(dist, elev, azim, at=at)
        e, a = elev * math.pi / 180, azim * math.pi / 180
        expected = at + dist[:, None] * torch.stack(
            [torch.cos(e) * torch.sin(a), torch.sin(e), torch.cos(e) * torch.cos(a)], 1
        )
        cams = FoVPerspectiveCameras(R=R, T=T, dtype=F64)
        assert torch.allclose(cams.get_camera_center(), expected, atol=1e-10)
        # `at` is straight ahead at distance dist, the world up projects to view +Y
        at_view = cams.get_world_to_view_transform().transform_points(at.expand(3, 3)[:, None])
        assert torch.allclose(at_view[:, 0], torch.stack([0 * dist, 0 * dist, dist], 1))

    def test_orthonormal(self):
        R, _ = look_at_view_transform(2.0, torch.linspace(-80, 80, 9), torch.linspace(0, 350, 9))
        eye = torch.eye(3).expand(9, 3, 3)
        assert torch.allclose(R.transpose(1, 2) @ R, eye, atol=1e-6)
        assert torch.allclose(torch.linalg.det(R), torch.ones(9), atol=1e-6)

    def test_eye_and_up_convention(self):
        R, T = look_at_view_transform(eye=((0.0, 0.0, 5.0),))
        # camera on +z looking at the origin: view +X is world -X (left), +Y up, +Z is -z
        assert torch.allclose(R, torch.diag(torch.tensor([-1.0, 1.0, -1.0]))[None], atol=1e-6)
        assert torch.allclose(T, torch.tensor([[0.0, 0.0, 5.0]]), atol=1e-6)
        R0, T0 = look_at_view_transform(dist=5.0)
        assert torch.allclose(R, R0, atol=1e-6) and torch.allclose(T, T0, atol=1e-6)

    def test_degenerate_up(self):
        R, _ = look_at_view_transform(2.0, 90.0, 0.0)  # looking straight down along up
        assert torch.isfinite(R).all()
        assert torch.allclose(R[0].T @ R[0], torch.eye(3), atol=1e-5)

    def test_camera_position_from_spherical_angles(self):
        pos = camera_position_from_spherical_angles(
            2.0, torch.tensor([0.0, 90.0, 0.0]), torch.tensor([90.0, 0.0, 0.0])
        )
        expected = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
        assert torch.allclose(pos, expected, atol=1e-6)
        rad = camera_position_from_spherical_angles(1.0, 0.0, math.pi / 2, degrees=False)
        assert torch.allclose(rad, torch.tensor([[1.0, 0.0, 0.0]]), atol=1e-6)

    def test_look_at_rotation_shapes(self):
        R = look_at_rotation(torch.randn(4, 3) + 3.0)
        assert R.shape == (4, 3, 3)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="batch size"):
            look_at_view_transform(dist=torch.ones(2), elev=torch.ones(3))
        with pytest.raises(ValueError, match="camera_position"):
            look_at_rotation(torch.ones(2, 2))

    def test_gradcheck(self):
        dist = torch.tensor([2.0], dtype=F64, requires_grad=True)
        elev = torch.tensor([20.0], dtype=F64, requires_grad=True)
        azim = torch.tensor([30.0], dtype=F64, requires_grad=True)
        assert torch.autograd.gradcheck(
            lambda d, e, a: look_at_view_transform(d, e, a), (dist, elev, azim)
        )


ALL_CLASSES = [
    (FoVPerspectiveCameras, {}),
    (FoVPerspectiveCameras, {"fov": 40.0, "aspect_ratio": 1.5, "znear": 0.5, "zfar": 20.0}),
    (FoVOrthographicCameras, {"max_x": 2.0, "min_x": -1.0, "scale_xyz": ((0.5, 2.0, 1.0),)}),
    (PerspectiveCameras, {"focal_length": ((1.5, 2.0),), "principal_point": ((0.1, -0.2),)}),
    (
        PerspectiveCameras,
        {
            "focal_length": 40.0,
            "principal_point": ((20.0, 12.0),),
            "in_ndc": False,
            "image_size": ((30, 50),),
        },
    ),
    (OrthographicCameras, {"focal_length": 0.4, "principal_point": ((0.1, 0.3),)}),
    (
        OrthographicCameras,
        {
            "focal_length": ((3.0, 4.0),),
            "principal_point": ((25.0, 10.0),),
            "in_ndc": False,
            "image_size": ((40, 30),),
        },
    ),
]


def _unproject(cams, xy, depth, **kw):
    xy_depth = torch.cat([xy, depth], dim=-1)
    return cams.unproject_points(xy_depth, **kw)


class TestUnprojectPoints:
    @pytest.mark.parametrize("cls,kwargs", ALL_CLASSES)
    def test_round_trip(self, cls, kwargs):
        cams = _random_cameras(cls, **kwargs)
        pts = _points()
        view = cams.get_world_to_view_transform().transform_points(pts)
        proj = cams.transform_points(pts)
        depth = view[..., 2:3]
        if isinstance(cams, (FoVPerspectiveCameras, FoVOrthographicCameras)):
            back = _unproject(cams, proj[..., :2], depth)
            assert torch.allclose(back, pts, atol=1e-8)
            back = cams.unproject_points(proj, scaled_depth_input=True, world_coordinates=False)
            assert torch.allclose(back, view, atol=1e-8)
        else:
            back = _unproject(cams, proj[..., :2], depth)
            assert torch.allclose(back, pts, atol=1e-8)
            back = _unproject(cams, proj[..., :2], depth, world_coordinates=False)
            assert torch.allclose(back, view, atol=1e-8)
            ndc = cams.transform_points_ndc(pts)
            back = _unproject(cams, ndc[..., :2], depth, from_ndc=True)
            assert torch.allclose(back, pts, atol=1e-8)

    @pytest.mark.parametrize("cls,kwargs", ALL_CLASSES)
    def test_ndc_screen_consistency(self, cls, kwargs):
        """screen = (W/2 - s x_ndc, H/2 - s y_ndc), s = min(H, W)/2 for rectangular images."""
        cams = _random_cameras(cls, **kwargs)
        H, W = (30, 50) if "image_size" not in kwargs else kwargs["image_size"][0]
        pts = _points()
        ndc = cams.transform_points_ndc(pts)
        scr = cams.transform_points_screen(pts, image_size=(H, W))
        s = min(H, W) / 2
        assert torch.allclose(scr[..., 0], W / 2 - s * ndc[..., 0])
        assert torch.allclose(scr[..., 1], H / 2 - s * ndc[..., 1])
        assert torch.allclose(scr[..., 2], ndc[..., 2])
        flip = cams.transform_points_screen(pts, image_size=(H, W), with_xyflip=False)
        assert torch.allclose(flip[..., :2], -scr[..., :2])

    def test_is_perspective_and_ndc(self):
        assert FoVPerspectiveCameras().is_perspective()
        assert not FoVOrthographicCameras().is_perspective()
        assert PerspectiveCameras().is_perspective() and PerspectiveCameras().in_ndc()
        assert not OrthographicCameras(in_ndc=False, image_size=((4, 4),)).in_ndc()
        assert FoVPerspectiveCameras(znear=0.3).get_znear().item() == pytest.approx(0.3)
        assert PerspectiveCameras().get_znear() is None
        assert PerspectiveCameras().get_image_size() is None


class TestConventions:
    def test_fov_depth_range(self):
        cams = FoVPerspectiveCameras(znear=0.5, zfar=7.0, fov=60.0)
        pts = torch.tensor([[[0.0, 0.0, 0.5], [0.1, -0.2, 7.0], [0.0, 0.0, 2.0]]])
        z = cams.transform_points(pts)[0, :, 2]
        assert torch.allclose(z[:2], torch.tensor([0.0, 1.0]), atol=1e-6)
        assert z[2] == pytest.approx(7.0 / 6.5 * (1 - 0.5 / 2.0), abs=1e-6)
        ortho = FoVOrthographicCameras(znear=0.5, zfar=7.0)
        zo = ortho.transform_points(pts)[0, :, 2]
        assert torch.allclose(zo, torch.tensor([0.0, 1.0, 1.5 / 6.5]), atol=1e-6)

    def test_fov_hand_points(self):
        # fov 90: tan(45) = 1, so view (1, 0, 1) is NDC x = +1, the left edge of a square image
        cams = FoVPerspectiveCameras(fov=90.0)
        pts = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 1.0, 2.0], [-0.5, -0.25, 1.0]]])
        ndc = cams.transform_points_ndc(pts)[0]
        assert torch.allclose(ndc[:, :2], torch.tensor([[1.0, 0.0], [0.0, 0.5], [-0.5, -0.25]]))
        scr = cams.transform_points_screen(pts, image_size=((10, 10),))[0]
        # +X left -> column 0 side; +Y up -> row 0 side
        assert torch.allclose(scr[:, :2], torch.tensor([[0.0, 5.0], [5.0, 2.5], [7.5, 6.25]]))
        # rectangular H=10, W=20: NDC +-1 spans the 10 rows; x range is [-2, 2]
        scr = cams.transform_points_screen(pts, image_size=((10, 20),))[0]
        assert torch.allclose(scr[:, :2], torch.tensor([[5.0, 5.0], [10.0, 2.5], [12.5, 6.25]]))
        scr = cams.transform_points_screen(pts, image_size=((20, 10),))[0]
        assert torch.allclose(scr[:, :2], torch.tensor([[0.0, 10.0], [5.0, 7.5], [7.5, 11.25]]))

    def test_pixel_centres(self):
        # the centre of pixel (row 0, col 0) of an 8x8 image is NDC (7/8, 7/8) -> (0.5, 0.5)
        cams = PerspectiveCameras()
        pt = torch.tensor([[[7 / 8, 7 / 8, 1.0], [-7 / 8, -7 / 8, 1.0]]])
        scr = cams.transform_points_screen(pt, image_size=(8, 8))[0]
        assert torch.allclose(scr[:, :2], torch.tensor([[0.5, 0.5], [7.5, 7.5]]))

    def test_screen_space_perspective(self):
        cams = PerspectiveCameras(
            focal_length=((100.0, 50.0),),
            principal_point=((30.0, 20.0),),
            in_ndc=False,
            image_size=((40, 64),),
        )
        pts = torch.tensor([[[0.0, 0.0, 2.0], [0.2, 0.4, 2.0]]])
        raw = cams.transform_points(pts)[0]
        assert torch.allclose(raw, torch.tensor([[30.0, 20.0, 0.5], [40.0, 30.0, 0.5]]))
        scr = cams.transform_points_screen(pts)[0]
        # X > 0 (left) lands left of the principal point, Y > 0 (up) above it
        assert torch.allclose(scr, torch.tensor([[30.0, 20.0, 0.5], [20.0, 10.0, 0.5]]))
        ndc = cams.transform_points_ndc(pts)[0]
        # s = 20: principal point column 30 of 64 -> x_ndc = (32 - 30) / 20
        assert torch.allclose(ndc[0, :2], torch.tensor([0.1, 0.0]))
        assert torch.allclose(cams.get_principal_point(), torch.tensor([[30.0, 20.0]]))

    def test_ndc_perspective_formula(self):
        cams = PerspectiveCameras(focal_length=((2.0, 3.0),), principal_point=((0.1, 0.2),))
        out = cams.transform_points(torch.tensor([[[1.0, 2.0, 4.0]]]))
        assert torch.allclose(out, torch.tensor([[[0.6, 1.7, 0.25]]]))
        ortho = OrthographicCameras(focal_length=((2.0, 3.0),), principal_point=((0.1, 0.2),))
        out = ortho.transform_points(torch.tensor([[[1.0, 2.0, 4.0]]]))
        assert torch.allclose(out, torch.tensor([[[2.1, 6.2, 4.0]]]))


class TestCameraMethods:
    def test_get_camera_center(self):
        cams = _random_cameras(PerspectiveCameras, N=4)
        C = cams.get_camera_center()
        view = cams.get_world_to_view_transform().transform_points(C[:, None])
        assert torch.allclose(view, torch.zeros_like(view), atol=1e-10)

    def test_getitem(self):
        cams = _random_cameras(
            PerspectiveCameras,
            N=4,
            focal_length=torch.rand(4, 2, dtype=F64),
            in_ndc=False,
            image_size=((10, 20),),
        )
        one = cams[2]
        assert isinstance(one, PerspectiveCameras) and len(one) == 1 and not one.in_ndc()
        assert torch.equal(one.R, cams.R[2:3]) and torch.equal(
            one.focal_length, cams.focal_length[2:3]
        )
        assert torch.equal(one.image_size, cams.image_size[2:3])
        sub = cams[[0, 3]]
        assert torch.equal(sub.T, cams.T[[0, 3]])
        sub = cams[torch.tensor([True, False, True, False])]
        assert torch.equal(sub.T, cams.T[[0, 2]])
        sub = cams[torch.tensor([1, 2])]
        pts = _points(N=2)
        assert torch.allclose(
            sub.transform_points(pts),
            cams.transform_points(torch.cat([pts[:1], pts, pts[:1]]))[1:3],
        )
        fov = FoVPerspectiveCameras(fov=torch.tensor([30.0, 40.0]), degrees=True)[1]
        assert fov.fov.item() == 40.0 and fov.degrees is True
        with pytest.raises(IndexError):
            cams[7]

    def test_overrides(self):
        cams = _random_cameras(FoVPerspectiveCameras, N=2)
        other = _random_cameras(FoVPerspectiveCameras, N=2, fov=35.0)
        R0 = cams.R.clone()
        pts = _points(N=2)
        out = cams.transform_points(pts, R=other.R, T=other.T, fov=35.0)
        assert torch.allclose(out, other.transform_points(pts))
        assert torch.equal(cams.R, R0)  # the camera itself is unchanged
        assert torch.allclose(
            cams.get_camera_center(R=other.R, T=other.T), other.get_camera_center()
        )
        p = PerspectiveCameras(focal_length=2.0)
        q = PerspectiveCameras(focal_length=3.0)
        pts = _points(N=1, dtype=torch.float32)
        assert torch.allclose(p.transform_points(pts, focal_length=3.0), q.transform_points(pts))
        K = q.get_projection_transform().get_matrix().transpose(1, 2)
        assert torch.allclose(p.transform_points(pts, K=K), q.transform_points(pts))

    def test_clone(self):
        cams = _random_cameras(PerspectiveCameras, in_ndc=False, image_size=((10, 20),))
        c2 = cams.clone()
        assert type(c2) is PerspectiveCameras and not c2.in_ndc() and len(c2) == 3
        c2.R[0] = 0
        assert not torch.equal(cams.R[0], c2.R[0])

    def test_deprecated(self):
        with pytest.warns(PendingDeprecationWarning):
            c = OpenGLPerspectiveCameras(fov=45.0)
        assert isinstance(c, FoVPerspectiveCameras) and c.fov.item() == 45.0
        with pytest.warns(PendingDeprecationWarning):
            c = OpenGLOrthographicCameras(top=2.0, left=-3.0)
        assert isinstance(c, FoVOrthographicCameras) and c.max_y.item() == 2.0
        assert c.min_x.item() == -3.0
        with pytest.warns(PendingDeprecationWarning):
            assert isinstance(SfMPerspectiveCameras(), PerspectiveCameras)
        with pytest.warns(PendingDeprecationWarning):
            assert isinstance(SfMOrthographicCameras(), OrthographicCameras)

    @pytest.mark.parametrize("flip", [True, False])
    def test_ndc_screen_transforms_are_inverse(self, flip):
        cams = PerspectiveCameras(R=random_rotations(2))
        size = ((10, 20), (30, 7))
        a = get_ndc_to_screen_transform(cams, with_xyflip=flip, image_size=size).get_matrix()
        b = get_screen_to_ndc_transform(cams, with_xyflip=flip, image_size=size).get_matrix()
        assert torch.allclose(a @ b, torch.eye(4).expand(2, 4, 4), atol=1e-6)
        # NDC (1, 1) (top-left of the shorter side) -> screen (W/2 - s, H/2 - s)
        p = torch.tensor([[1.0, 1.0, 3.0]])
        out = get_ndc_to_screen_transform(cams, True, size).transform_points(
            p[None].expand(2, 1, 3)
        )
        assert torch.allclose(out[:, 0], torch.tensor([[5.0, 0.0, 3.0], [0.0, 11.5, 3.0]]))

    def test_get_world_to_view_transform(self):
        R = random_rotations(2, dtype=F64)
        T = torch.randn(2, 3, dtype=F64)
        pts = _points(N=2)
        out = get_world_to_view_transform(R, T, dtype=F64).transform_points(pts)
        assert torch.allclose(out, pts @ R + T[:, None])

    def test_gradcheck(self):
        R = random_rotations(1, dtype=F64).requires_grad_()
        T = torch.tensor([[0.1, -0.2, 5.0]], dtype=F64, requires_grad=True)
        f = torch.tensor([[1.5, 2.0]], dtype=F64, requires_grad=True)
        pts = _points(N=1, P=4).requires_grad_()

        def fn(R, T, f, pts):
            cams = PerspectiveCameras(focal_length=f, R=R, T=T, image_size=((6, 8),), dtype=F64)
            return cams.transform_points_screen(pts)

        assert torch.autograd.gradcheck(fn, (R, T, f, pts))
        fov = torch.tensor([50.0], dtype=F64, requires_grad=True)

        def fn2(fov, pts):
            cams = FoVPerspectiveCameras(fov=fov, R=R.detach(), T=T.detach(), dtype=F64)
            return cams.transform_points(pts)

        assert torch.autograd.gradcheck(fn2, (fov, pts))


class TestExceptions:
    def test_batch_mismatch(self):
        with pytest.raises(ValueError, match="R has batch size 2.*T: 3"):
            PerspectiveCameras(R=random_rotations(2), T=torch.zeros(3, 3))
        with pytest.raises(ValueError, match="focal_length"):
            PerspectiveCameras(R=random_rotations(2), focal_length=torch.ones(3))

    def test_bad_R(self):
        with pytest.raises(ValueError, match=r"R to have shape \(N, 3, 3\)"):
            FoVPerspectiveCameras(R=torch.zeros(1, 3, 4))
        with pytest.raises(ValueError, match=r"T to have shape \(N, 3\)"):
            FoVPerspectiveCameras(T=torch.zeros(1, 4))
        with pytest.raises(ValueError, match="R to have shape"):
            get_world_to_view_transform(torch.zeros(3, 3), torch.zeros(1, 3))
        with pytest.raises(ValueError, match="R to have shape"):
            FoVPerspectiveCameras().transform_points(torch.zeros(1, 2, 3), R=torch.eye(3))

    def test_bad_image_size(self):
        with pytest.raises(ValueError, match="image_size"):
            PerspectiveCameras(in_ndc=False, image_size=((0, 10),))
        with pytest.raises(ValueError, match="image_size"):
            PerspectiveCameras().transform_points_screen(torch.zeros(1, 2, 3), image_size=(-1, 4))

    def test_screen_camera_without_image_size(self):
        cams = PerspectiveCameras(focal_length=10.0, in_ndc=False)
        pts = torch.tensor([[[0.0, 0.0, 2.0]]])
        cams.transform_points(pts)  # the raw projection needs no image size
        with pytest.raises(ValueError, match="image_size"):
            cams.transform_points_ndc(pts)
        with pytest.raises(ValueError, match="image_size"):
            PerspectiveCameras().transform_points_screen(pts)

    def test_bad_K(self):
        with pytest.raises(ValueError, match="K to have shape"):
            PerspectiveCameras(K=torch.eye(3)[None])

    def test_abstract_base(self):
        with pytest.raises(NotImplementedError):
            CamerasBase(R=torch.eye(3)[None], T=torch.zeros(1, 3)).get_projection_transform()


class TestDevice:
    """Everything follows the camera's device (CUDA runs on the GPU machine only)."""

    @pytest.mark.parametrize("cls,kwargs", ALL_CLASSES)
    def test_transform_and_unproject(self, device, cls, kwargs):
        cams = _random_cameras(cls, dtype=torch.float32, **kwargs)
        pts = _points(dtype=torch.float32)
        ref = cams.transform_points_screen(pts, image_size=(30, 50))
        cams_d = cams.clone().to(device)
        assert cams_d.R.device.type == device.type
        out = cams_d.transform_points_screen(pts.to(device), image_size=(30, 50))
        assert out.device.type == device.type
        assert torch.allclose(out.cpu(), ref, rtol=1e-4, atol=1e-3)
        R, T = look_at_view_transform(2.0, 10.0, 20.0, device=device)
        assert R.device.type == device.type and T.device.type == device.type
        cam = cls(R=R, T=T, device=device, **kwargs)
        assert cam.get_camera_center().device.type == device.type
