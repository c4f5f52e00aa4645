"""Hash-grid encoding: interpolation, hashing, continuity, gradients; HashGridField."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.models.hash_grid import PRIMES, HashGridEncoding, HashGridField


def _all_vertices(res: int, dim: int = 3) -> torch.Tensor:
    g = torch.arange(res + 1)
    return torch.stack(torch.meshgrid(*([g] * dim), indexing="ij"), -1).reshape(-1, dim)


class TestHashGridEncoding:
    def test_smoke(self):
        enc = HashGridEncoding()
        out = enc(torch.rand(100, 3) * 2 - 1)
        assert out.shape == (100, 32)
        assert enc.resolutions[0] == 16 and enc.resolutions[1] == 24
        assert enc.dense_levels[0] and not enc.dense_levels[-1]  # 17^3 fits 2^19, 16*1.5^15 not
        assert enc.embeddings.shape == (enc.offsets[-1], 2)
        assert float(enc.embeddings.detach().abs().max()) <= 1e-4

    def test_shapes(self):
        enc = HashGridEncoding(n_levels=4, n_features_per_level=3, log2_hashmap_size=10, in_dim=2)
        assert enc(torch.rand(2, 5, 2)).shape == (2, 5, 12)
        fine = HashGridEncoding(n_levels=8, base_resolution=4, finest_resolution=512)
        assert fine.resolutions[0] == 4 and fine.resolutions[-1] == 512
        assert fine.per_level_scale == pytest.approx(2.0)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="x must have shape"):
            HashGridEncoding(n_levels=2)(torch.rand(4, 2))
        with pytest.raises(ValueError, match="bounds"):
            HashGridEncoding(bounds=[[0, 0, 0], [1, -1, 1]])
        with pytest.raises(ValueError, match="bounds must have shape"):
            HashGridEncoding(bounds=[[0, 0], [1, 1]])
        with pytest.raises(ValueError, match="finest_resolution"):
            HashGridEncoding(base_resolution=16, finest_resolution=8)
        with pytest.raises(ValueError, match="in_dim"):
            HashGridEncoding(in_dim=4)

    def test_matches_reference_trilinear_exact_on_linear_function(self):
        """Tables holding a linear function of the vertex positions reproduce it exactly."""
        enc = HashGridEncoding(
            n_levels=3,
            n_features_per_level=2,
            log2_hashmap_size=12,
            base_resolution=4,
            per_level_scale=2.0,
            bounds=[[-1.0, 0.0, 2.0], [1.0, 3.0, 3.0]],
        ).double()
        assert enc.dense_levels == [True, True, False]  # 5^3, 9^3 <= 4096 < 17^3
        a = torch.tensor([[0.3, -1.2, 2.0], [1.5, 0.25, -0.7]], dtype=torch.float64)  # (F, D)
        c = torch.tensor([0.1, -0.4], dtype=torch.float64)
        lo, hi = enc.bounds[0].double(), enc.bounds[1].double()
        with torch.no_grad():
            for level in (0, 1):
                res = enc.resolutions[level]
                v = _all_vertices(res)
                world = lo + v.double() / res * (hi - lo)  # vertex positions in the world
                rows = enc.vertex_index(level, v) + enc.offsets[level]
                assert rows.unique().numel() == v.shape[0]  # dense: one row per vertex
                enc.embeddings[rows] = world @ a.T + c
        x = lo + torch.rand(500, 3, dtype=torch.float64) * (hi - lo)
        out = enc(x)
        expected = x @ a.T + c
        torch.testing.assert_close(out[:, 0:2], expected, atol=1e-12, rtol=0)
        torch.testing.assert_close(out[:, 2:4], expected, atol=1e-12, rtol=0)

    def test_matches_reference_interpolation_brute_force(self):
        """Random tables: the encoding equals a per-point loop over the 8 corners."""
        enc = HashGridEncoding(
            n_levels=2, log2_hashmap_size=6, base_resolution=3, per_level_scale=2.0, init_scale=1.0
        ).double()
        x = torch.rand(20, 3, dtype=torch.float64) * 2 - 1
        out = enc(x)
        table = enc.embeddings.detach()
        for p in range(x.shape[0]):
            for level in range(2):
                res, size = enc.resolutions[level], enc.table_sizes[level]
                pos = (x[p] + 1) / 2 * res
                base = [min(int(math.floor(float(q))), res - 1) for q in pos]
                acc = torch.zeros(2, dtype=torch.float64)
                for corner in range(8):
                    bits = [(corner >> d) & 1 for d in range(3)]
                    vert = [base[d] + bits[d] for d in range(3)]
                    w = 1.0
                    for d in range(3):
                        f = float(pos[d]) - base[d]
                        w *= f if bits[d] else 1.0 - f
                    if enc.dense_levels[level]:
                        row = vert[0] + (res + 1) * vert[1] + (res + 1) ** 2 * vert[2]
                    else:
                        h = (vert[0] * PRIMES[0]) ^ (vert[1] * PRIMES[1]) ^ (vert[2] * PRIMES[2])
                        row = (h % 2**32) % size  # the kernel's uint32 arithmetic
                    acc += w * table[enc.offsets[level] + row]
                torch.testing.assert_close(out[p, 2 * level : 2 * level + 2], acc)

    def test_hash_collisions_bounded_by_table_size(self):
        enc = HashGridEncoding(
            n_levels=2, log2_hashmap_size=10, base_resolution=8, per_level_scale=4.0
        )
        assert not enc.dense_levels[1]
        v = _all_vertices(enc.resolutions[1])  # 33^3 = 35937 vertices into 1024 rows
        rows = enc.vertex_index(1, v)
        assert int(rows.min()) >= 0 and int(rows.max()) < 1024
        n = v.shape[0]
        # every row is used (n >> T) and no row holds many more than n / T vertices
        counts = torch.bincount(rows, minlength=1024)
        assert int((counts > 0).sum()) == 1024
        assert int(counts.max()) < 3 * n / 1024

    def test_continuity_across_cell_boundaries(self):
        enc = HashGridEncoding(
            n_levels=4, log2_hashmap_size=8, base_resolution=4, per_level_scale=2.0, init_scale=1.0
        ).double()
        # points on a cell boundary of every level (x = 0 is a vertex plane of all of them)
        y = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
        on = torch.cat((torch.zeros(50, 1, dtype=torch.float64), y), -1)
        eps = 1e-9
        left = enc(on - torch.tensor([eps, 0, 0], dtype=torch.float64))
        right = enc(on + torch.tensor([eps, 0, 0], dtype=torch.float64))
        mid = enc(on)
        assert float((left - right).detach().abs().max()) < 1e-6
        assert float((left - mid).detach().abs().max()) < 1e-6
        # and the jump is O(eps): far below a random table's values
        assert float(mid.detach().abs().mean()) > 0.1

    def test_gradcheck(self):
        enc = HashGridEncoding(
            n_levels=2,
            n_features_per_level=2,
            log2_hashmap_size=5,
            base_resolution=2,
            per_level_scale=2.0,
            init_scale=1.0,
        ).double()
        assert enc.dense_levels == [True, False]
        x = (torch.rand(6, 3, dtype=torch.float64) * 1.8 - 0.9).requires_grad_(True)

        def f(table, pts):
            return torch.func.functional_call(enc, {"embeddings": table}, (pts,))

        table = enc.embeddings.detach().clone().requires_grad_(True)
        assert torch.autograd.gradcheck(f, (table, x))

    def test_gradients_reach_only_touched_rows(self):
        enc = HashGridEncoding(n_levels=1, log2_hashmap_size=12, base_resolution=8)
        enc(torch.zeros(1, 3) + 0.01).sum().backward()
        touched = (enc.embeddings.grad.abs().sum(-1) > 0).sum()
        assert int(touched) == 8


class TestHashGridField:
    def test_shapes(self):
        field = HashGridField(HashGridEncoding(n_levels=4, log2_hashmap_size=10), hidden_dim=16)
        sigma, rgb = field(torch.rand(3, 7, 3), torch.randn(3, 7, 3))
        assert sigma.shape == (3, 7, 1) and rgb.shape == (3, 7, 3)
        assert bool((sigma >= 0).all()) and bool(((rgb >= 0) & (rgb <= 1)).all())
        assert field.density(torch.rand(5, 3)).shape == (5, 1)
        assert field(torch.rand(5, 3))[1].shape == (5, 3)

    def test_exceptions(self):
        field = HashGridField(HashGridEncoding(n_levels=2, log2_hashmap_size=8))
        with pytest.raises(ValueError, match="points must have shape"):
            field(torch.rand(4, 2))
        with pytest.raises(ValueError, match="directions must have shape"):
            field(torch.rand(4, 3), torch.rand(4, 2))

    def test_appearance_latent(self):
        """The latent reaches the colours only; None is the zero latent; it broadcasts."""
        torch.manual_seed(0)
        enc = HashGridEncoding(n_levels=2, log2_hashmap_size=8, init_scale=0.5)
        field = HashGridField(enc, hidden_dim=8, appearance_dim=4)
        x, d = torch.rand(6, 3), torch.randn(6, 3)
        a = torch.randn(6, 4)
        s0, c0 = field(x, d)
        s1, c1 = field(x, d, a)
        assert torch.equal(s0, s1) and not torch.allclose(c0, c1)
        assert torch.allclose(field(x, d, torch.zeros(4))[1], c0)
        assert torch.allclose(field(x, d, a[0])[1], field(x, d, a[:1].expand(6, 4))[1])
        a.requires_grad_(True)
        field(x, d, a)[1].sum().backward()
        assert a.grad.abs().sum() > 0

    def test_appearance_exceptions(self):
        plain = HashGridField(HashGridEncoding(n_levels=2, log2_hashmap_size=8))
        with pytest.raises(ValueError, match="appearance_dim=0"):
            plain(torch.rand(4, 3), None, torch.rand(4, 2))
        field = HashGridField(HashGridEncoding(n_levels=2, log2_hashmap_size=8), appearance_dim=3)
        with pytest.raises(ValueError, match="appearance must have shape"):
            field(torch.rand(4, 3), None, torch.rand(4, 2))
        with pytest.raises(ValueError, match="appearance_dim"):
            HashGridField(appearance_dim=-1)

    def test_fits_density(self):
        """The field learns a sphere's density: most of the error goes in 60 steps."""
        field = HashGridField(
            HashGridEncoding(
                n_levels=4, log2_hashmap_size=12, base_resolution=4, per_level_scale=2.0
            ),
            hidden_dim=16,
        )
        x = torch.rand(512, 3) * 2 - 1
        target = (x.norm(dim=-1, keepdim=True) < 0.6).float() * 5.0
        opt = torch.optim.Adam(field.parameters(), lr=1e-2)
        first = ((field.density(x) - target) ** 2).mean().item()
        for _ in range(60):
            opt.zero_grad()
            loss = ((field.density(x) - target) ** 2).mean()
            loss.backward()
            opt.step()
        assert loss.item() < first / 10.0
