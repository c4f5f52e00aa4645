"""marching_cubes: topology (watertight, Euler, orientation), geometry vs analytic spheres and
scikit-image, finite-difference gradients, edge cases."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.ops.marching_cubes import marching_cubes


def _grid(n: int, dtype=torch.float32):
    g = torch.linspace(-1, 1, n, dtype=dtype)
    z, y, x = torch.meshgrid(g, g, g, indexing="ij")
    return x, y, z


def _sphere_sdf(n: int, r: float, dtype=torch.float32):
    x, y, z = _grid(n, dtype)
    return (x**2 + y**2 + z**2).sqrt() - r


def _check_closed_oriented(faces: torch.Tensor) -> int:
    """Every directed edge once and its reverse once; returns the number of undirected edges."""
    e = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    directed = torch.unique(e, dim=0)
    assert len(directed) == len(e), "a directed edge is used twice (inconsistent orientation)"
    und = torch.unique(e.sort(1).values, dim=0, return_counts=True)[1]
    assert bool((und == 2).all()), "an edge is not shared by exactly two faces"
    return len(und)


def _signed_volume(v: torch.Tensor, f: torch.Tensor) -> float:
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float((a * torch.cross(b, c, dim=1)).sum() / 6)


def _area(v, f) -> float:
    v = torch.as_tensor(v, dtype=torch.float64)
    f = torch.as_tensor(f.copy() if hasattr(f, "copy") else f, dtype=torch.int64)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float(torch.cross(b - a, c - a, dim=1).norm(dim=1).sum() / 2)


class TestMarchingCubes:
    def test_smoke(self):
        verts, faces = marching_cubes(_sphere_sdf(16, 0.5)[None], 0.0)
        assert len(verts) == len(faces) == 1
        assert verts[0].shape[1] == 3 and faces[0].dtype == torch.int64

    def test_shapes(self):
        vols = torch.stack([_sphere_sdf(12, 0.5), _sphere_sdf(12, 0.7), torch.ones(12, 12, 12)])
        verts, faces = marching_cubes(vols, 0.0)
        assert len(verts) == 3
        assert verts[0].shape[0] > 0 and verts[1].shape[0] > verts[0].shape[0]
        assert verts[2].shape == (0, 3) and faces[2].shape == (0, 3)
        for v, f in zip(verts, faces):
            assert f.numel() == 0 or int(f.max()) < len(v)

    def test_sphere_topology_and_radius(self):
        r = 0.6
        verts, faces = marching_cubes(_sphere_sdf(48, r, torch.float64)[None], 0.0)
        v, f = verts[0], faces[0]
        n_edges = _check_closed_oriented(f)
        assert len(v) - n_edges + len(f) == 2  # Euler characteristic of a sphere
        assert torch.unique(f).numel() == len(v)  # every vertex used
        assert torch.unique(v, dim=0).shape[0] == len(v)  # no duplicate vertices
        radius = v.norm(dim=1)
        assert float((radius - r).abs().max()) < 0.01 * r
        # normals point outwards for an SDF (negative inside): positive signed volume
        vol = _signed_volume(v, f)
        assert vol > 0 and abs(vol - 4 / 3 * math.pi * r**3) < 0.01 * 4 / 3 * math.pi * r**3
        centres = v[f].mean(1)
        n = torch.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]], dim=1)
        assert bool(((n * centres).sum(1) > 0).all())

    def test_convention_occupancy_normals_inwards(self):
        verts, faces = marching_cubes(-_sphere_sdf(20, 0.5)[None], 0.0)
        assert _signed_volume(verts[0], faces[0]) < 0

    def test_watertight_random_volumes(self):
        # white noise: many ambiguous faces and cubes, exercising every table path
        for seed in range(8):
            g = torch.Generator().manual_seed(seed)
            vol = torch.randn(10, 11, 12, generator=g)
            vol = torch.nn.functional.pad(vol, (1, 1, 1, 1, 1, 1), value=5.0)  # closed surface
            verts, faces = marching_cubes(vol[None], 0.0)
            n_edges = _check_closed_oriented(faces[0])
            assert n_edges > 0
            assert torch.unique(verts[0], dim=0).shape[0] == len(verts[0])
            # vertices lie on crossed grid edges (two integer coordinates), except the rare
            # extra vertex of a 9-vertex loop, strictly inside its cube
            vv = marching_cubes(vol[None], 0.0, return_local_coords=False)[0][0]
            on_edge = ((vv - vv.round()).abs() < 1e-6).sum(1) >= 2
            assert float(on_edge.float().mean()) > 0.95
            n_cross = sum(
                int(
                    (
                        (vol[None].narrow(d + 1, 1, vol.shape[d] - 1) < 0)
                        != (vol[None].narrow(d + 1, 0, vol.shape[d] - 1) < 0)
                    ).sum()
                )
                for d in range(3)
            )
            assert int(on_edge.sum()) == n_cross  # exactly one vertex per crossed grid edge

    def test_matches_reference(self):
        measure = pytest.importorskip("skimage.measure")
        ndimage = pytest.importorskip("scipy.ndimage")
        for seed in range(2):
            g = torch.Generator().manual_seed(seed)
            noise = torch.randn(28, 26, 24, generator=g, dtype=torch.float64).numpy()
            vol = ndimage.gaussian_filter(noise, 3.0)
            vol = vol / vol.std()
            level = 0.1
            ours_v, ours_f = marching_cubes(
                torch.from_numpy(vol.copy())[None], level, return_local_coords=False
            )
            sk_v, sk_f, _, _ = measure.marching_cubes(vol, level)
            sk_v = torch.from_numpy(sk_v.copy()).double()[:, [2, 1, 0]]  # (z, y, x) -> (x, y, z)
            d = torch.cdist(ours_v[0], sk_v)
            # every one of our vertices is one of scikit-image's and vice versa
            assert float(d.min(1).values.max()) < 1e-5  # scikit-image returns float32
            assert float(d.min(0).values.max()) < 0.5  # lewiner may add cube-centre vertices
            assert float((d.min(0).values > 1e-5).float().mean()) < 0.01
            a_ours, a_sk = _area(ours_v[0], ours_f[0]), _area(sk_v, sk_f)
            assert abs(a_ours - a_sk) < 0.005 * a_sk

    def test_local_coords_axis_order(self):
        D, H, W = 5, 6, 7
        z, y, x = torch.meshgrid(torch.arange(D), torch.arange(H), torch.arange(W), indexing="ij")
        vol = (x.double() - 2.25)[None]  # plane x = 2.25 in voxel coordinates
        v = marching_cubes(vol, 0.0, return_local_coords=False)[0][0]
        assert torch.allclose(v[:, 0], torch.full_like(v[:, 0], 2.25))
        assert float(v[:, 1].max()) == H - 1 and float(v[:, 2].max()) == D - 1
        vl = marching_cubes(vol, 0.0)[0][0]
        assert torch.allclose(vl, v * 2 / torch.tensor([W - 1, H - 1, D - 1]) - 1)

    def test_default_isolevel_is_midrange(self):
        vol = _sphere_sdf(16, 0.5)[None] * 3 + 2
        mid = float((vol.max() + vol.min()) / 2)
        v0, f0 = marching_cubes(vol)
        v1, f1 = marching_cubes(vol, mid)
        assert torch.equal(v0[0], v1[0]) and torch.equal(f0[0], f1[0])

    def test_empty_and_full(self):
        for vol in (
            torch.zeros(1, 5, 5, 5),
            torch.full((1, 5, 5, 5), 2.0),
            torch.zeros(1, 1, 4, 4),
        ):
            verts, faces = marching_cubes(vol, 1.0)
            assert verts[0].shape == (0, 3) and faces[0].shape == (0, 3)
        verts, faces = marching_cubes(torch.zeros(1, 4, 4, 4))  # constant, default isolevel
        assert verts[0].shape == (0, 3)

    def test_gradcheck(self):
        g = torch.Generator().manual_seed(1)
        vol = torch.randn(1, 3, 3, 4, generator=g, dtype=torch.float64)
        vol = vol + 0.3 * torch.sign(vol)  # keep values away from the isolevel
        vol.requires_grad_(True)
        assert marching_cubes(vol, 0.0)[1][0].shape[0] > 0
        torch.autograd.gradcheck(lambda v: marching_cubes(v, 0.0)[0][0], (vol,))
        iso = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
        torch.autograd.gradcheck(lambda i: marching_cubes(vol.detach(), i)[0][0], (iso,))

    def test_gradient_moves_sphere(self):
        vol = _sphere_sdf(16, 0.5).requires_grad_(True)
        verts, _ = marching_cubes(vol[None], 0.0)
        verts[0].norm(dim=1).sum().backward()
        # raising the SDF shrinks the sphere: radius decreases, so the gradient is negative
        assert float(vol.grad.sum()) < 0

    def test_exceptions(self):
        with pytest.raises(ValueError, match="vol_batch"):
            marching_cubes(torch.zeros(4, 4, 4))
        with pytest.raises(TypeError, match="vol_batch"):
            marching_cubes(torch.zeros(1, 4, 4, 4, dtype=torch.int64))
        with pytest.raises(TypeError, match="isolevel"):
            marching_cubes(torch.zeros(1, 4, 4, 4), "0.5")
        with pytest.raises(ValueError, match="isolevel"):
            marching_cubes(torch.zeros(1, 4, 4, 4), torch.zeros(2))
        with pytest.raises(TypeError, match="return_local_coords"):
            marching_cubes(torch.zeros(1, 4, 4, 4), 0.0, return_local_coords=1)
