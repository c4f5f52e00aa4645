"""ops.silhouette_init: mask boxes, the box triangulated from silhouettes (recovers a known box
from rendered masks to 1% of its size), the moment-matched ellipsoid (exact under orthographic
cameras, 1% under perspective ones), the sphere level, and ops.hull_mesh."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.ops.hull_mesh import blur_volume, occupancy_mesh
from inverse3d.ops.silhouette_init import (
    mask_bboxes,
    silhouette_box,
    silhouette_ellipsoid,
    silhouette_moments,
    silhouette_perimeters,
    silhouette_sphere,
    silhouette_sphere_level,
    silhouette_windows,
    square_windows,
)
from inverse3d.ops.visual_hull import visual_hull_grid_points
from inverse3d.renderer.cameras import (
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    PerspectiveCameras,
)
from inverse3d.renderer.look_at import look_at_view_transform
from inverse3d.renderer.mesh.render_views import render_mesh_silhouettes, render_mesh_views
from inverse3d.structures.meshes import Meshes
from inverse3d.transforms.rotation_conversions import axis_angle_to_matrix
from inverse3d.utils.ico_sphere import ico_sphere


def box_mesh(centre, half) -> Meshes:
    c = torch.tensor(centre, dtype=torch.float32)
    e = torch.tensor(half, dtype=torch.float32)
    corners = torch.tensor(
        [[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=torch.float32
    )
    faces = torch.tensor(
        [
            [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
            [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],
        ]
    )  # fmt: skip
    return Meshes([corners * e + c], [faces])


def ellipsoid_mesh(centre, half) -> Meshes:
    s = ico_sphere(4)
    return Meshes(
        [s.verts_packed() * torch.tensor(half) + torch.tensor(centre)], [s.faces_packed()]
    )


def cameras(n=12, dist=3.0, fov=40.0):
    elev = [25.0 * math.sin(2.3 * i) + 10.0 for i in range(n)]
    azim = [360.0 * i / n for i in range(n)]
    R, T = look_at_view_transform(dist=dist, elev=elev, azim=azim)
    return FoVPerspectiveCameras(fov=fov, R=R, T=T)


class TestMaskBboxes:
    def test_values(self):
        m = torch.zeros(3, 10, 12)
        m[0, 2:5, 3:9] = 1
        m[1, 0, 11] = 0.6
        boxes, valid = mask_bboxes(m)
        assert valid.tolist() == [True, True, False]
        assert boxes[0].tolist() == [3, 2, 9, 5]
        assert boxes[1].tolist() == [11, 0, 12, 1]
        assert boxes[2].tolist() == [0, 0, 0, 0]

    def test_exceptions(self):
        with pytest.raises(ValueError, match="masks must have shape"):
            mask_bboxes(torch.zeros(4, 4))


class TestSilhouetteBox:
    @pytest.mark.parametrize(
        "centre, half",
        [((0.0, 0.0, 0.0), (0.5, 0.4, 0.6)), ((0.35, -0.2, 0.25), (0.15, 0.1, 0.2))],
    )
    def test_recovers_known_box(self, centre, half):
        cams = cameras()
        alpha = render_mesh_views(box_mesh(centre, half), cams, 128)[..., 3]
        c, e = silhouette_box(cams, alpha, shape="box")
        size = 2 * max(half)
        assert (c - torch.tensor(centre)).abs().max() < 0.01 * size
        assert (e - torch.tensor(half)).abs().max() < 0.01 * size

    def test_screen_space_cameras_and_border_edges(self):
        # Screen-space PerspectiveCameras (in_ndc=False), and a box partly outside one view.
        fov_cams = cameras(8)
        f = 64 / math.tan(math.radians(20))
        cams = PerspectiveCameras(
            focal_length=((f, f),),
            principal_point=((64.0, 64.0),),
            R=fov_cams.R,
            T=fov_cams.T,
            in_ndc=False,
            image_size=((128, 128),),
        )
        centre, half = (0.1, 0.05, -0.1), (0.3, 0.25, 0.35)
        alpha = render_mesh_views(box_mesh(centre, half), cams, 128)[..., 3]
        alpha[0, :, :40] = 1.0  # the first view's left edge now touches the border
        c, e = silhouette_box(cams, alpha, shape="box")
        assert (c - torch.tensor(centre)).abs().max() < 0.01 * 0.7
        assert (e - torch.tensor(half)).abs().max() < 0.01 * 0.7

    @pytest.mark.parametrize(
        "centre, half",
        [((0.0, 0.0, 0.0), (0.6, 0.45, 0.5)), ((-0.3, 0.2, 0.25), (0.25, 0.35, 0.3))],
    )
    def test_recovers_known_ellipsoid(self, centre, half):
        cams = cameras()
        alpha = render_mesh_views(ellipsoid_mesh(centre, half), cams, 128)[..., 3]
        c, e = silhouette_box(cams, alpha)
        size = 2 * max(half)
        assert (c - torch.tensor(centre)).abs().max() < 0.01 * size
        assert (e - torch.tensor(half)).abs().max() < 0.01 * size
        # The box model is biased on a rounded object (it shrinks to fit the diagonal views).
        _, e_box = silhouette_box(cams, alpha, shape="box")
        assert (e_box - torch.tensor(half)).abs().max() > 0.03 * size

    def test_exceptions(self):
        cams = cameras(2)
        with pytest.raises(ValueError, match="one camera per mask"):
            silhouette_box(cams, torch.ones(3, 8, 8))
        with pytest.raises(ValueError, match="at least 6 box edges"):
            silhouette_box(cams, torch.zeros(2, 8, 8))
        with pytest.raises(ValueError, match="shape must be one of"):
            silhouette_box(cams, torch.ones(2, 8, 8), shape="cube")
        with pytest.raises(TypeError, match="CamerasBase"):
            silhouette_box("cams", torch.zeros(2, 8, 8))
        one = cameras(1)
        m = torch.zeros(1, 16, 16)
        m[0, 4:10, 5:12] = 1
        with pytest.raises(ValueError, match="do not fix"):
            silhouette_box(one[[0, 0]], m.expand(2, 16, 16))


class TestMoments:
    def test_rotated_ellipse(self):
        """A supersampled ellipse (semi-axes a, b, turned by t): area pi a b, its centre, and
        covariance R diag(a^2, b^2) R^T / 4."""
        a, b, t, cx, cy, ss = 10.0, 6.0, 0.5, 20.3, 15.7, 8
        ys = (torch.arange(40 * ss, dtype=torch.float64) + 0.5) / ss
        xs = (torch.arange(48 * ss, dtype=torch.float64) + 0.5) / ss
        y, x = torch.meshgrid(ys - cy, xs - cx, indexing="ij")
        u, v = x * math.cos(t) + y * math.sin(t), -x * math.sin(t) + y * math.cos(t)
        fine = ((u / a) ** 2 + (v / b) ** 2 <= 1).double()
        cover = torch.nn.functional.avg_pool2d(fine[None, None], ss)[0].float()
        masks = torch.cat([cover, torch.zeros_like(cover)])
        area, cen, cov = silhouette_moments(masks)
        assert area[0].item() == pytest.approx(math.pi * a * b, rel=2e-3)
        assert cen[0].tolist() == pytest.approx([cx, cy], abs=0.01)
        rot = torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]).double()
        truth = rot @ torch.diag(torch.tensor([a * a, b * b]).double()) @ rot.T / 4
        assert torch.allclose(cov[0], truth, rtol=0, atol=0.01 * a * a / 4)
        assert area[1] == 0 and cov[1].abs().max() == 0

    def test_exceptions(self):
        with pytest.raises(ValueError, match="masks must have shape"):
            silhouette_moments(torch.zeros(4, 4))


ROT = axis_angle_to_matrix(torch.tensor([0.4, -0.7, 0.3]))
HALF = torch.tensor([0.5, 0.3, 0.2])
CENTRE = torch.tensor([0.2, -0.1, 0.15])


def turned_ellipsoid() -> Meshes:
    """An ellipsoid of semi-axes HALF turned by ROT (no axis along x, y or z), at CENTRE."""
    s = ico_sphere(4)
    return Meshes([s.verts_packed() @ (ROT * HALF).T + CENTRE], [s.faces_packed()])


def shape_error(axes: torch.Tensor) -> float:
    """Relative Frobenius error of axes axes^T against the true ellipsoid's shape matrix."""
    truth = (ROT * HALF) @ (ROT * HALF).T
    return float((axes @ axes.T - truth).norm() / truth.norm())


