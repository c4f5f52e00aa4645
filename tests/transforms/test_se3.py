"""SE(3) maps: layout, round trips, near-singular angles, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.transforms.rotation_conversions import random_rotations
from inverse3d.transforms.se3 import se3_exp_map, se3_log_map
from inverse3d.transforms.so3 import hat, so3_exp_map


def _twist_matrix(log_transform):
    """Column-vector 4x4 twist matrix [[hat(w), v], [0, 0]] for the matrix exponential."""
    N = log_transform.shape[0]
    m = torch.zeros(N, 4, 4, dtype=log_transform.dtype)
    m[:, :3, :3] = hat(log_transform[:, 3:])
    m[:, :3, 3] = log_transform[:, :3]
    return m


class TestSe3ExpMap:
    def test_matches_reference(self):
        x = torch.randn(20, 6, dtype=torch.float64)
        M = se3_exp_map(x)
        ref = torch.linalg.matrix_exp(_twist_matrix(x)).transpose(1, 2)  # row-vector layout
        torch.testing.assert_close(M, ref)

    def test_convention_row_vectors(self):
        x = torch.randn(4, 6, dtype=torch.float64)
        M = se3_exp_map(x)
        R = so3_exp_map(x[:, 3:])
        torch.testing.assert_close(M[:, :3, :3], R.transpose(1, 2))
        torch.testing.assert_close(M[:, :3, 3], torch.zeros(4, 3, dtype=torch.float64))
        torch.testing.assert_close(M[:, 3, 3], torch.ones(4, dtype=torch.float64))
        # zero rotation: pure translation in the last row
        x[:, 3:] = 0
        torch.testing.assert_close(se3_exp_map(x)[:, 3, :3], x[:, :3])

    def test_shapes_and_exceptions(self):
        assert se3_exp_map(torch.zeros(3, 6)).shape == (3, 4, 4)
        with pytest.raises(ValueError, match=r"log_transform must have shape \(N, 6\)"):
            se3_exp_map(torch.zeros(3, 3))

    def test_gradcheck(self):
        x = torch.randn(3, 6, dtype=torch.float64)
        x[2, 3:] = 1e-7
        x.requires_grad_()
        assert torch.autograd.gradcheck(se3_exp_map, (x,))


class TestSe3LogMap:
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_round_trip(self, dtype):
        x = torch.randn(50, 6, dtype=dtype)
        x[:, 3:] = x[:, 3:] / x[:, 3:].norm(dim=1, keepdim=True) * torch.rand(50, 1) * 3.0
        tol = 1e-4 if dtype == torch.float32 else 1e-10
        torch.testing.assert_close(se3_log_map(se3_exp_map(x)), x, atol=tol, rtol=0)

    @pytest.mark.parametrize("angle", [1e-8, 1e-5, 1e-3, math.pi - 1e-3, math.pi - 1e-6])
    def test_near_singularities(self, angle):
        x = torch.randn(6, 6, dtype=torch.float64)
        x[:, 3:] = x[:, 3:] / x[:, 3:].norm(dim=1, keepdim=True) * angle
        M = se3_exp_map(x).requires_grad_()
        log = se3_log_map(M)
        torch.testing.assert_close(log, x, atol=1e-9, rtol=0)
        log.sum().backward()
        assert torch.isfinite(M.grad).all()

    def test_random_transforms(self):
        R = random_rotations(10, dtype=torch.float64)
        M = torch.zeros(10, 4, 4, dtype=torch.float64)
        M[:, :3, :3] = R
        M[:, 3, :3] = torch.randn(10, 3, dtype=torch.float64)
        M[:, 3, 3] = 1
        torch.testing.assert_close(se3_exp_map(se3_log_map(M)), M)

    def test_exceptions(self):
        with pytest.raises(ValueError, match=r"transform must have shape \(N, 4, 4\)"):
            se3_log_map(torch.eye(4))
        bad = torch.eye(4)[None].clone()
        bad[0, 0, 3] = 1.0
        with pytest.raises(ValueError, match="last row"):
            se3_log_map(bad)

    def test_gradcheck(self):
        x = torch.randn(3, 6, dtype=torch.float64)
        x[1, 3:] = 1e-6
        M = se3_exp_map(x).requires_grad_()
        assert torch.autograd.gradcheck(se3_log_map, (M,))
