"""RayBundle helpers."""

from __future__ import annotations

import pytest
import torch

from inverse3d.renderer.implicit.utils import (
    HeterogeneousRayBundle,
    RayBundle,
    ray_bundle_to_ray_points,
    ray_bundle_variables_to_ray_points,
)


class TestRayBundleToRayPoints:
    def test_matches_reference(self):
        o, d, L = torch.randn(2, 3, 3), torch.randn(2, 3, 3), torch.rand(2, 3, 4)
        pts = ray_bundle_to_ray_points(RayBundle(o, d, L, torch.zeros(2, 3, 2)))
        assert pts.shape == (2, 3, 4, 3)
        for i in range(2):
            for j in range(3):
                for k in range(4):
                    torch.testing.assert_close(pts[i, j, k], o[i, j] + L[i, j, k] * d[i, j])
        h = HeterogeneousRayBundle(o, d, L, torch.zeros(2, 3, 2))
        assert h.camera_ids is None
        torch.testing.assert_close(ray_bundle_to_ray_points(h), pts)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="rays_origins"):
            ray_bundle_variables_to_ray_points(torch.rand(2, 2), torch.rand(2, 3), torch.rand(2, 4))
        with pytest.raises(ValueError, match="leading"):
            ray_bundle_variables_to_ray_points(torch.rand(2, 3), torch.rand(3, 3), torch.rand(2, 4))
        with pytest.raises(TypeError):
            ray_bundle_variables_to_ray_points(torch.rand(2, 3), None, torch.rand(2, 4))
