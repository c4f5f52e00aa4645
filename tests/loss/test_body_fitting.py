"""SMPLify terms (loss/body_fitting.py) against analytic values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inverse3d.loss.body_fitting import (
    GaussianMixturePrior,
    capsule_penetration,
    gaussian_pose_prior,
    geman_mcclure,
    joint_angle_prior,
    reprojection_loss,
)


class TestGemanMcClure:
    def test_analytic(self):
        r = torch.tensor([0.0, 1.0, 3.0, 1e6], dtype=torch.float64)
        got = geman_mcclure(r, 3.0)
        torch.testing.assert_close(
            got, torch.tensor([0.0, 0.9, 4.5, 9.0], dtype=torch.float64), rtol=1e-9, atol=1e-9
        )

    def test_gradcheck(self):
        r = torch.randn(
            5, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True
        )
        assert torch.autograd.gradcheck(lambda x: geman_mcclure(x, 0.7), (r,))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="sigma"):
            geman_mcclure(torch.zeros(2), 0.0)
        with pytest.raises(TypeError, match="residual"):
            geman_mcclure([1.0], 1.0)

    def test_reprojection_confidence(self):
        proj = torch.zeros(1, 2, 2)
        kp = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
        got = reprojection_loss(proj, kp, torch.tensor([[1.0, 0.0]]), 1.0)
        assert float(got) == pytest.approx(0.5)
        with pytest.raises(ValueError, match="confidence"):
            reprojection_loss(proj, kp, torch.ones(1, 3), 1.0)


class TestPriors:
    def test_gaussian(self):
        pose = torch.tensor([[[0.2, 0.0, 0.0], [0.0, 0.0, -0.4]]])
        got = gaussian_pose_prior(pose, torch.tensor([0.1, 0.2]))
        assert float(got) == pytest.approx(4.0 + 4.0)
        with pytest.raises(ValueError, match="std"):
            gaussian_pose_prior(pose, torch.ones(3))

    def test_joint_angle(self):
        pose = torch.zeros(1, 3, 3)
        pose[0, 1, 0] = 0.5  # natural direction (sign +1): cost exp(-0.5)^2
        pose[0, 2, 1] = 0.5  # against (sign -1): exp(0.5)^2
        got = joint_angle_prior(pose, [(1, 0, 1.0), (2, 1, -1.0)])
        assert float(got) == pytest.approx(math.exp(-1.0) + math.exp(1.0))
        with pytest.raises(ValueError, match="hinges"):
            joint_angle_prior(pose, [(5, 0, 1.0)])

    def test_gmm_matches_scipy(self):
        stats = pytest.importorskip("scipy.stats")
        g = np.random.default_rng(0)
        M, D = 3, 4
        means = g.normal(size=(M, D))
        A = g.normal(size=(M, D, D))
        covars = A @ A.transpose(0, 2, 1) + 0.5 * np.eye(D)
        w = np.array([0.2, 0.3, 0.5])
        prior = GaussianMixturePrior(*(torch.tensor(a) for a in (means, covars, w)))
        x = g.normal(size=(5, D))
        got = prior(torch.tensor(x, dtype=torch.float32)).double().numpy()
        nll = np.stack(
            [
                -np.log(w[k]) - stats.multivariate_normal(means[k], covars[k]).logpdf(x)
                for k in range(M)
            ]
        ).min(0)
        const = min(
            -np.log(w[k]) - stats.multivariate_normal(means[k], covars[k]).logpdf(means[k])
            for k in range(M)
        )
        np.testing.assert_allclose(got, nll - const, rtol=1e-4, atol=1e-4)

    def test_gmm_file(self, tmp_path):
        path = tmp_path / "gmm.npz"
        np.savez(path, means=np.zeros((1, 3)), covars=np.eye(3)[None], weights=np.ones(1))
        prior = GaussianMixturePrior.from_file(str(path))
        assert float(prior(torch.tensor([[1.0, 0.0, 0.0]]))) == pytest.approx(0.5)
        np.savez(path, means=np.zeros((1, 3)), covars=-np.eye(3)[None], weights=np.ones(1))
        with pytest.raises(ValueError, match="gmm.npz.*positive definite"):
            GaussianMixturePrior.from_file(str(path))


class TestCapsulePenetration:
    def test_analytic(self):
        """Two parallel unit segments 0.3 apart, radii 0.2: overlap 0.1, cost 0.01."""
        starts = torch.tensor([[[0.0, 0, 0], [0.0, 0.3, 0], [5.0, 0, 0]]])
        ends = starts + torch.tensor([1.0, 0, 0])
        radii = torch.tensor([0.2, 0.2, 0.2])
        got = capsule_penetration(starts, ends, radii, torch.tensor([[0, 1], [0, 2]]))
        assert float(got) == pytest.approx(0.01, rel=1e-5)
        far = capsule_penetration(starts, ends, radii, torch.tensor([[0, 2]]))
        assert float(far) == 0.0
        with pytest.raises(ValueError, match="pairs"):
            capsule_penetration(starts, ends, radii, torch.tensor([[0, 3]]))
