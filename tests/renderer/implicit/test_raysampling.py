"""Ray samplers: origins, directions through pixel centres, NDC conventions, masks, sampling."""

from __future__ import annotations

import pytest
import torch

from inverse3d.renderer.cameras import (
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    PerspectiveCameras,
)
from inverse3d.renderer.implicit.raysampling import (
    GridRaysampler,
    MonteCarloRaysampler,
    MultinomialRaysampler,
    NDCGridRaysampler,
    NDCMultinomialRaysampler,
)
from inverse3d.renderer.implicit.utils import (
    HeterogeneousRayBundle,
    RayBundle,
    ray_bundle_to_ray_points,
)
from inverse3d.renderer.look_at import look_at_view_transform


def _cameras(n=2, kind="fov", dtype=torch.float32):
    R, T = look_at_view_transform(
        dist=torch.tensor([2.7, 3.1])[:n],
        elev=torch.tensor([10.0, -25.0])[:n],
        azim=torch.tensor([30.0, 200.0])[:n],
    )
    if kind == "fov":
        return FoVPerspectiveCameras(R=R, T=T, fov=50.0)
    if kind == "ortho":
        return FoVOrthographicCameras(R=R, T=T)
    return PerspectiveCameras(
        R=R, T=T, focal_length=torch.tensor([[1.7, 1.9]] * n), principal_point=[[0.1, -0.05]] * n
    )


def _ndc(W, H):
    """Reference NDC pixel centres, written from the convention: the shorter side spans
    [-1, 1], column 0 is +X (left), row 0 is +Y (top)."""
    s = min(W, H)
    xs = torch.tensor([(W - 1 - 2 * i) / s for i in range(W)])
    ys = torch.tensor([(H - 1 - 2 * j) / s for j in range(H)])
    return xs, ys


def _sampler(W, H, n_pts_per_ray=2, min_depth=1.0, max_depth=2.0, **kwargs):
    """An NDCMultinomialRaysampler of a W x H image (depth range [1, 2] unless given)."""
    return NDCMultinomialRaysampler(
        image_width=W,
        image_height=H,
        n_pts_per_ray=n_pts_per_ray,
        min_depth=min_depth,
        max_depth=max_depth,
        **kwargs,
    )


def _assert_rays_from_centres_through_xys(cams, b):
    """The rays of bundle b start at the cameras' centres and every ray point projects to the
    ray's NDC xy."""
    N = b.origins.shape[0]
    centres = cams.get_camera_center().reshape(N, *[1] * (b.origins.dim() - 2), 3)
    torch.testing.assert_close(b.origins, centres.expand_as(b.origins), atol=1e-5, rtol=1e-5)
    pts = ray_bundle_to_ray_points(b)  # (N, ..., S, 3)
    proj = cams.transform_points_ndc(pts.reshape(N, -1, 3)).reshape(pts.shape)
    torch.testing.assert_close(
        proj[..., :2], b.xys[..., None, :].expand_as(proj[..., :2]), atol=1e-5, rtol=1e-5
    )
    return pts


