"""corresponding_points_alignment, iterative_closest_point, point-cloud normals and frames,
add_pointclouds_to_volumes: known transforms, analytic surfaces, loops written here."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from inverse3d.ops.points_alignment import (
    SimilarityTransform,
    corresponding_points_alignment,
    iterative_closest_point,
)
from inverse3d.ops.points_normals import (
    estimate_pointcloud_local_coord_frames,
    estimate_pointcloud_normals,
)
from inverse3d.ops.points_to_volumes import (
    add_pointclouds_to_volumes,
    add_points_features_to_volume_densities_features,
)
from inverse3d.structures.pointclouds import Pointclouds
from inverse3d.structures.volumes import Volumes
from inverse3d.transforms.rotation_conversions import axis_angle_to_matrix, random_rotations


def _similarity(N, dtype=torch.float64, scale=True):
    R = random_rotations(N, dtype=dtype)
    T = torch.randn(N, 3, dtype=dtype)
    s = torch.rand(N, dtype=dtype) + 0.5 if scale else torch.ones(N, dtype=dtype)
    return R, T, s


def _apply(X, R, T, s):
    return s[:, None, None] * X @ R + T[:, None]


class TestCorrespondingPointsAlignment:
    def test_smoke(self):
        X = torch.randn(2, 10, 3)
        out = corresponding_points_alignment(X, X)
        assert isinstance(out, SimilarityTransform)
        assert out.R.shape == (2, 3, 3) and out.T.shape == (2, 3) and out.s.shape == (2,)

    @pytest.mark.parametrize("estimate_scale", [False, True])
    def test_matches_reference(self, estimate_scale):
        X = torch.randn(4, 30, 3, dtype=torch.float64)
        R, T, s = _similarity(4, scale=estimate_scale)
        Y = _apply(X, R, T, s)
        out = corresponding_points_alignment(X, Y, estimate_scale=estimate_scale)
        assert torch.allclose(out.R, R, atol=1e-4)
        assert torch.allclose(out.T, T, atol=1e-4)
        assert torch.allclose(out.s, s, atol=1e-4)
        assert torch.allclose(torch.det(out.R), torch.ones(4, dtype=torch.float64))

    def test_weights_ignore_outliers(self):
        X = torch.randn(2, 40, 3, dtype=torch.float64)
        R, T, s = _similarity(2)
        Y = _apply(X, R, T, s)
        Y[:, :5] += 10 * torch.randn(2, 5, 3, dtype=torch.float64)  # outliers
        w = torch.ones(2, 40, dtype=torch.float64)
        w[:, :5] = 0
        out = corresponding_points_alignment(X, Y, weights=w, estimate_scale=True)
        assert torch.allclose(out.R, R, atol=1e-4) and torch.allclose(out.T, T, atol=1e-4)
        assert torch.allclose(out.s, s, atol=1e-4)
        plain = corresponding_points_alignment(X, Y, estimate_scale=True)
        assert not torch.allclose(plain.T, T, atol=1e-2)
        # list weights = padded weights
        lst = corresponding_points_alignment(X, Y, weights=list(w), estimate_scale=True)
        assert torch.allclose(lst.R, out.R)

    def test_weighted_least_squares_optimum(self):
        # against a brute-force local check: the weighted residual cannot be reduced
        X = torch.randn(1, 20, 3, dtype=torch.float64)
        Y = torch.randn(1, 20, 3, dtype=torch.float64)
        w = torch.rand(1, 20, dtype=torch.float64)
        R, T, s = corresponding_points_alignment(X, Y, weights=w, estimate_scale=True)

        def cost(R_, T_, s_):
            return float((w * ((_apply(X, R_, T_, s_) - Y) ** 2).sum(-1)).sum())

        best = cost(R, T, s)
        for _ in range(50):
            dR = axis_angle_to_matrix(1e-3 * torch.randn(1, 3, dtype=torch.float64))
            assert cost(R @ dR, T + 1e-3 * torch.randn(1, 3, dtype=torch.float64), s) >= best
            assert cost(R, T, s * (1 + 1e-3 * float(torch.randn(1)))) >= best

    def test_reflection(self):
        X = torch.randn(1, 20, 3, dtype=torch.float64)
        M = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))[None]
        Y = X @ M
        out = corresponding_points_alignment(X, Y, allow_reflection=True)
        assert torch.allclose(out.R, M, atol=1e-6)
        out = corresponding_points_alignment(X, Y)
        assert torch.allclose(torch.det(out.R), torch.ones(1, dtype=torch.float64))

    def test_pointclouds_heterogeneous(self):
        X1, X2 = torch.randn(10, 3, dtype=torch.float64), torch.randn(15, 3, dtype=torch.float64)
        R, T, s = _similarity(2, scale=False)
        Y1, Y2 = X1 @ R[0] + T[0], X2 @ R[1] + T[1]
        out = corresponding_points_alignment(Pointclouds([X1, X2]), Pointclouds([Y1, Y2]))
        assert torch.allclose(out.R, R, atol=1e-4) and torch.allclose(out.T, T, atol=1e-4)

    def test_gradcheck(self):
        X = torch.randn(1, 6, 3, dtype=torch.float64, requires_grad=True)
        Y = torch.randn(1, 6, 3, dtype=torch.float64, requires_grad=True)
        torch.autograd.gradcheck(
            lambda a, b: corresponding_points_alignment(a, b, estimate_scale=True), (X, Y)
        )

    def test_exceptions(self):
        with pytest.raises(ValueError, match="X and Y"):
            corresponding_points_alignment(torch.randn(1, 5, 3), torch.randn(1, 6, 3))
        with pytest.raises(ValueError, match="weights"):
            corresponding_points_alignment(
                torch.randn(1, 5, 3), torch.randn(1, 5, 3), weights=torch.ones(1, 4)
            )
        with pytest.raises(TypeError, match="X"):
            corresponding_points_alignment([1, 2], torch.randn(1, 5, 3))


class TestIterativeClosestPoint:
    def test_smoke(self):
        X = torch.randn(1, 20, 3)
        sol = iterative_closest_point(X, X)
        assert sol.converged and sol.Xt.shape == X.shape and len(sol.t_history) >= 1

    @pytest.mark.parametrize("estimate_scale", [False, True])
    def test_matches_reference(self, estimate_scale):
        N = 3
        X = torch.randn(N, 200, 3, dtype=torch.float64) * torch.tensor(
            [1.0, 0.6, 0.3], dtype=torch.float64
        )  # anisotropic: no symmetry
        R = axis_angle_to_matrix(0.15 * torch.randn(N, 3, dtype=torch.float64))
        T = 0.1 * torch.randn(N, 3, dtype=torch.float64)
        s = 1 + 0.05 * torch.randn(N, dtype=torch.float64) if estimate_scale else torch.ones(N)
        s = s.to(torch.float64)
        Y = _apply(X, R, T, s)
        Y = Y[:, torch.randperm(200)]  # correspondences unknown
        sol = iterative_closest_point(X, Y, estimate_scale=estimate_scale, max_iterations=200)
        assert sol.converged
        assert torch.allclose(sol.RTs.R, R, atol=1e-4)
        assert torch.allclose(sol.RTs.T, T, atol=1e-4)
        assert torch.allclose(sol.RTs.s, s, atol=1e-4)
        assert float(sol.rmse.max()) < 1e-4

    def test_heterogeneous(self):
        X1 = torch.randn(80, 3, dtype=torch.float64) * torch.tensor([1.0, 0.6, 0.3]).double()
        X2 = torch.randn(120, 3, dtype=torch.float64) * torch.tensor([1.0, 0.5, 0.2]).double()
        R = axis_angle_to_matrix(0.1 * torch.randn(2, 3, dtype=torch.float64))
        T = 0.1 * torch.randn(2, 3, dtype=torch.float64)
        Y = [X1 @ R[0] + T[0], X2 @ R[1] + T[1]]
        sol = iterative_closest_point(Pointclouds([X1, X2]), Pointclouds(Y))
        assert torch.allclose(sol.RTs.R, R, atol=1e-4) and torch.allclose(sol.RTs.T, T, atol=1e-4)
        assert sol.Xt.shape == (2, 120, 3)

    def test_init_transform(self):
        X = torch.randn(1, 100, 3, dtype=torch.float64) * torch.tensor([1.0, 0.5, 0.2]).double()
        R = random_rotations(1, dtype=torch.float64)  # arbitrary: too far for plain ICP
        T = torch.randn(1, 3, dtype=torch.float64)
        Y = X @ R + T
        init = SimilarityTransform(
            R @ axis_angle_to_matrix(torch.tensor([[0.05, 0, 0]], dtype=torch.float64)),
            T,
            torch.ones(1, dtype=torch.float64),
        )
        sol = iterative_closest_point(X, Y, init_transform=init)
        assert torch.allclose(sol.RTs.R, R, atol=1e-4)
        with pytest.raises(ValueError, match="init_transform"):
            iterative_closest_point(X, Y, init_transform=(R, T))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="X and Y"):
            iterative_closest_point(torch.randn(1, 5, 3), torch.randn(2, 5, 3))
        with pytest.raises(ValueError, match="max_iterations"):
            iterative_closest_point(torch.randn(1, 5, 3), torch.randn(1, 5, 3), max_iterations=-1)


class TestPointcloudNormals:
    def test_smoke(self):
        n = estimate_pointcloud_normals(torch.randn(2, 30, 3), neighborhood_size=5)
        assert n.shape == (2, 30, 3)

    def test_plane(self):
        xy = torch.rand(1, 200, 2) * 2 - 1
        pts = torch.cat([xy, torch.zeros(1, 200, 1)], dim=2)
        R = random_rotations(1)
        n = estimate_pointcloud_normals(pts @ R, neighborhood_size=10)
        target = R[0, 2]  # the plane's normal (0, 0, 1) rotated (row vector convention)
        assert torch.allclose((n[0] @ target).abs(), torch.ones(200), atol=1e-4)

    def test_sphere(self):
        pts = torch.nn.functional.normalize(torch.randn(1, 500, 3), dim=2)
        n = estimate_pointcloud_normals(pts, neighborhood_size=12)
        cos = (n * pts).sum(-1).abs()
        assert float(cos.min()) > 0.95 and float(cos.mean()) > 0.995
        # disambiguated: most neighbours lie "below" the tangent plane of a convex sphere,
        # so normals point inwards (PyTorch3D's rule); a few tilted neighbourhoods may not
        assert float(((n * pts).sum(-1) < 0).float().mean()) > 0.97
        raw = estimate_pointcloud_normals(pts, neighborhood_size=12, disambiguate_directions=False)
        assert float(((raw * pts).sum(-1) < 0).float().mean()) < 0.9

    def test_frames(self):
        pts = torch.nn.functional.normalize(torch.randn(2, 300, 3), dim=2)
        curv, frames = estimate_pointcloud_local_coord_frames(pts, neighborhood_size=10)
        assert curv.shape == (2, 300, 3) and frames.shape == (2, 300, 3, 3)
        eye = torch.eye(3).expand(2, 300, 3, 3)
        assert torch.allclose(frames.transpose(-1, -2) @ frames, eye, atol=1e-4)
        assert bool((curv[..., 0] <= curv[..., 1] + 1e-7).all())
        # frames without disambiguation: eigen-decomposition of the neighbourhood covariance
        p = pts[0]
        d = ((p[:, None] - p[None]) ** 2).sum(-1)
        nb = p[d[7].topk(10, largest=False).indices]
        c = nb - nb.mean(0)
        evals = torch.linalg.eigvalsh(c.T @ c / 10)
        assert torch.allclose(curv[0, 7], evals, atol=1e-6)

    def test_heterogeneous(self):
        a, b = torch.randn(20, 3), torch.randn(35, 3)
        n = estimate_pointcloud_normals(Pointclouds([a, b]), neighborhood_size=6)
        na = estimate_pointcloud_normals(a[None], neighborhood_size=6)
        assert torch.allclose(n[0, :20], na[0], atol=1e-5)
        assert float(n[0, 20:].abs().max()) == 0.0

    def test_exceptions(self):
        with pytest.raises(ValueError, match="neighborhood_size"):
            estimate_pointcloud_normals(torch.randn(1, 10, 3), neighborhood_size=10)
        with pytest.raises(ValueError, match="pointclouds"):
            estimate_pointcloud_normals(torch.randn(1, 10, 2), neighborhood_size=3)
        with pytest.raises(TypeError, match="pointclouds"):
            estimate_pointcloud_normals("points")


def _splat_loop(points, feats, D, H, W, mode):
    """Loop over points and corners: densities (D, H, W) and weighted feature sums (C, D, H, W)."""
    dens = torch.zeros(D, H, W, dtype=torch.float64)
    acc = torch.zeros(feats.shape[1], D, H, W, dtype=torch.float64)
    for p, f in zip(points.tolist(), feats):
        x = (p[0] + 1) / 2 * (W - 1)
        y = (p[1] + 1) / 2 * (H - 1)
        z = (p[2] + 1) / 2 * (D - 1)
        if mode == "nearest":
            corners = [(round(x), round(y), round(z), 1.0)]
        else:
            corners = []
            for cx, cy, cz in itertools.product(
                (math.floor(x), math.floor(x) + 1),
                (math.floor(y), math.floor(y) + 1),
                (math.floor(z), math.floor(z) + 1),
            ):
                w = (1 - abs(x - cx)) * (1 - abs(y - cy)) * (1 - abs(z - cz))
                corners.append((cx, cy, cz, w))
        for cx, cy, cz, w in corners:
            if 0 <= cx < W and 0 <= cy < H and 0 <= cz < D:
                dens[cz, cy, cx] += w
                acc[:, cz, cy, cx] += w * f
    return dens, acc


class TestAddPointcloudsToVolumes:
    @pytest.mark.parametrize("mode", ["trilinear", "nearest"])
    def test_matches_reference(self, mode):
        D, H, W = 4, 5, 6
        pts = torch.rand(1, 50, 3, dtype=torch.float64) * 2.4 - 1.2  # some fall outside
        feats = torch.rand(1, 50, 2, dtype=torch.float64)
        vol = Volumes(
            densities=torch.zeros(1, 1, D, H, W, dtype=torch.float64),
            features=torch.zeros(1, 2, D, H, W, dtype=torch.float64),
            voxel_size=(2 / (W - 1), 2 / (H - 1), 2 / (D - 1)),  # local = world
        )
        pcl = Pointclouds(points=pts, features=feats)
        out = add_pointclouds_to_volumes(pcl, vol, mode=mode, rescale_features=False)
        dens, acc = _splat_loop(pts[0], feats[0], D, H, W, mode)
        # (Volumes' world-to-local transform is accurate to ~1e-7 even in float64)
        assert torch.allclose(out.densities()[0, 0], dens, atol=1e-6)
        assert torch.allclose(out.features()[0], acc, atol=1e-6)
        out = add_pointclouds_to_volumes(pcl, vol, mode=mode)
        floor = 1e-4 if mode == "trilinear" else 1.0
        assert torch.allclose(out.features()[0], acc / dens.clamp(min=floor), atol=1e-5)

    def test_mass_conservation(self):
        pts = torch.rand(2, 100, 3) * 1.8 - 0.9  # all inside
        feats = torch.rand(2, 100, 3)
        dens0 = torch.rand(2, 1, 8, 8, 8)
        new_f, new_d = add_points_features_to_volume_densities_features(
            pts, feats, dens0, torch.zeros(2, 3, 8, 8, 8), rescale_features=False
        )
        assert torch.allclose(new_d.sum((1, 2, 3, 4)) - dens0.sum((1, 2, 3, 4)),
                              torch.full((2,), 100.0), atol=1e-3)  # fmt: skip
        assert torch.allclose(new_f.sum((2, 3, 4)), feats.sum(1), atol=1e-3)

    def test_heterogeneous_mask(self):
        a, b = torch.rand(10, 3) - 0.5, torch.rand(20, 3) - 0.5
        fa, fb = torch.rand(10, 1), torch.rand(20, 1)
        vol = Volumes(densities=torch.zeros(2, 1, 5, 5, 5), features=torch.zeros(2, 1, 5, 5, 5),
                      voxel_size=0.5)  # fmt: skip
        out = add_pointclouds_to_volumes(Pointclouds([a, b], features=[fa, fb]), vol)
        assert float(out.densities()[0].sum()) == pytest.approx(10.0, abs=1e-4)
        assert float(out.densities()[1].sum()) == pytest.approx(20.0, abs=1e-4)

    def test_gradcheck(self):
        pts = (torch.rand(1, 4, 3, dtype=torch.float64) * 1.6 - 0.8).requires_grad_(True)
        feats = torch.rand(1, 4, 2, dtype=torch.float64, requires_grad=True)
        dens = torch.zeros(1, 1, 3, 3, 3, dtype=torch.float64)

        def fn(p, f):
            return add_points_features_to_volume_densities_features(
                p, f, dens, None, rescale_features=False
            )

        torch.autograd.gradcheck(fn, (pts, feats))

    def test_exceptions(self):
        vol = Volumes(densities=torch.zeros(1, 1, 3, 3, 3), features=torch.zeros(1, 2, 3, 3, 3))
        with pytest.raises(ValueError, match="features"):
            add_pointclouds_to_volumes(Pointclouds([torch.rand(5, 3)]), vol)
        pcl = Pointclouds([torch.rand(5, 3)], features=[torch.rand(5, 2)])
        with pytest.raises(ValueError, match="mode"):
            add_pointclouds_to_volumes(pcl, vol, mode="cubic")
        with pytest.raises(ValueError, match="volume_densities"):
            add_points_features_to_volume_densities_features(
                torch.rand(1, 5, 3), torch.rand(1, 5, 2), torch.zeros(1, 2, 3, 3, 3), None
            )
