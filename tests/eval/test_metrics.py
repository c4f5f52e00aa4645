"""Evaluation metrics against analytic answers and scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inverse3d.eval.metrics import MESH_METRICS, _nearest, evaluate_meshes, mask_iou, psnr, ssim
from inverse3d.structures.meshes import Meshes
from inverse3d.utils.ico_sphere import ico_sphere

N = 20_000  # samples per surface in these tests


def _square(z=0.0, vertical=False) -> Meshes:
    """Unit square [0, 1]^2 in the z = `z` plane (or the x = 0.5 plane when vertical)."""
    v = torch.tensor([[0, 0, z], [1, 0, z], [1, 1, z], [0, 1, z]], dtype=torch.float32)
    if vertical:
        v = torch.tensor([[0.5, 0, -0.5], [0.5, 1, -0.5], [0.5, 1, 0.5], [0.5, 0, 0.5]])
    return Meshes([v], [torch.tensor([[0, 1, 2], [0, 2, 3]])])


@pytest.fixture(scope="module")
def sphere():
    return ico_sphere(4)


class TestEvaluateMeshes:
    def test_smoke(self, sphere):
        out = evaluate_meshes(sphere, sphere, n_samples=2000)
        assert set(MESH_METRICS) <= set(out) and out["f_score_tau"] == 0.01
        assert all(isinstance(out[k], float) for k in MESH_METRICS)

    def test_self_is_near_zero(self, sphere):
        out = evaluate_meshes(sphere, sphere, n_samples=N, tau=0.05)
        # Independent samples of one surface: nearest neighbours are about one sample spacing
        # apart. Scaled sphere radius 0.5 (area pi): spacing sqrt(pi / N) ~ 0.0125.
        spacing = math.sqrt(math.pi / N)
        assert out["chamfer_l1"] < 0.6 * spacing
        assert out["f_score"] == 1.0 and out["precision"] == 1.0 and out["recall"] == 1.0
        assert out["normal_consistency"] > 0.99

    def test_matches_reference_concentric_spheres(self, sphere):
        d = 0.1  # radius 1 vs 1.1; GT box side 2 -> distances scaled by 0.5
        out = evaluate_meshes(sphere.scale_verts(1.0 + d), sphere, n_samples=8000)
        assert out["scale"] == pytest.approx(0.5, abs=1e-6)
        assert out["accuracy"] == pytest.approx(0.05, abs=3e-3)
        assert out["completeness"] == pytest.approx(0.05, abs=3e-3)
        assert out["chamfer_l1"] == pytest.approx(0.05, abs=3e-3)
        assert out["f_score"] == 0.0  # 0.05 > tau = 0.01
        out = evaluate_meshes(sphere.scale_verts(1.0 + d), sphere, n_samples=4000, tau=0.07)
        assert out["f_score"] == 1.0

    def test_matches_reference_scaled_sphere(self, sphere):
        out = evaluate_meshes(sphere.scale_verts(2.0), sphere, n_samples=4000)
        assert out["accuracy"] == pytest.approx(0.5, abs=5e-3)  # (2 - 1) * 0.5
        assert out["completeness"] == pytest.approx(0.5, abs=5e-3)
        assert out["normal_consistency"] > 0.99  # radial normals on both

    def test_matches_reference_shifted_plane(self):
        out = evaluate_meshes(_square(0.03), _square(0.0), n_samples=8000)
        assert out["scale"] == pytest.approx(1.0)
        assert out["accuracy"] == pytest.approx(0.03, abs=2e-3)
        assert out["completeness"] == pytest.approx(0.03, abs=2e-3)
        assert out["precision"] < 0.01 and out["normal_consistency"] == pytest.approx(1.0)
        out = evaluate_meshes(_square(0.003), _square(0.0), n_samples=8000)
        assert out["precision"] > 0.8 and out["recall"] > 0.8

    def test_normal_consistency_perpendicular(self):
        out = evaluate_meshes(_square(vertical=True), _square(), n_samples=2000)
        assert out["normal_consistency"] == pytest.approx(0.0, abs=1e-6)

    def test_invariance_scale_translation(self, sphere):
        a = evaluate_meshes(sphere.scale_verts(1.2), sphere, n_samples=3000, seed=4)
        s, t = 3.0, torch.tensor([0.3, -2.0, 1.0])
        pred = sphere.scale_verts(1.2 * s).offset_verts(t.expand(sphere.verts_packed().shape))
        gt = sphere.scale_verts(s).offset_verts(t.expand(sphere.verts_packed().shape))
        b = evaluate_meshes(pred, gt, n_samples=3000, seed=4)
        for k in MESH_METRICS:
            # float32 face areas move a few multinomial face picks: equal up to that noise
            assert a[k] == pytest.approx(b[k], rel=2e-3, abs=1e-6), k

    def test_deterministic_and_rng_untouched(self, sphere):
        torch.manual_seed(123)
        before = torch.rand(3)
        torch.manual_seed(123)
        a = evaluate_meshes(sphere.scale_verts(1.1), sphere, n_samples=1000, seed=7)
        after = torch.rand(3)
        b = evaluate_meshes(sphere.scale_verts(1.1), sphere, n_samples=1000, seed=7)
        assert torch.equal(before, after) and a == b

    def test_paths_and_empty(self, tmp_path, sphere):
        from inverse3d.io.pluggable import IO

        IO().save_mesh(sphere, tmp_path / "s.ply")
        out = evaluate_meshes(str(tmp_path / "s.ply"), tmp_path / "s.ply", n_samples=1000)
        assert out["chamfer_l1"] < 0.05
        empty = Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3, dtype=torch.int64)])
        out = evaluate_meshes(empty, sphere, n_samples=100)
        assert out["chamfer_l1"] == math.inf and out["f_score"] == 0.0

    def test_exceptions(self, sphere, tmp_path):
        with pytest.raises(TypeError, match="pred must be a Meshes"):
            evaluate_meshes(np.zeros(3), sphere)
        with pytest.raises(ValueError, match="gt must be a non-empty mesh"):
            evaluate_meshes(sphere, Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3).long()]))
        with pytest.raises(ValueError, match="pred must hold one mesh"):
            evaluate_meshes(sphere.extend(2), sphere)
        with pytest.raises(ValueError, match="no such file"):
            evaluate_meshes(tmp_path / "x.obj", sphere)
        with pytest.raises(ValueError, match="n_samples"):
            evaluate_meshes(sphere, sphere, n_samples=0)


class TestNearest:
    """The nearest-sample search of evaluate_meshes (ops.knn_points, K=1) against cKDTree."""

    @pytest.mark.parametrize("radius", [1.0, 1.01, 1.3, 3.0])
    def test_matches_reference(self, radius):
        spatial = pytest.importorskip("scipy.spatial")
        ref = torch.nn.functional.normalize(torch.randn(3000, 3), dim=1)
        query = torch.nn.functional.normalize(torch.randn(2000, 3), dim=1) * radius
        d, i = _nearest(query.double(), ref.double())
        dd, _ = spatial.cKDTree(ref.double().numpy()).query(query.double().numpy())
        np.testing.assert_allclose(d.numpy(), dd, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose((query - ref[i]).norm(dim=1).numpy(), dd, rtol=1e-5, atol=1e-6)

    def test_mixed_and_degenerate(self):
        spatial = pytest.importorskip("scipy.spatial")
        ref = torch.nn.functional.normalize(torch.randn(500, 3), dim=1)
        ref = torch.cat([ref, torch.rand(300, 3) * 0.01 + 5.0])  # two far clumps
        query = torch.cat([torch.rand(400, 3) * 8 - 2, ref[:10]])
        d, _ = _nearest(query, ref)
        dd, _ = spatial.cKDTree(ref.numpy()).query(query.numpy())
        np.testing.assert_allclose(d.numpy(), dd, rtol=1e-5, atol=1e-6)
        assert torch.all(d[-10:] == 0)
        d, i = _nearest(torch.rand(5, 3), torch.zeros(1, 3))  # one reference point
        assert torch.all(i == 0)


class TestPsnr:
    def test_matches_reference(self):
        target = torch.zeros(8, 6, 3)
        assert float(psnr(target + 0.1, target)) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01
        assert float(psnr(target + 0.1, target, max_val=2.0)) == pytest.approx(
            20.0 + 20 * math.log10(2.0), abs=1e-4
        )
        batch = torch.stack([target + 0.1, target + 0.01])  # 20 dB and 40 dB
        assert float(psnr(batch, torch.zeros_like(batch))) == pytest.approx(30.0, abs=1e-3)

    def test_mask(self):
        target = torch.zeros(4, 5, 3)
        pred = target.clone()
        pred[:2] = 0.5  # errors only in rows 0-1
        mask = torch.zeros(4, 5)
        mask[2:] = 1
        assert math.isinf(float(psnr(pred, target, mask=mask)))
        mask[1] = 1  # half of the masked pixels wrong by 0.5: MSE 0.125 * 5/15
        expect = 10 * math.log10(1 / (0.25 * 5 / 15))
        assert float(psnr(pred, target, mask=mask)) == pytest.approx(expect, abs=1e-4)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="same shape"):
            psnr(torch.zeros(4, 4, 3), torch.zeros(4, 5, 3))
        with pytest.raises(ValueError, match="at least one pixel"):
            psnr(torch.zeros(4, 4, 3), torch.ones(4, 4, 3), mask=torch.zeros(4, 4))
        with pytest.raises(ValueError, match="mask must have shape"):
            psnr(torch.zeros(4, 4, 3), torch.ones(4, 4, 3), mask=torch.ones(4, 5))


class TestSsim:
    def test_matches_reference(self):
        skm = pytest.importorskip("skimage.metrics")
        a = torch.rand(3, 24, 19, 3, dtype=torch.float64)
        b = (a + 0.3 * torch.rand_like(a) - 0.15).clamp(0, 1)
        ref = np.mean([
            skm.structural_similarity(a[i].numpy(), b[i].numpy(), data_range=1.0,
                                      gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, channel_axis=-1)
            for i in range(3)
        ])  # fmt: skip
        assert float(ssim(a, b)) == pytest.approx(ref, abs=1e-10)
        assert float(ssim(a[0].float(), b[0].float())) == pytest.approx(
            skm.structural_similarity(a[0].numpy(), b[0].numpy(), data_range=1.0,
                                      gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, channel_axis=-1),
            abs=1e-5,
        )  # fmt: skip

    def test_identical_is_one(self):
        a = torch.rand(16, 16, 3)
        assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-6)

    def test_gradcheck(self):
        a = torch.rand(11, 12, 1, dtype=torch.float64, requires_grad=True)
        b = torch.rand(11, 12, 1, dtype=torch.float64)
        assert torch.autograd.gradcheck(lambda x: ssim(x, b), (a,), fast_mode=True)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="at least 11x11"):
            ssim(torch.rand(8, 20, 3), torch.rand(8, 20, 3))
        with pytest.raises(ValueError, match="win_size must be odd"):
            ssim(torch.rand(20, 20, 3), torch.rand(20, 20, 3), win_size=4)
        with pytest.raises(TypeError, match="pred must have dtype"):
            ssim(torch.zeros(20, 20, 3, dtype=torch.int64), torch.rand(20, 20, 3))


class TestMaskIou:
    def test_matches_reference(self):
        a = torch.zeros(10, 10)
        b = torch.zeros(10, 10)
        a[:, :6] = 0.9  # 60 pixels
        b[:, 4:] = 0.7  # 60 pixels, overlap 20
        assert float(mask_iou(a, b)) == pytest.approx(20 / 100)
        assert float(mask_iou(a, b, threshold=0.8)) == 0.0
        assert float(mask_iou(a > 0.5, b > 0.5)) == pytest.approx(0.2)
        assert float(mask_iou(torch.zeros(3, 3), torch.zeros(3, 3))) == 1.0

    def test_exceptions(self):
        with pytest.raises(ValueError, match="same shape"):
            mask_iou(torch.zeros(3, 3), torch.zeros(3, 4))
