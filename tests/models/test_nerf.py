"""The book's NeuralRadianceField and the coarse + fine NeRF renderer."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.models.hash_grid import HashGridEncoding, HashGridField
from inverse3d.models.nerf import NeRF, NeuralRadianceField, volume_render_weights
from inverse3d.renderer.cameras import FoVPerspectiveCameras, look_at_view_transform
from inverse3d.renderer.implicit.raymarching import EmissionAbsorptionRaymarcher
from inverse3d.renderer.implicit.raysampling import NDCMultinomialRaysampler
from inverse3d.renderer.implicit.renderer import ImplicitRenderer
from inverse3d.renderer.implicit.utils import RayBundle


def _bundle(n_rays: int = 6, S: int = 5, lead: tuple[int, ...] = (2,)) -> RayBundle:
    return RayBundle(
        origins=torch.randn(*lead, n_rays, 3),
        directions=torch.randn(*lead, n_rays, 3),
        lengths=torch.rand(*lead, n_rays, S) * 2 + 1,
        xys=torch.rand(*lead, n_rays, 2),
    )


class ShellField(torch.nn.Module):
    """Analytic field: a Gaussian shell of density around a sphere, colour from position."""

    def __init__(self, radius: float = 0.6, width: float = 0.05, peak: float = 40.0):
        super().__init__()
        self.radius, self.width, self.peak = radius, width, peak

    def forward(self, points, directions=None):
        r = points.norm(dim=-1, keepdim=True)
        sigma = self.peak * torch.exp(-(((r - self.radius) / self.width) ** 2))
        return sigma, torch.sigmoid(points * 3.0)


class TestNeuralRadianceField:
    def test_smoke(self):
        net = NeuralRadianceField(n_harmonic_functions=8, n_hidden_neurons=16)
        dens, cols = net(_bundle())
        assert dens.shape == (2, 6, 5, 1) and cols.shape == (2, 6, 5, 3)
        assert bool(((dens >= 0) & (dens <= 1)).all()) and bool(((cols >= 0) & (cols <= 1)).all())

    def test_shapes(self):
        net = NeuralRadianceField()  # the book's defaults
        assert net.harmonic_embedding.get_output_dim(3) == 360
        assert net.mlp[0].in_features == 360 and net.mlp[0].out_features == 256
        assert net.color_layer[0].in_features == 256 + 360
        # the book's embedding frequencies: 0.1 * 2**j
        x = torch.tensor([[0.3, -0.2, 0.7]])
        emb = net.harmonic_embedding(x)
        expected_sin = torch.sin(x[0, 0] * 0.1 * 2.0 ** torch.arange(60.0))
        torch.testing.assert_close(emb[0, :60], expected_sin)
        # initial densities are small (density bias -1.5): a nearly empty volume
        dens, _ = net(_bundle(lead=(1,)))
        assert float(dens.detach().mean()) < 0.1
        sigma, rgb = net.query(torch.rand(4, 3), torch.randn(4, 3))
        assert sigma.shape == (4, 1) and rgb.shape == (4, 3) and bool((sigma >= 0).all())

    def test_exceptions(self):
        with pytest.raises(ValueError, match="n_harmonic_functions"):
            NeuralRadianceField(n_harmonic_functions=0)
        with pytest.raises(ValueError, match="n_batches"):
            NeuralRadianceField(4, 8).batched_forward(_bundle(), n_batches=0)
        with pytest.raises(ValueError, match="points must have shape"):
            NeuralRadianceField(4, 8).query(torch.rand(4, 2))

    @pytest.mark.parametrize("n_batches", [1, 4, 7, 100])
    def test_batched_forward_matches_forward(self, n_batches):
        net = NeuralRadianceField(n_harmonic_functions=6, n_hidden_neurons=32)
        bundle = _bundle(n_rays=9, S=4, lead=(3,))
        d0, c0 = net(bundle)
        d1, c1 = net.batched_forward(bundle, n_batches=n_batches)
        torch.testing.assert_close(d1, d0)
        torch.testing.assert_close(c1, c0)

    def test_with_implicit_renderer(self):
        """The book's call pattern: ImplicitRenderer(volumetric_function=net.batched_forward)."""
        net = NeuralRadianceField(n_harmonic_functions=6, n_hidden_neurons=16)
        R, T = look_at_view_transform(2.7, 0.0, torch.tensor([0.0, 90.0]))
        cams = FoVPerspectiveCameras(R=R, T=T)
        sampler = NDCMultinomialRaysampler(
            image_width=8, image_height=6, n_pts_per_ray=10, min_depth=0.1, max_depth=3.0
        )
        renderer = ImplicitRenderer(sampler, EmissionAbsorptionRaymarcher())
        images, _ = renderer(cameras=cams, volumetric_function=net.batched_forward)
        assert images.shape == (2, 6, 8, 4)
        images_f, _ = renderer(cameras=cams, volumetric_function=net)
        torch.testing.assert_close(images, images_f)
        images_f.sum().backward()
        assert net.mlp[0].weight.grad is not None


class TestVolumeRenderWeights:
    def test_matches_reference_homogeneous_slab(self):
        """Constant density sigma over length L along a ray of speed |d|: 1 - exp(-sigma L |d|)."""
        S, sigma0 = 50, 0.7
        t = torch.linspace(1.0, 3.0, S + 1)[:-1].expand(2, S)  # spacing 2/S, last repeats it
        d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
        w = volume_render_weights(torch.full((2, S), sigma0), t, d)
        expected = 1.0 - torch.exp(-sigma0 * 2.0 * d.norm(dim=-1))
        torch.testing.assert_close(w.sum(-1), expected, rtol=1e-5, atol=1e-6)
        assert bool((w >= 0).all())