class TestSilhouetteEllipsoid:
    def test_exact_for_orthographic_cameras(self):
        persp = cameras(8)
        cams = FoVOrthographicCameras(
            R=persp.R, T=persp.T, min_x=-1.2, max_x=1.2, min_y=-1.2, max_y=1.2
        )
        alpha = render_mesh_views(turned_ellipsoid(), cams, 96)[..., 3]
        c, axes = silhouette_ellipsoid(cams, alpha, match_area=False)
        # measured 1.4e-4 and 0.26% (pixel sampling of the rendered masks)
        assert (c - CENTRE).abs().max() < 1e-3
        assert shape_error(axes) < 0.005
        assert torch.allclose(axes.T @ axes, torch.diag(torch.diag(axes.T @ axes)), atol=1e-5)

    def test_perspective_cameras(self):
        cams = cameras(8)
        alpha = render_mesh_views(turned_ellipsoid(), cams, 96)[..., 3]
        c, axes = silhouette_ellipsoid(cams, alpha)
        # measured 0.64% of the size (1.0) and 0.7% (1.4% before the area matching)
        assert (c - CENTRE).abs().max() < 0.01
        assert shape_error(axes) < 0.01
        _, raw = silhouette_ellipsoid(cams, alpha, match_area=False)
        assert shape_error(raw) > shape_error(axes)

    def test_area_matches_a_box(self):
        """On a box (not an ellipse: its moment ellipses are larger than its silhouettes) the
        rendered ellipsoid has the masks' total area."""
        cams = cameras(8)
        alpha = render_mesh_views(box_mesh((0.1, 0.0, -0.1), (0.4, 0.25, 0.3)), cams, 96)[..., 3]
        c, axes = silhouette_ellipsoid(cams, alpha)
        s = ico_sphere(3)
        mesh = Meshes([s.verts_packed() @ axes.T + c], [s.faces_packed()])
        area = render_mesh_silhouettes(mesh, cams, 96, supersample=2).sum()
        assert float(area) == pytest.approx(float(alpha.sum()), rel=0.01)
        _, raw = silhouette_ellipsoid(cams, alpha, match_area=False)
        assert raw.norm(dim=0).prod() > 1.05 * axes.norm(dim=0).prod()

    def test_exceptions(self):
        cams = cameras(2)
        m = torch.zeros(2, 16, 16)
        m[:, 4:10, 5:12] = 1
        with pytest.raises(ValueError, match="one camera per mask"):
            silhouette_ellipsoid(cams, m[:1])
        border = m.clone()
        border[1, 0, 6] = 1  # touches the border: dropped, one view left
        with pytest.raises(ValueError, match="at least 2 non-empty"):
            silhouette_ellipsoid(cams, border)
        with pytest.raises(ValueError, match="do not fix"):
            silhouette_ellipsoid(cameras(1)[[0, 0]], m)
        with pytest.raises(TypeError, match="CamerasBase"):
            silhouette_ellipsoid("cams", m)


