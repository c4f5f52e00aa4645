"""VolumeSampler / VolumeRenderer / ImplicitRenderer: conventions, silhouettes, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from inverse3d.renderer.cameras import FoVPerspectiveCameras
from inverse3d.renderer.implicit.raymarching import (
    AbsorptionOnlyRaymarcher,
    EmissionAbsorptionRaymarcher,
)
from inverse3d.renderer.implicit.raysampling import NDCMultinomialRaysampler
from inverse3d.renderer.implicit.renderer import ImplicitRenderer, VolumeRenderer, VolumeSampler
from inverse3d.renderer.implicit.utils import RayBundle, ray_bundle_to_ray_points
from inverse3d.renderer.look_at import look_at_view_transform
from inverse3d.structures.volumes import Volumes


def _voxel_centres(D, H, W, vs, tr, align_corners):
    """World centres (D, H, W, 3) of the voxels, written from PyTorch3D's convention: local
    [-1, 1] maps to world by x_world = x_local * 0.5 * (size - 1) * voxel_size - translation,
    and voxel k has local coordinate -1 + 2 k / (size - 1) (align_corners) or
    -1 + (2 k + 1) / size (not)."""

    def axis(n, v, t):
        k = torch.arange(n, dtype=torch.float64)
        local = -1 + 2 * k / (n - 1) if align_corners else -1 + (2 * k + 1) / n
        return local * 0.5 * (n - 1) * v - t

    zz, yy, xx = torch.meshgrid(
        axis(D, vs[2], tr[2]), axis(H, vs[1], tr[1]), axis(W, vs[0], tr[0]), indexing="ij"
    )
    return torch.stack((xx, yy, zz), dim=-1)


class TestVolumeSampler:
    @pytest.mark.parametrize("align_corners", [True, False])
    @pytest.mark.parametrize("mode", ["bilinear", "nearest"])
    def test_convention_voxel_centres(self, align_corners, mode):
        D, H, W = 3, 4, 5
        vs, tr = (0.1, 0.2, 0.3), (0.1, -0.2, 0.3)
        dens = torch.rand(1, 1, D, H, W, dtype=torch.float64)
        feat = torch.rand(1, 2, D, H, W, dtype=torch.float64)
        vol = Volumes(
            densities=dens,
            features=feat,
            voxel_size=vs,
            volume_translation=tr,
            align_corners=align_corners,
        )
        centres = _voxel_centres(D, H, W, vs, tr, align_corners).reshape(1, -1, 3)
        # each ray starts elsewhere and reaches its voxel centre at length 2
        dirs = torch.randn_like(centres)
        bundle = RayBundle(
            centres - 2 * dirs,
            dirs,
            torch.full((1, centres.shape[1], 1), 2.0, dtype=torch.float64),
            torch.zeros(1, 60, 2),
        )
        rd, rf = VolumeSampler(vol, sample_mode=mode)(bundle)
        assert rd.shape == (1, D * H * W, 1, 1) and rf.shape == (1, D * H * W, 1, 2)
        torch.testing.assert_close(rd[0, :, 0, 0], dens[0, 0].reshape(-1))
        torch.testing.assert_close(rf[0, :, 0], feat[0].reshape(2, -1).T)

    def test_midpoint_interpolates_and_padding(self):
        dens = torch.zeros(1, 1, 2, 2, 2)
        dens[0, 0, :, :, 1] = 1.0  # x = +0.5 voxels is 1, x = -0.5 is 0
        vol = Volumes(densities=dens, voxel_size=1.0)
        o = torch.tensor([[[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]]])
        bundle = RayBundle(o, torch.ones_like(o), torch.zeros(1, 2, 1), torch.zeros(1, 2, 2))
        rd, rf = VolumeSampler(vol)(bundle)
        assert rf.shape == (1, 2, 1, 0)
        torch.testing.assert_close(rd[0, :, 0, 0], torch.tensor([0.5, 0.0]))
        rd, _ = VolumeSampler(vol, padding_mode="border")(bundle)
        torch.testing.assert_close(rd[0, :, 0, 0], torch.tensor([0.5, 1.0]))

    def test_exceptions(self):
        vol = Volumes(densities=torch.rand(2, 1, 3, 3, 3))
        with pytest.raises(ValueError, match="Volumes"):
            VolumeSampler(torch.rand(2, 1, 3, 3, 3))
        with pytest.raises(ValueError, match="sample_mode"):
            VolumeSampler(vol, sample_mode="cubic")
        with pytest.raises(ValueError, match="padding_mode"):
            VolumeSampler(vol, padding_mode="wrap")
        b = RayBundle(torch.rand(3, 4, 3), torch.rand(3, 4, 3), torch.rand(3, 4, 2), None)
        with pytest.raises(ValueError, match="batch size"):
            VolumeSampler(vol)(b)
        b = RayBundle(torch.rand(2, 4, 3), torch.rand(2, 5, 3), torch.rand(2, 4, 2), None)
        with pytest.raises(ValueError, match="leading"):
            VolumeSampler(vol)(b)

    def test_gradcheck_with_raymarcher(self):
        dens = (torch.rand(1, 1, 3, 3, 3, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
        feat = torch.rand(1, 2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
        o = torch.tensor([[[-0.6, 0.1, -2.0], [0.3, -0.4, -2.0]]], dtype=torch.float64)
        d = torch.tensor([[[0.1, 0.05, 1.0], [-0.1, 0.1, 1.0]]], dtype=torch.float64)
        lengths = torch.linspace(1.2, 2.8, 5, dtype=torch.float64).expand(1, 2, 5)

        def f(dens, feat):
            vol = Volumes(densities=dens, features=feat, voxel_size=0.5)
            rd, rf = VolumeSampler(vol)(RayBundle(o, d, lengths, None))
            return EmissionAbsorptionRaymarcher()(rd, rf)

        assert torch.autograd.gradcheck(f, (dens, feat))


def _sphere_cameras():
    R, T = look_at_view_transform(dist=2.7, elev=20.0, azim=30.0)
    return FoVPerspectiveCameras(R=R, T=T, fov=60.0)


def _grid_renderer(cls, W, H, n_pts_per_ray, min_depth=1.5, max_depth=4.0):
    """A `cls` (VolumeRenderer or ImplicitRenderer) casting an NDC grid of W x H rays, marched
    by EmissionAbsorptionRaymarcher."""
    raysampler = NDCMultinomialRaysampler(
        image_width=W,
        image_height=H,
        n_pts_per_ray=n_pts_per_ray,
        min_depth=min_depth,
        max_depth=max_depth,
    )
    return cls(raysampler, EmissionAbsorptionRaymarcher())


def _random_volume(G, voxel_size, device="cpu"):
    """One G^3 volume of uniform random densities and 3 random feature channels."""
    return Volumes(
        densities=torch.rand(1, 1, G, G, G, device=device),
        features=torch.rand(1, 3, G, G, G, device=device),
        voxel_size=voxel_size,
    )


class TestVolumeRenderer:
    def test_matches_mesh_rasterizer_silhouette(self):
        rm = pytest.importorskip("inverse3d.renderer.mesh.rasterize_meshes")
        ico = pytest.importorskip("inverse3d.utils.ico_sphere")
        from inverse3d.structures.meshes import Meshes

        size, radius = 128, 0.5
        centre = torch.tensor([0.3, 0.15, -0.1])
        cams = _sphere_cameras()
        # mesh silhouette: ico_sphere(4) projected to NDC with view-space z, rasterized
        sphere = ico.ico_sphere(4)
        verts = sphere.verts_packed() * radius + centre
        ndc = cams.transform_points_ndc(verts[None])
        z = cams.get_world_to_view_transform().transform_points(verts[None])[..., 2:]
        mesh = Meshes(verts=[torch.cat((ndc[0, :, :2], z[0]), -1)], faces=[sphere.faces_packed()])
        p2f = rm.rasterize_meshes(mesh, image_size=size, faces_per_pixel=1)[0]
        mesh_sil = p2f[0, :, :, 0] >= 0
        # volume silhouette: 128^3 occupancy of the same sphere at the voxel centres
        G = 128
        vol = Volumes(densities=torch.zeros(1, 1, G, G, G), voxel_size=2.0 / G)
        grid = vol.get_coord_grid()  # (1, G, G, G, 3) world voxel centres
        occ = ((grid - centre).norm(dim=-1) < radius).float()[:, None]
        vol = Volumes(densities=occ, voxel_size=2.0 / G)
        renderer = VolumeRenderer(
            NDCMultinomialRaysampler(
                image_width=size,
                image_height=size,
                n_pts_per_ray=200,
                min_depth=1.7,
                max_depth=3.7,
            ),
            AbsorptionOnlyRaymarcher(),
            sample_mode="nearest",
        )
        images, bundle = renderer(cams, vol)
        assert images.shape == (1, size, size, 1)
        vol_sil = images[0, :, :, 0] > 0.5
        # same silhouette to within one pixel
        grow = F.max_pool2d(mesh_sil[None, None].float(), 3, 1, 1)[0, 0] > 0
        shrink = -F.max_pool2d(-mesh_sil[None, None].float(), 3, 1, 1)[0, 0] > 0
        assert bool((vol_sil & ~grow).sum() == 0), "volume covers pixels far outside the mesh"
        assert bool((shrink & ~vol_sil).sum() == 0), "volume misses pixels deep inside the mesh"
        iou = (vol_sil & mesh_sil).sum() / (vol_sil | mesh_sil).sum()
        assert float(iou) > 0.97
        # and a mirrored image would not match (the check can fail)
        flipped = vol_sil.flip(1)
        assert bool((flipped & ~grow).sum() > 50)

    def test_smoke_rgb(self):
        renderer = _grid_renderer(VolumeRenderer, 10, 6, 20)
        images, bundle = renderer(_sphere_cameras(), _random_volume(8, 0.2))
        assert images.shape == (1, 6, 10, 4) and isinstance(bundle, RayBundle)
        assert bool(((images >= 0) & (images <= 1 + 1e-5)).all())


class TestImplicitRenderer:
    def test_matches_reference_sphere(self):
        cams = _sphere_cameras()

        def sphere(ray_bundle, **kwargs):
            pts = ray_bundle_to_ray_points(ray_bundle)
            dens = (pts.norm(dim=-1, keepdim=True) < 0.8).float()
            return dens, torch.ones_like(dens)

        renderer = _grid_renderer(ImplicitRenderer, 32, 32, 150)
        images, bundle = renderer(cameras=cams, volumetric_function=sphere)
        assert images.shape == (1, 32, 32, 2)
        # analytic: the ray hits the sphere iff its distance to the centre is < 0.8
        o, d = bundle.origins[0], F.normalize(bundle.directions[0], dim=-1)
        dist = (o - (o * d).sum(-1, keepdim=True) * d).norm(dim=-1)
        inside, outside = dist < 0.78, dist > 0.82
        assert bool((images[0, ..., 1][inside] > 0.99).all())
        assert bool((images[0, ..., 1][outside] < 0.01).all())
        assert int(inside.sum()) > 50

    def test_exceptions(self):
        with pytest.raises(ValueError, match="raysampler"):
            ImplicitRenderer(None, EmissionAbsorptionRaymarcher())
        with pytest.raises(ValueError, match="raymarcher"):
            ImplicitRenderer(lambda **k: None, 3)
        r = ImplicitRenderer(lambda **k: None, EmissionAbsorptionRaymarcher())
        with pytest.raises(ValueError, match="volumetric_function"):
            r(cameras=None, volumetric_function=5)


def test_device_follows_inputs(device):
    cams = _sphere_cameras().to(device)
    vol = _random_volume(6, 0.3, device)
    renderer = _grid_renderer(VolumeRenderer, 8, 8, 16)
    images, bundle = renderer(cams, vol)
    assert images.device.type == device.type and bundle.origins.device.type == device.type
    ref, _ = renderer(cams.to("cpu"), vol.to("cpu"))
    torch.testing.assert_close(images.cpu(), ref, atol=1e-4, rtol=1e-4)


def test_volume_fit_reduces_error():
    """End to end: gradients through VolumeRenderer fit a volume to renders of another."""
    torch.manual_seed(0)
    R, T = look_at_view_transform(
        dist=2.5,
        elev=torch.tensor([0.0, 30.0, -20.0, 10.0]),
        azim=torch.tensor([0.0, 90.0, 180.0, 270.0]),
    )
    cams = FoVPerspectiveCameras(R=R, T=T)
    G = 8
    true_d = torch.zeros(1, 1, G, G, G)
    true_d[..., 2:6, 3:7, 1:4] = 0.9
    true_c = torch.rand(1, 3, G, G, G)
    renderer = _grid_renderer(VolumeRenderer, 16, 16, 32, max_depth=3.5)

    def render(d, c):
        vol = Volumes(
            densities=d.expand(4, -1, -1, -1, -1),
            features=c.expand(4, -1, -1, -1, -1),
            voxel_size=0.25,
        )
        return renderer(cams, vol)[0]

    target = render(true_d, true_c)
    logit_d = torch.zeros(1, 1, G, G, G, requires_grad=True)
    logit_c = torch.zeros(1, 3, G, G, G, requires_grad=True)
    opt = torch.optim.Adam([logit_d, logit_c], lr=0.2)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = ((render(torch.sigmoid(logit_d), torch.sigmoid(logit_c)) - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_smoke_nerf_tutorial_pipeline():
    """The calls of PyTorch3D's NeRF tutorial: keyword samplers, a harmonic-embedding field,
    Monte Carlo training rays (per image and heterogeneous), gradients to the field."""
    from inverse3d.renderer.implicit.harmonic_embedding import HarmonicEmbedding
    from inverse3d.renderer.implicit.raysampling import MonteCarloRaysampler

    class Field(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = HarmonicEmbedding(n_harmonic_functions=4)
            self.mlp = torch.nn.Linear(self.embed.get_output_dim(), 4)

        def forward(self, ray_bundle, **kwargs):
            x = self.mlp(self.embed(ray_bundle_to_ray_points(ray_bundle)))
            dens = 1 - (-torch.nn.functional.softplus(x[..., :1])).exp()
            return dens, torch.sigmoid(x[..., 1:])

    R, T = look_at_view_transform(dist=2.7, azim=torch.tensor([0.0, 90.0]))
    cams = FoVPerspectiveCameras(R=R, T=T)
    field = Field()
    for kw in ({"n_rays_per_image": 50}, {"n_rays_per_image": None, "n_rays_total": 30}):
        rs = MonteCarloRaysampler(
            min_x=-1.0,
            max_x=1.0,
            min_y=-1.0,
            max_y=1.0,
            n_pts_per_ray=16,
            min_depth=0.1,
            max_depth=3.0,
            **kw,
        )
        renderer = ImplicitRenderer(raysampler=rs, raymarcher=EmissionAbsorptionRaymarcher())
        images, rays = renderer(cameras=cams, volumetric_function=field)
        assert images.shape == (*rays.xys.shape[:-1], 4)
        field.zero_grad()
        images.sum().backward()
        assert float(field.mlp.weight.grad.abs().sum()) > 0