class TestNDCMultinomialRaysampler:
    def test_shapes(self):
        rs = _sampler(7, 5, 4, max_depth=3.0)
        b = rs(_cameras())
        assert isinstance(b, RayBundle)
        assert b.origins.shape == (2, 5, 7, 3) and b.directions.shape == (2, 5, 7, 3)
        assert b.lengths.shape == (2, 5, 7, 4) and b.xys.shape == (2, 5, 7, 2)
        torch.testing.assert_close(b.lengths[0, 0, 0], torch.linspace(1.0, 3.0, 4))

    @pytest.mark.parametrize("W,H", [(7, 5), (5, 7), (6, 6)])
    def test_convention_pixel_centres(self, W, H):
        rs = _sampler(W, H)
        xys = rs(_cameras(1)).xys[0]
        xs, ys = _ndc(W, H)
        torch.testing.assert_close(xys[..., 0], xs[None].expand(H, W))
        torch.testing.assert_close(xys[..., 1], ys[:, None].expand(H, W))

    def test_convention_matches_mesh_rasterizer(self):
        rm = pytest.importorskip("inverse3d.renderer.mesh.rasterize_meshes")
        if not hasattr(rm, "pixel_centers_ndc"):
            pytest.skip("mesh rasterizer does not expose pixel_centers_ndc")
        for W, H in ((9, 4), (4, 9)):
            rs = _sampler(W, H, 1, max_depth=1.0)
            xys = rs(_cameras(1)).xys[0]
            ys, xs = rm.pixel_centers_ndc(H, W)
            torch.testing.assert_close(xys[0, :, 0], xs)
            torch.testing.assert_close(xys[:, 0, 1], ys)

    @pytest.mark.parametrize("kind", ["fov", "persp"])
    def test_matches_reference_origins_and_pixels(self, kind):
        cams = _cameras(2, kind)
        rs = _sampler(6, 4, 3, min_depth=1.5, max_depth=4.0)
        b = rs(cams)
        pts = _assert_rays_from_centres_through_xys(cams, b)  # (2, 4, 6, 3, 3)
        # lengths are view-space depths
        z = cams.get_world_to_view_transform().transform_points(pts.reshape(2, -1, 3))[..., 2]
        torch.testing.assert_close(z.reshape(b.lengths.shape), b.lengths, atol=1e-5, rtol=1e-5)

    def test_orthographic_rays_parallel(self):
        cams = _cameras(1, "ortho")
        rs = _sampler(4, 4)
        b = rs(cams)
        axis = cams.R[0, :, 2]  # view +Z in world coordinates (row-vector convention)
        d = b.directions.reshape(-1, 3)
        torch.testing.assert_close(d, axis.expand_as(d), atol=1e-5, rtol=1e-5)
        proj = cams.transform_points_ndc(b.origins.reshape(1, -1, 3))
        torch.testing.assert_close(proj[0, :, :2], b.xys.reshape(-1, 2), atol=1e-5, rtol=1e-5)

    def test_unit_directions_and_overrides(self):
        rs = _sampler(5, 5, 3, unit_directions=True)
        b = rs(_cameras(), min_depth=0.5, max_depth=0.7, n_pts_per_ray=6)
        torch.testing.assert_close(b.directions.norm(dim=-1), torch.ones(2, 5, 5))
        assert b.lengths.shape[-1] == 6
        torch.testing.assert_close(b.lengths[1, 2, 3], torch.linspace(0.5, 0.7, 6))

    def test_stratified_sampling_in_strata(self):
        rs = _sampler(8, 8, 5, stratified_sampling=True)
        L = rs(_cameras()).lengths
        c = torch.linspace(1.0, 2.0, 5)
        mids = 0.5 * (c[1:] + c[:-1])
        lo = torch.cat((c[:1], mids))
        hi = torch.cat((mids, c[-1:]))
        assert bool(((L >= lo) & (L <= hi)).all())
        assert not torch.allclose(L, c.expand_as(L))  # it did move
        L0 = rs(_cameras(), stratified_sampling=False).lengths
        torch.testing.assert_close(L0, c.expand_as(L0))

    def test_n_rays_per_image(self):
        rs = _sampler(6, 5, n_rays_per_image=30)
        b = rs(_cameras())
        assert b.xys.shape == (2, 30, 1, 2) and b.origins.shape == (2, 30, 1, 3)
        # 30 of 30 pixels without replacement: every pixel exactly once
        xs, ys = _ndc(6, 5)
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1).reshape(-1, 2)
        for n in range(2):
            got = b.xys[n, :, 0]
            d = (got[:, None] - grid[None]).norm(dim=-1)
            assert bool((d.min(dim=1).values < 1e-6).all())
            assert d.argmin(dim=1).unique().numel() == 30

    def test_mask_selects_rays(self):
        H = W = 6
        mask = torch.zeros(2, H, W, dtype=torch.bool)
        mask[0, 1:3, 2:5] = True  # 6 pixels
        mask[1, 4, :] = True  # 6 pixels
        mask[1, 0, 0] = True  # 7
        rs = _sampler(W, H)
        b = rs(_cameras(), mask=mask)
        assert b.xys.shape == (2, 6, 1, 2)  # the smallest mask's count
        xs, ys = _ndc(W, H)
        for n in range(2):
            col = (b.xys[n, :, 0, :1] - xs[None]).abs().argmin(dim=1)
            row = (b.xys[n, :, 0, 1:] - ys[None]).abs().argmin(dim=1)
            assert bool(mask[n, row, col].all())
        b = rs(_cameras(), mask=mask, n_rays_per_image=20)  # more than the mask: replacement
        assert b.xys.shape == (2, 20, 1, 2)

    def test_n_rays_total_heterogeneous(self):
        cams = _cameras()
        rs = _sampler(5, 4, 3, n_rays_total=9)
        b = rs(cams)
        assert isinstance(b, HeterogeneousRayBundle)
        assert b.origins.shape == (9, 1, 1, 3) and b.lengths.shape == (9, 1, 1, 3)
        assert int(b.camera_counts.sum()) == 9
        centres = cams.get_camera_center()[b.camera_ids].repeat_interleave(b.camera_counts, 0)
        torch.testing.assert_close(b.origins[:, 0, 0], centres, atol=1e-5, rtol=1e-5)

    def test_n_rays_total_with_mask(self):
        cams = _cameras()
        mask = torch.zeros(2, 4, 5, dtype=torch.bool)
        mask[0, 0, 0] = True
        mask[1, 3, 4] = True
        rs = _sampler(5, 4)
        b = rs(cams, mask=mask, n_rays_total=12)
        xs, ys = _ndc(5, 4)
        cam = b.camera_ids.repeat_interleave(b.camera_counts)
        want = torch.stack([torch.stack((xs[0], ys[0])), torch.stack((xs[4], ys[3]))])[cam]
        torch.testing.assert_close(b.xys[:, 0, 0], want)

    def test_exceptions(self):
        kw = dict(n_pts_per_ray=2, min_depth=1.0, max_depth=2.0)
        with pytest.raises(ValueError, match="image_width"):
            NDCMultinomialRaysampler(image_width=0, image_height=4, **kw)
        with pytest.raises(ValueError, match="n_rays_per_image"):
            NDCMultinomialRaysampler(image_width=4, image_height=4, n_rays_per_image=0, **kw)
        with pytest.raises(ValueError, match="cannot both"):
            NDCMultinomialRaysampler(
                image_width=4, image_height=4, n_rays_per_image=2, n_rays_total=3, **kw
            )
        with pytest.raises(ValueError, match="max_depth"):
            _sampler(4, 4, 2, min_depth=2.0, max_depth=1.0)
        rs = NDCMultinomialRaysampler(image_width=4, image_height=4, **kw)
        with pytest.raises(ValueError, match="mask"):
            rs(_cameras(), mask=torch.ones(2, 3, 4, dtype=torch.bool))
        empty = torch.ones(2, 4, 4, dtype=torch.bool)
        empty[1] = False
        with pytest.raises(ValueError, match="zero rays"):
            rs(_cameras(), mask=empty)
        with pytest.raises(ValueError, match="cannot both"):
            rs(_cameras(), n_rays_per_image=2, n_rays_total=3)