class TestNeRF:
    def _rays(self, n: int = 64):
        xy = torch.rand(n, 2) * 0.6 - 0.3
        origins = torch.cat((xy, torch.full((n, 1), -3.0)), -1)
        directions = torch.tensor([0.0, 0.0, 1.0]).expand(n, 3).clone()
        return origins, directions

    def test_shapes(self):
        field = HashGridField(HashGridEncoding(n_levels=2, log2_hashmap_size=8), hidden_dim=8)
        nerf = NeRF(field, field, n_coarse=8, n_fine=16)
        o, d = self._rays(10)
        out = nerf.render_rays(o, d, 1.0, 5.0)
        assert out["rgb"].shape == (10, 3) and out["depth"].shape == (10,)
        assert out["weights"].shape == (10, 24) and out["t"].shape == (10, 24)
        assert out["rgb_coarse"].shape == (10, 3) and out["weights_coarse"].shape == (10, 8)
        assert out["n_evaluated"] == 10 * (8 + 24)
        assert bool((out["t"][:, 1:] >= out["t"][:, :-1]).all())
        coarse_only = NeRF(NeuralRadianceField(4, 8), n_coarse=8)
        out = coarse_only(o, d, torch.full((10,), 1.0), torch.full((10,), 5.0))
        assert out["weights"].shape == (10, 8) and "rgb_coarse" not in out

    def test_exceptions(self):
        with pytest.raises(TypeError, match="coarse_field"):
            NeRF(3)
        with pytest.raises(ValueError, match="background"):
            NeRF(ShellField(), background="grey")
        nerf = NeRF(ShellField(), n_coarse=4)
        with pytest.raises(ValueError, match="directions must have shape"):
            nerf.render_rays(torch.zeros(3, 3), torch.zeros(4, 3), 1.0, 2.0)
        with pytest.raises(ValueError, match="far must be greater"):
            nerf.render_rays(torch.zeros(3, 3), torch.ones(3, 3), 2.0, 1.0)

    @pytest.mark.parametrize("background,value", [("white", 1.0), ("black", 0.0)])
    def test_background(self, background, value):
        """Rays that miss the object show the background colour; opaque rays do not."""
        nerf = NeRF(ShellField(), n_coarse=64, background=background).eval()
        origins = torch.tensor([[2.0, 2.0, -3.0], [0.0, 0.0, -3.0]])
        d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
        out = nerf.render_rays(origins, d, 1.0, 5.0)
        torch.testing.assert_close(out["rgb"][0], torch.full((3,), value), atol=1e-5, rtol=0)
        assert float(out["opacity"][1]) > 0.99
        nerf_c = NeRF(ShellField(), n_coarse=4, background=(0.2, 0.4, 0.6)).eval()
        miss = nerf_c.render_rays(origins[:1], d[:1], 1.0, 5.0)["rgb"][0]
        torch.testing.assert_close(miss, torch.tensor([0.2, 0.4, 0.6]), atol=1e-5, rtol=0)

    def test_hierarchical_samples_concentrate_near_surface(self):
        """Fine samples pile up around the first surface hit, unlike the uniform coarse ones."""
        field = ShellField()
        nerf = NeRF(field, field, n_coarse=32, n_fine=64).train()
        o, d = self._rays(64)
        out = nerf.render_rays(o, d, 1.0, 5.0)
        r2 = (o[:, :2] ** 2).sum(-1)
        t_hit = 3.0 - torch.sqrt(0.6**2 - r2)  # first crossing of the shell, (R,)
        near = (out["t_fine"] - t_hit[:, None]).abs() < 0.15
        frac_fine = float(near.float().mean())
        frac_coarse = float(((out["t_coarse"] - t_hit[:, None]).abs() < 0.15).float().mean())
        assert frac_coarse < 0.12  # 0.3 / 4 of the range
        assert frac_fine > 0.8, frac_fine
        # the expected depth is the surface
        torch.testing.assert_close(
            out["depth"], t_hit, atol=0.1, rtol=0
        )  # shell half-width 0.05, oblique rays

    def test_eval_is_deterministic(self):
        field = ShellField()
        nerf = NeRF(field, field, n_coarse=16, n_fine=16).eval()
        o, d = self._rays(8)
        a, b = nerf.render_rays(o, d, 1.0, 5.0), nerf.render_rays(o, d, 1.0, 5.0)
        torch.testing.assert_close(a["rgb"], b["rgb"])
        c = nerf.render_rays(o, d, 1.0, 5.0, chunk_size=3)
        torch.testing.assert_close(c["rgb"], a["rgb"])
        assert c["n_evaluated"] == a["n_evaluated"]

    def test_converges_to_analytic_render(self):
        """More samples converge to the same image (quadrature consistency)."""
        field = ShellField(width=0.1, peak=5.0)
        o, d = self._rays(32)
        rgb = [
            NeRF(field, n_coarse=n).eval().render_rays(o, d, 1.0, 5.0)["rgb"] for n in (256, 1024)
        ]
        assert float((rgb[0] - rgb[1]).abs().max()) < 5e-3

    def test_gradients_flow_to_fields(self):
        coarse = NeuralRadianceField(4, 16)
        fine = HashGridField(HashGridEncoding(n_levels=2, log2_hashmap_size=8), hidden_dim=8)
        nerf = NeRF(coarse, fine, n_coarse=8, n_fine=8)
        o, d = self._rays(16)
        out = nerf.render_rays(o, d, 1.0, 5.0)
        (out["rgb"].sum() + out["rgb_coarse"].sum()).backward()
        assert coarse.mlp[0].weight.grad is not None
        assert float(fine.encoding.embeddings.grad.abs().sum()) > 0
        assert not math.isnan(float(out["rgb"].detach().sum()))