class TestSphereLevel:
    def test_perimeter_of_square(self):
        m = torch.zeros(1, 20, 20)
        m[0, 5:15, 5:15] = 1
        assert silhouette_perimeters(m).tolist() == [36.0]

    def test_level_grows_with_resolution(self):
        def disk(size):
            t = (torch.arange(size) + 0.5) / size * 2 - 1
            y, x = torch.meshgrid(t, t, indexing="ij")
            return ((x**2 + y**2) < 0.6).float()[None]

        levels = [silhouette_sphere_level(disk(s), max_level=6) for s in (16, 64, 256)]
        assert levels[0] < levels[1] < levels[2]
        assert silhouette_sphere_level(torch.zeros(1, 8, 8), min_level=2) == 2
        with pytest.raises(ValueError, match="max_level"):
            silhouette_sphere_level(disk(8), min_level=3, max_level=2)

    @pytest.mark.parametrize("fit", ["moments", "box"])
    def test_sphere_fills_box(self, fit):
        cams = cameras()
        centre, half = (0.2, -0.1, 0.1), (0.3, 0.2, 0.4)
        alpha = render_mesh_views(ellipsoid_mesh(centre, half), cams, 96)[..., 3]
        v, f = silhouette_sphere(cams, alpha, level=3, fit=fit)
        assert f.shape == (1280, 3)
        lo, hi = v.min(0).values, v.max(0).values
        assert ((lo + hi) / 2 - torch.tensor(centre)).abs().max() < 0.02
        assert ((hi - lo) / 2 - torch.tensor(half)).abs().max() < 0.02