class TestMultinomialRaysampler:
    def test_smoke_custom_range(self):
        rs = MultinomialRaysampler(
            min_x=0.5,
            max_x=-0.5,
            min_y=0.25,
            max_y=-0.25,
            image_width=3,
            image_height=2,
            n_pts_per_ray=2,
            min_depth=1.0,
            max_depth=2.0,
        )
        xys = rs(_cameras()).xys
        torch.testing.assert_close(xys[0, 0, :, 0], torch.tensor([0.5, 0.0, -0.5]))
        torch.testing.assert_close(xys[0, :, 0, 1], torch.tensor([0.25, -0.25]))

    def test_deprecated_aliases(self):
        with pytest.warns(PendingDeprecationWarning):
            g = NDCGridRaysampler(4, 3, 2, 1.0, 2.0)
        assert isinstance(g, NDCMultinomialRaysampler)
        ref = _sampler(4, 3)
        torch.testing.assert_close(g(_cameras()).xys, ref(_cameras()).xys)
        with pytest.warns(PendingDeprecationWarning):
            g = GridRaysampler(1.0, -1.0, 1.0, -1.0, 4, 3, 2, 1.0, 2.0)
        assert isinstance(g, MultinomialRaysampler)


class TestMonteCarloRaysampler:
    def test_shapes_and_bounds(self):
        rs = MonteCarloRaysampler(-0.5, 0.8, -0.3, 0.2, 500, 4, 1.0, 3.0)
        cams = _cameras()
        b = rs(cams)
        assert b.xys.shape == (2, 500, 2) and b.lengths.shape == (2, 500, 4)
        x, y = b.xys[..., 0], b.xys[..., 1]
        assert bool(((x >= -0.5) & (x <= 0.8) & (y >= -0.3) & (y <= 0.2)).all())
        assert float(x.min()) < -0.4 and float(x.max()) > 0.7  # covers the range
        _assert_rays_from_centres_through_xys(cams, b)

    def test_n_rays_total(self):
        rs = MonteCarloRaysampler(-1, 1, -1, 1, None, 3, 1.0, 3.0, n_rays_total=11)
        b = rs(_cameras())
        assert isinstance(b, HeterogeneousRayBundle)
        assert b.origins.shape == (11, 1, 3) and int(b.camera_counts.sum()) == 11

    def test_exceptions(self):
        with pytest.raises(ValueError, match="exactly one"):
            MonteCarloRaysampler(-1, 1, -1, 1, None, 3, 1.0, 3.0)
        with pytest.raises(ValueError, match="exactly one"):
            MonteCarloRaysampler(-1, 1, -1, 1, 4, 3, 1.0, 3.0, n_rays_total=5)
        with pytest.raises(ValueError, match="n_rays_per_image"):
            MonteCarloRaysampler(-1, 1, -1, 1, 0, 3, 1.0, 3.0)
