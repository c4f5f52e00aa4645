"""PyTorch3D point-cloud and volume/implicit tutorials (render_colored_points, fit_textured_volume,
fit_simple_neural_radiance_field, the book's chapter 5/6 scripts) at tiny sizes."""

from __future__ import annotations

import io
import math

import pytest
import torch

from inverse3d.renderer.cameras import (
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    look_at_view_transform,
)
from inverse3d.renderer.implicit.harmonic_embedding import HarmonicEmbedding
from inverse3d.renderer.implicit.raymarching import (
    AbsorptionOnlyRaymarcher,
    EmissionAbsorptionRaymarcher,
)
from inverse3d.renderer.implicit.raysampling import (
    GridRaysampler,
    MonteCarloRaysampler,
    MultinomialRaysampler,
    NDCGridRaysampler,
    NDCMultinomialRaysampler,
)
from inverse3d.renderer.implicit.renderer import ImplicitRenderer, VolumeRenderer, VolumeSampler
from inverse3d.renderer.implicit.utils import RayBundle, ray_bundle_to_ray_points
from inverse3d.renderer.points.compositor import AlphaCompositor, NormWeightedCompositor
from inverse3d.renderer.points.rasterizer import (
    PointFragments,
    PointsRasterizationSettings,
    PointsRasterizer,
)
from inverse3d.renderer.points.renderer import PointsRenderer
from inverse3d.structures import Pointclouds, Volumes
from inverse3d.transforms import so3_exp_map


def _cams(n=2, dist=2.7):
    R, T = look_at_view_transform(dist=dist, elev=torch.zeros(n), azim=torch.linspace(-90, 90, n))
    return FoVPerspectiveCameras(device="cpu", R=R, T=T)