class TestWindows:
    def test_values(self):
        boxes = torch.tensor([[10.0, 20.0, 20.0, 26.0], [0.0, 0.0, 5.0, 4.0]])
        tops, lefts, side = square_windows(boxes, (48, 64), margin=0.25)
        assert side == math.ceil(10 * 1.5) + 4  # largest side 10, 25% each way, 2 px each way
        assert lefts.tolist() == [6, 0] and tops.tolist() == [14, 0]  # centred; clamped
        for (x0, y0, x1, y1), t, le in zip(boxes.tolist(), tops.tolist(), lefts.tolist()):
            assert le <= x0 and x1 <= le + side and t <= y0 and y1 <= t + side
        big = torch.tensor([[0.0, 0.0, 60.0, 40.0]])
        tops, lefts, side = square_windows(big, (48, 64))
        assert side == 48 and tops.tolist() == [0] and 0 <= lefts.item() <= 16

    def test_masks(self):
        m = torch.zeros(3, 32, 40)
        m[0, 4:10, 30:36] = 1
        m[1, 20:30, 2:7] = 1  # height 10: the largest box side
        tops, lefts, side = silhouette_windows(m[:2], margin=0.0)
        assert side == 14
        boxes, _ = mask_bboxes(m[:2])
        for b, t, le in zip(boxes.tolist(), tops.tolist(), lefts.tolist()):
            assert le <= b[0] and b[2] <= le + side and t <= b[1] and b[3] <= t + side
        # an empty mask's box is the whole image: nothing is cropped
        tops, lefts, side = silhouette_windows(m, margin=0.0)
        assert side == 32 and tops.tolist() == [0, 0, 0]

    def test_exceptions(self):
        with pytest.raises(ValueError, match="margin"):
            square_windows(torch.zeros(1, 4), (8, 8), margin=-1.0)
        with pytest.raises(ValueError, match="image_size"):
            square_windows(torch.zeros(1, 4), (8, 0))
        with pytest.raises(ValueError, match="boxes"):
            square_windows(torch.zeros(0, 4), (8, 8))
        with pytest.raises(ValueError, match="boxes"):
            square_windows(torch.zeros(2, 3), (8, 8))


class TestHullMesh:
    def test_ball(self):
        r = 24
        pts = visual_hull_grid_points([[-1.0] * 3, [1.0] * 3], r)
        occ = pts.norm(dim=-1) < 0.6
        v, f = occupancy_mesh(occ, 1.0)
        radius = v.norm(dim=-1)
        assert (radius - 0.6).abs().max() < 2.0 / r
        # Outward faces: normals point away from the centre.
        tri = v[f]
        n = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)
        assert ((n * tri.mean(1)).sum(-1) > 0).float().mean() > 0.99

    def test_blur_keeps_constant(self):
        vol = torch.full((5, 6, 7), 0.3)
        assert torch.allclose(blur_volume(vol, 1.0), vol)
        with pytest.raises(ValueError, match="sigma"):
            blur_volume(vol, -1.0)
        with pytest.raises(ValueError, match="occupancy must have shape"):
            occupancy_mesh(torch.zeros(4, 5, 4, dtype=torch.bool), 1.0)
