"""visual_hull against analytic hulls (sphere cones, box) and PyTorch3D's pixel-centre convention.

The masks are built here from the documented conventions alone: the ray through the centre of
pixel (i, j), at screen (j + 0.5, i + 0.5), is intersected with the analytic shape.
"""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.ops import visual_hull, visual_hull_grid_points
from inverse3d.renderer.cameras import FoVOrthographicCameras, FoVPerspectiveCameras
from inverse3d.renderer.look_at import look_at_view_transform

FOV = 40.0


def _pixel_rays(cameras, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, H, W, 3) world origins and unit directions of the rays through the pixel centres."""
    i, j = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    s = min(h, w) / 2.0
    x_ndc = (w / 2.0 - (j + 0.5)) / s  # NDC +X left
    y_ndc = (h / 2.0 - (i + 0.5)) / s  # NDC +Y up
    if cameras.is_perspective():
        t = math.tan(math.radians(FOV) / 2)
        d_view = torch.stack([x_ndc * t, y_ndc * t, torch.ones_like(x_ndc)], -1)
        o_view = torch.zeros_like(d_view)
    else:
        d_view = torch.zeros(h, w, 3, dtype=torch.float64)
        d_view[..., 2] = 1.0
        o_view = torch.stack([x_ndc, y_ndc, torch.zeros_like(x_ndc)], -1)
    R, T = cameras.R.double(), cameras.T.double()  # X_view = X_world R + T
    Rt = R.transpose(1, 2)[:, None, None]  # (N, 1, 1, 3, 3)
    o = ((o_view[None] - T[:, None, None]).unsqueeze(-2) @ Rt)[..., 0, :]
    d = (d_view[None].unsqueeze(-2) @ Rt)[..., 0, :]
    return o, torch.nn.functional.normalize(d, dim=-1)


def _sphere_masks(cameras, h, w, radius):
    o, d = _pixel_rays(cameras, h, w)
    t = -(o * d).sum(-1, keepdim=True)  # closest approach to the origin along the ray
    return ((o + t * d).norm(dim=-1) <= radius).float()


def _box_masks(cameras, h, w, half):
    o, d = _pixel_rays(cameras, h, w)
    with torch.no_grad():
        inv = 1.0 / torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
        t0, t1 = (-half - o) * inv, (half - o) * inv
        near = torch.minimum(t0, t1).amax(-1)
        far = torch.maximum(t0, t1).amin(-1)
    return (near <= far).float()


def _ring_cameras(kind, n=6, dist=3.0):
    elev = torch.tensor([20.0, -25.0, 60.0, 0.0, -60.0, 35.0])[:n]
    azim = torch.linspace(0.0, 360.0, n + 1)[:n]
    R, T = look_at_view_transform(dist=dist, elev=elev, azim=azim)
    if kind == "perspective":
        return FoVPerspectiveCameras(R=R, T=T, fov=FOV)
    return FoVOrthographicCameras(R=R, T=T)


def _sphere_hull_margin(cameras, pts, radius):
    """Signed angular/metric margin of each point inside the analytic hull of a sphere at the
    origin: min over views of (how far inside the view's cone or cylinder), in world units
    measured perpendicular to the view ray through the point."""
    centres = cameras.get_camera_center().double()
    p = pts.double().reshape(-1, 3)
    margins = []
    for k in range(len(cameras)):
        c = centres[k]
        if cameras.is_perspective():
            v = p - c
            dist_c = c.norm()
            alpha = math.asin(radius / float(dist_c))
            cosang = (v @ (-c) / (v.norm(dim=-1) * dist_c)).clamp(-1, 1)
            ang = torch.acos(cosang)
            margins.append(v.norm(dim=-1) * torch.sin(alpha - ang))
        else:
            axis = -c / c.norm()
            perp = p - (p @ axis)[:, None] * axis
            margins.append(radius - perp.norm(dim=-1))
    return torch.stack(margins).min(0).values


class TestVisualHull:
    def test_smoke(self):
        cams = _ring_cameras("perspective", n=2)
        occ = visual_hull(cams, torch.ones(2, 8, 8), [[-1, -1, -1], [1, 1, 1]], 4)
        assert occ.dtype == torch.bool and bool(occ.all())

    def test_shapes(self):
        pts = visual_hull_grid_points([[0, 0, 0], [1, 2, 4]], (2, 3, 5))
        assert pts.shape == (2, 3, 5, 3)
        # cell [d, h, w] -> (x_w, y_h, z_d) at the cell centres
        assert torch.allclose(pts[1, 2, 4], torch.tensor([0.9, 2 * 5 / 6, 3.0]))
        assert torch.allclose(pts[0, 0, 0], torch.tensor([0.1, 1 / 3, 1.0]))
        cams = _ring_cameras("orthographic", n=3)
        occ = visual_hull(cams, torch.ones(3, 6, 9), [[-1, -1, -1], [1, 1, 1]], (2, 3, 5))
        assert occ.shape == (2, 3, 5)

    @pytest.mark.parametrize("kind", ["perspective", "orthographic"])
    def test_matches_analytic_sphere_hull(self, kind):
        radius, res, box = 0.6, 24, 0.8
        cams = _ring_cameras(kind)
        masks = _sphere_masks(cams, 64, 64, radius)
        bounds = [[-box] * 3, [box] * 3]
        occ = visual_hull(cams, masks, bounds, res)
        pts = visual_hull_grid_points(bounds, res)
        margin = _sphere_hull_margin(cams, pts, radius).reshape(res, res, res)
        cell = 2 * box / res
        # Within half a cell (pixels are about half a cell wide here): every cell whose centre is
        # that far inside the analytic hull is kept, every one that far outside is carved.
        assert bool(occ[margin > cell / 2].all())
        assert not bool(occ[margin < -cell / 2].any())
        # And the hull contains the sphere and is no larger than its box hull.
        inside_sphere = pts.norm(dim=-1) < radius - cell
        assert bool(occ[inside_sphere].all())

    def test_matches_analytic_box_hull(self):
        # Three orthographic views along the axes carve exactly the box.
        half = torch.tensor([0.5, 0.3, 0.7], dtype=torch.float64)
        eyes = torch.tensor([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0]])
        up = torch.tensor([[0.0, 1, 0], [0, 0, 1], [0, 1, 0]])
        R, T = look_at_view_transform(eye=eyes, at=((0, 0, 0),), up=up)
        cams = FoVOrthographicCameras(R=R, T=T)
        masks = _box_masks(cams, 80, 80, half)
        res, box = 20, 1.0
        bounds = [[-box] * 3, [box] * 3]
        occ = visual_hull(cams, masks, bounds, res)
        pts = visual_hull_grid_points(bounds, res).double()
        cell = 2 * box / res
        inside = ((half - pts.abs()) > cell).all(-1)
        outside = ((pts.abs() - half) > cell).any(-1)
        assert bool(occ[inside].all())
        assert not bool(occ[outside].any())
        # exact here: no cell centre lies on a pixel border or a box face
        assert torch.equal(occ, (pts.abs() < half).all(-1))

    @pytest.mark.parametrize("mask_sampling", ["nearest", "bilinear"])
    def test_convention_one_pixel_mask(self, mask_sampling):
        # Orthographic camera on +z looking at the origin, R = diag(-1, 1, -1): x_view = -x,
        # so x_ndc = -x_world and y_ndc = y_world over [-1, 1]; 8 x 8 pixels of 0.25.
        R, T = look_at_view_transform(eye=((0.0, 0.0, 3.0),))
        cams = FoVOrthographicCameras(R=R, T=T)
        mask = torch.ones(1, 8, 8)
        i0, j0 = 2, 5
        mask[0, i0, j0] = 0.0
        res = 16  # two cells per pixel and axis, centres at pixel quarters
        bounds = [[-1.0] * 3, [1.0] * 3]
        occ = visual_hull(cams, mask, bounds, res, mask_sampling=mask_sampling)
        pts = visual_hull_grid_points(bounds, res)
        # pixel (i0, j0): screen x in [5, 6) -> x_ndc in (-0.5, -0.25] -> x_world in [0.25, 0.5);
        # screen y in [2, 3) -> y_ndc = y_world in (0.25, 0.5].
        x, y = pts[..., 0], pts[..., 1]
        in_pixel = (x > 0.25) & (x < 0.5) & (y > 0.25) & (y < 0.5)
        if mask_sampling == "nearest":
            assert int(in_pixel.sum()) == 2 * 2 * res
            assert torch.equal(occ, ~in_pixel)
        else:  # bilinear: below 0.5 only within a quarter pixel of the centre; all in the pixel
            carved = ~occ
            assert bool(carved.any()) and bool(in_pixel[carved].all())

    def test_points_outside_image_or_behind_do_not_carve(self):
        # A perspective camera at z = 3 looking at -z sees nothing behind it and nothing outside
        # its frustum: an all-zero mask carves only what it sees.
        R, T = look_at_view_transform(eye=((0.0, 0.0, 3.0),))
        cams = FoVPerspectiveCameras(R=R, T=T, fov=FOV)
        bounds = [[-4.0] * 3, [4.0] * 3]
        occ = visual_hull(cams, torch.zeros(1, 16, 16), bounds, 16)
        pts = visual_hull_grid_points(bounds, 16)
        z_view = 3.0 - pts[..., 2]
        lateral = pts[..., :2].abs().amax(-1)
        t = math.tan(math.radians(FOV) / 2)
        seen = (z_view > 0) & (lateral < 0.95 * t * z_view)
        unseen = (z_view <= 0) | (lateral > 1.05 * t * z_view)
        assert not bool(occ[seen].any())
        assert bool(occ[unseen].all())
        # min_views carves what too few views see
        occ1 = visual_hull(cams, torch.ones(1, 16, 16), bounds, 16, min_views=1)
        assert not bool(occ1[unseen].any()) and bool(occ1[seen].all())

    def test_depth_carves_in_front_keeps_behind(self):
        R, T = look_at_view_transform(eye=((0.0, 0.0, 3.0),))
        cams = FoVOrthographicCameras(R=R, T=T)
        depth = torch.full((1, 8, 8), 3.0)  # surface at view depth 3: the plane z_world = 0
        depth[0, :, :4] = 0.0  # no observation in the left half of the image
        bounds = [[-1.0] * 3, [1.0] * 3]
        pts = visual_hull_grid_points(bounds, 8)
        z_view = 3.0 - pts[..., 2]
        observed = pts[..., 0] > 0  # image columns 4..7 see x_world > 0 (x_screen = 4 + 4 x)
        for tol in (0.0, 0.3):
            occ = visual_hull(
                cams, torch.ones(1, 8, 8), bounds, 8, depths=depth, depth_tolerance=tol
            )
            want = ~observed | (z_view >= 3.0 - tol)
            assert torch.equal(occ, want)

    def test_exceptions(self):
        cams = _ring_cameras("perspective", n=2)
        bounds = [[-1] * 3, [1] * 3]
        with pytest.raises(ValueError, match="masks"):
            visual_hull(cams, torch.ones(2, 8), bounds)
        with pytest.raises(ValueError, match="one camera per mask"):
            visual_hull(cams, torch.ones(3, 8, 8), bounds)
        with pytest.raises(ValueError, match="bounds"):
            visual_hull(cams, torch.ones(2, 8, 8), [[1, 1, 1], [0, 2, 2]])
        with pytest.raises(ValueError, match="depths"):
            visual_hull(cams, torch.ones(2, 8, 8), bounds, depths=torch.ones(2, 8, 7))
        with pytest.raises(ValueError, match="mask_sampling"):
            visual_hull(cams, torch.ones(2, 8, 8), bounds, mask_sampling="cubic")
        with pytest.raises(TypeError, match="cameras"):
            visual_hull(object(), torch.ones(2, 8, 8), bounds)
        with pytest.raises(ValueError, match="resolution"):
            visual_hull_grid_points(bounds, (2, 3))