class TestRenderColoredPoints:
    def _cloud(self):
        g = torch.linspace(-0.5, 0.5, 9)
        xyz = torch.stack(torch.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
        return Pointclouds(points=[xyz], features=[torch.rand_like(xyz)])

    def test_settings_defaults(self):
        s = PointsRasterizationSettings()
        assert s.image_size == 256 and s.radius == 0.01 and s.points_per_pixel == 8
        assert s.bin_size is None and s.max_points_per_bin is None
        assert PointFragments._fields == ("idx", "zbuf", "dists")

    def test_tutorial_flow(self):
        cloud = self._cloud()
        R, T = look_at_view_transform(20, 10, 0)
        cameras = FoVOrthographicCameras(device="cpu", R=R, T=T, znear=0.01)
        settings = PointsRasterizationSettings(image_size=24, radius=0.05, points_per_pixel=10)
        rasterizer = PointsRasterizer(cameras=cameras, raster_settings=settings)
        images = PointsRenderer(rasterizer=rasterizer, compositor=AlphaCompositor())(cloud)
        assert images.shape == (1, 24, 24, 3)
        frags = rasterizer(cloud)
        assert frags.idx.shape == (1, 24, 24, 10) and frags.idx.dtype == torch.int64
        empty = frags.idx[0, ..., 0] < 0
        assert empty.any() and (~empty).any()
        blue = PointsRenderer(
            rasterizer=rasterizer, compositor=AlphaCompositor(background_color=(0, 0, 1))
        )(cloud)
        assert torch.allclose(
            blue[0][empty], torch.tensor([0.0, 0.0, 1.0]).expand(int(empty.sum()), 3)
        )
        nw = PointsRenderer(rasterizer=rasterizer, compositor=NormWeightedCompositor())(cloud)
        assert nw.shape == (1, 24, 24, 3)

    def test_gradients_to_features_and_points(self):
        pts = (torch.rand(1, 50, 3) - 0.5).requires_grad_()
        feats = torch.rand(1, 50, 3, requires_grad=True)
        cameras = _cams(1)
        settings = PointsRasterizationSettings(image_size=16, radius=0.1, points_per_pixel=4)
        r = PointsRenderer(
            rasterizer=PointsRasterizer(cameras=cameras, raster_settings=settings),
            compositor=AlphaCompositor(),
        )
        r(Pointclouds(points=pts, features=feats)).sum().backward()
        assert feats.grad.abs().sum() > 0 and pts.grad.abs().sum() > 0


class TestRaysamplers:
    def test_ndc_grid(self):
        cams = _cams(2)
        rs = NDCMultinomialRaysampler(
            image_width=8, image_height=6, n_pts_per_ray=5, min_depth=0.1, max_depth=3.0
        )
        b = rs(cams)
        assert b.origins.shape == (2, 6, 8, 3) and b.directions.shape == (2, 6, 8, 3)
        assert b.lengths.shape == (2, 6, 8, 5) and b.xys.shape == (2, 6, 8, 2)
        assert torch.allclose(b.lengths[0, 0, 0], torch.linspace(0.1, 3.0, 5))
        # top-left pixel: +X left, +Y up; the shorter side spans [-1, 1]
        assert torch.allclose(b.xys[0, 0, 0], torch.tensor([8 / 6 - 1 / 6, 1 - 1 / 6]), atol=1e-6)
        pts = ray_bundle_to_ray_points(b)
        assert pts.shape == (2, 6, 8, 5, 3)

    def test_deprecated_grid(self):
        with pytest.warns((PendingDeprecationWarning, DeprecationWarning, UserWarning)):
            rs = NDCGridRaysampler(
                image_width=4, image_height=4, n_pts_per_ray=3, min_depth=0.1, max_depth=3.0
            )
        assert rs(_cams(1)).xys.shape == (1, 4, 4, 2)
        with pytest.warns((PendingDeprecationWarning, DeprecationWarning, UserWarning)):
            g = GridRaysampler(
                min_x=3.0,
                max_x=0.0,
                min_y=3.0,
                max_y=0.0,
                image_width=4,
                image_height=4,
                n_pts_per_ray=3,
                min_depth=0.1,
                max_depth=3.0,
            )
        assert isinstance(g, MultinomialRaysampler)

    def test_monte_carlo(self):
        rs = MonteCarloRaysampler(
            min_x=-1.0,
            max_x=1.0,
            min_y=-1.0,
            max_y=1.0,
            n_rays_per_image=7,
            n_pts_per_ray=4,
            min_depth=0.1,
            max_depth=3.0,
        )
        b = rs(_cams(2))
        assert b.origins.shape == (2, 7, 3) and b.lengths.shape == (2, 7, 4)
        assert b.xys.shape == (2, 7, 2) and b.xys.abs().max() <= 1.0

    def test_ray_bundle_construction_and_save(self):
        b = RayBundle(
            origins=torch.zeros(4, 3),
            directions=torch.ones(4, 3),
            lengths=torch.rand(4, 5),
            xys=None,
        )
        assert b.xys is None
        assert ray_bundle_to_ray_points(b).shape == (4, 5, 3)
        buf = io.BytesIO()
        torch.save({"ray_bundle": b, "cameras": _cams(1)}, buf)
        buf.seek(0)
        back = torch.load(buf, weights_only=False)
        assert torch.equal(back["ray_bundle"].lengths, b.lengths)


class _Field(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = HarmonicEmbedding(n_harmonic_functions=4)
        self.lin = torch.nn.Linear(self.embed.get_output_dim(3), 4)

    def forward(self, ray_bundle: RayBundle, **kwargs):
        x = self.lin(self.embed(ray_bundle_to_ray_points(ray_bundle)))
        return torch.sigmoid(x[..., :1]), torch.sigmoid(x[..., 1:])


class TestImplicitAndVolume:
    def test_harmonic_embedding(self):
        he = HarmonicEmbedding(n_harmonic_functions=6)
        assert he.get_output_dim(3) == 39
        assert he(torch.zeros(2, 3)).shape == (2, 39)

    def test_nerf_loop(self):
        field = _Field()
        rs = MonteCarloRaysampler(
            min_x=-1.0,
            max_x=1.0,
            min_y=-1.0,
            max_y=1.0,
            n_rays_per_image=16,
            n_pts_per_ray=8,
            min_depth=0.1,
            max_depth=3.0,
        )
        renderer = ImplicitRenderer(raysampler=rs, raymarcher=EmissionAbsorptionRaymarcher())
        cams = _cams(2)
        out, rays = renderer(cameras=cams, volumetric_function=field)
        assert out.shape == (2, 16, 4)
        rgb, sil = out.split([3, 1], dim=-1)
        target = torch.rand(2, 8, 8, 1)
        sampled = torch.nn.functional.grid_sample(
            target.permute(0, 3, 1, 2), -rays.xys.view(2, -1, 1, 2), align_corners=True
        )
        loss = ((sil - sampled.permute(0, 2, 3, 1).view(2, 16, 1)) ** 2).mean() + rgb.mean()
        loss.backward()
        assert field.lin.weight.grad.abs().sum() > 0
        grid = ImplicitRenderer(
            raysampler=NDCMultinomialRaysampler(
                image_width=6, image_height=6, n_pts_per_ray=8, min_depth=0.1, max_depth=3.0
            ),
            raymarcher=EmissionAbsorptionRaymarcher(),
        )
        # rebuilding a camera from a 0-dim attribute, as generate_rotating_nerf does
        Rs = so3_exp_map(torch.tensor([[0.0, 0.5, 0.0]]))
        cam = FoVPerspectiveCameras(
            R=Rs,
            T=torch.tensor([[0.0, 0.0, 2.7]]),
            znear=cams.znear[0],
            zfar=cams.zfar[0],
            aspect_ratio=cams.aspect_ratio[0],
            fov=cams.fov[0],
        )
        with torch.no_grad():
            img, _ = grid(cameras=cam, volumetric_function=field)
        assert img.shape == (1, 6, 6, 4)

    def test_volume_fit_step(self):
        log_d = torch.nn.Parameter(-4.0 * torch.ones(1, 8, 8, 8))
        log_c = torch.nn.Parameter(torch.zeros(3, 8, 8, 8))
        cams = _cams(2)
        renderer = VolumeRenderer(
            raysampler=NDCMultinomialRaysampler(
                image_width=8, image_height=8, n_pts_per_ray=16, min_depth=0.1, max_depth=3.0
            ),
            raymarcher=EmissionAbsorptionRaymarcher(),
        )
        vols = Volumes(
            densities=torch.sigmoid(log_d)[None].expand(2, *log_d.shape),
            features=torch.sigmoid(log_c)[None].expand(2, *log_c.shape),
            voxel_size=3.0 / 8,
        )
        images, bundle = renderer(cameras=cams, volumes=vols)
        assert images.shape == (2, 8, 8, 4)
        rgb, sil = images.split([3, 1], dim=-1)
        (rgb.mean() + sil.mean()).backward()
        assert log_d.grad.abs().sum() > 0 and log_c.grad.abs().sum() > 0

    def test_book_volume_sampler_and_marcher(self):
        cams = _cams(2)
        bundle = NDCMultinomialRaysampler(
            image_width=6, image_height=6, n_pts_per_ray=10, min_depth=0.1, max_depth=3.0
        )(cams)
        vols = Volumes(
            densities=torch.ones(2, 1, 8, 8, 8), features=torch.ones(2, 3, 8, 8, 8), voxel_size=0.1
        )
        dens, feats = VolumeSampler(volumes=vols, sample_mode="bilinear")(bundle)
        assert dens.shape == (2, 6, 6, 10, 1) and feats.shape == (2, 6, 6, 10, 3)
        # points outside the 0.7-wide volume get zero density
        assert dens.min() == 0.0
        out = EmissionAbsorptionRaymarcher()(rays_densities=dens, rays_features=feats)
        assert out.shape == (2, 6, 6, 4)
        ao = AbsorptionOnlyRaymarcher()(rays_densities=dens)
        assert ao.shape == (2, 6, 6, 1)


class TestPointsCompositingValues:
    """One point seen by a 5x5 camera: PyTorch3D weights a point by 1 - d^2 / r^2 (d in NDC)
    and alpha-composites without blending the background into covered pixels."""

    def _render(self, compositor):
        cam = FoVOrthographicCameras()
        feat = torch.tensor([[0.3, 0.6, 0.9]])
        cloud = Pointclouds(points=[torch.tensor([[0.0, 0.0, 5.0]])], features=[feat])
        settings = PointsRasterizationSettings(image_size=5, radius=0.5, points_per_pixel=2)
        rasterizer = PointsRasterizer(cameras=cam, raster_settings=settings)
        return PointsRenderer(rasterizer=rasterizer, compositor=compositor)(cloud)[0], feat[0]

    def test_alpha(self):
        img, f = self._render(AlphaCompositor(background_color=(0.0, 0.0, 1.0)))
        assert torch.allclose(img[2, 2], f, atol=1e-6)
        # neighbour pixel centre is 0.4 NDC away: weight 1 - 0.16 / 0.25
        assert torch.allclose(img[2, 3], 0.36 * f, atol=1e-5)
        assert torch.allclose(img[2, 1], 0.36 * f, atol=1e-5)
        # corner (0.8, 0.8) is outside the radius: background colour
        assert torch.allclose(img[0, 0], torch.tensor([0.0, 0.0, 1.0]))

    def test_norm_weighted(self):
        img, f = self._render(NormWeightedCompositor())
        assert torch.allclose(img[2, 3], f, atol=1e-5)
        assert torch.allclose(img[0, 0], torch.zeros(3))

    def test_fragments(self):
        cam = FoVOrthographicCameras()
        cloud = Pointclouds(points=[torch.tensor([[0.0, 0.0, 5.0], [0.0, 0.0, 7.0]])])
        settings = PointsRasterizationSettings(image_size=5, radius=0.5, points_per_pixel=3)
        frags = PointsRasterizer(cameras=cam, raster_settings=settings)(cloud)
        # nearest first, -1 padding, view-space z, squared NDC distance
        assert frags.idx[0, 2, 2].tolist() == [0, 1, -1]
        assert torch.allclose(frags.zbuf[0, 2, 2], torch.tensor([5.0, 7.0, -1.0]))
        assert torch.allclose(frags.dists[0, 2, 3], torch.tensor([0.16, 0.16, -1.0]), atol=1e-6)


class TestImplicitValues:
    def test_emission_absorption_formula(self):
        dens = torch.tensor([0.5, 0.5]).view(1, 2, 1)
        feats = torch.tensor([1.0, 2.0]).view(1, 2, 1)
        out = EmissionAbsorptionRaymarcher()(rays_densities=dens, rays_features=feats)
        # weights d_i * prod_{j<i}(1 - d_j) = (0.5, 0.25); opacity 1 - prod(1 - d)
        assert torch.allclose(out, torch.tensor([[1.0, 0.75]]), atol=1e-6)
        ao = AbsorptionOnlyRaymarcher()(rays_densities=dens)
        assert torch.allclose(ao, torch.tensor([[0.75]]), atol=1e-6)

    def test_harmonic_embedding_layout(self):
        x = torch.tensor([[0.3, -0.2, 0.7]])
        he = HarmonicEmbedding(n_harmonic_functions=2, omega_0=1.0)
        embed = (x[..., None] * torch.tensor([1.0, 2.0])).view(1, -1)
        want = torch.cat([embed.sin(), embed.cos(), x], dim=-1)
        assert torch.allclose(he(x), want, atol=1e-6)
        he = HarmonicEmbedding(n_harmonic_functions=2, append_input=False)
        assert he(x).shape == (1, 12)

    def test_grid_directions_have_unit_depth(self):
        cam = FoVPerspectiveCameras()
        b = NDCMultinomialRaysampler(
            image_width=4, image_height=4, n_pts_per_ray=3, min_depth=1.0, max_depth=2.0
        )(cam)
        assert torch.allclose(b.origins, torch.zeros_like(b.origins), atol=1e-6)
        assert torch.allclose(b.directions[..., 2], torch.ones(1, 4, 4), atol=1e-5)
        # the direction's xy is the unprojection of the pixel's NDC xy at depth 1
        t = math.tan(math.radians(30))
        assert torch.allclose(b.directions[..., :2], b.xys * t, atol=1e-5)
        pts = ray_bundle_to_ray_points(b)
        assert torch.allclose(pts[..., 2], b.lengths, atol=1e-5)
        unit = NDCMultinomialRaysampler(
            image_width=4,
            image_height=4,
            n_pts_per_ray=3,
            min_depth=1.0,
            max_depth=2.0,
            unit_directions=True,
        )(cam)
        assert torch.allclose(unit.directions.norm(dim=-1), torch.ones(1, 4, 4), atol=1e-5)


def test_nerf_batched_forward_pattern():
    # the NeRF tutorial re-chunks the grid bundle into RayBundles of flattened rays
    field = _Field()

    def batched_forward(ray_bundle, n_batches=4, **kwargs):
        n_pts = ray_bundle.lengths.shape[-1]
        spatial = [*ray_bundle.origins.shape[:-1], n_pts]
        chunks = torch.chunk(torch.arange(ray_bundle.origins.shape[:-1].numel()), n_batches)
        outs = [
            field(
                RayBundle(
                    origins=ray_bundle.origins.view(-1, 3)[idx],
                    directions=ray_bundle.directions.view(-1, 3)[idx],
                    lengths=ray_bundle.lengths.view(-1, n_pts)[idx],
                    xys=None,
                )
            )
            for idx in chunks
        ]
        return [torch.cat([o[i] for o in outs], dim=0).view(*spatial, -1) for i in (0, 1)]

    renderer = ImplicitRenderer(
        raysampler=NDCMultinomialRaysampler(
            image_width=5, image_height=5, n_pts_per_ray=6, min_depth=0.1, max_depth=3.0
        ),
        raymarcher=EmissionAbsorptionRaymarcher(),
    )
    cams = _cams(2)
    with torch.no_grad():
        a, _ = renderer(cameras=cams, volumetric_function=batched_forward)
        b, _ = renderer(cameras=cams, volumetric_function=field)
    assert a.shape == (2, 5, 5, 4)
    assert torch.allclose(a, b, atol=1e-6)


def test_structures_survive_torch_save():
    vol = Volumes(densities=torch.rand(1, 1, 2, 2, 2), voxel_size=0.5)
    pc = Pointclouds(points=[torch.rand(4, 3)], features=[torch.rand(4, 2)])
    buf = io.BytesIO()
    torch.save({"v": vol, "p": pc}, buf)
    buf.seek(0)
    back = torch.load(buf, weights_only=False)
    assert torch.equal(back["v"].densities(), vol.densities())
    assert torch.equal(back["p"].features_packed(), pc.features_packed())
    assert torch.allclose(
        back["v"].local_to_world_coords(torch.ones(1, 1, 3)),
        vol.local_to_world_coords(torch.ones(1, 1, 3)),
    )
