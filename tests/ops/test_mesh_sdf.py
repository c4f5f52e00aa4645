"""mesh_sdf / winding_number / point_triangle_distance against analytic shapes, loops, trimesh."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch

from inverse3d.ops.mesh_sdf import (
    mesh_sdf,
    point_segment_distance,
    point_triangle_distance,
    winding_number,
)

ms = importlib.import_module(
    "inverse3d.ops.mesh_sdf"
)  # the module (the package exports a same-named function)


def _sphere(level=3):
    try:
        from inverse3d.utils.ico_sphere import ico_sphere

        m = ico_sphere(level)
        return m.verts_list()[0].double(), m.faces_list()[0]
    except ImportError:
        trimesh = pytest.importorskip("trimesh")
        s = trimesh.creation.icosphere(subdivisions=level)
        return torch.tensor(s.vertices), torch.tensor(s.faces, dtype=torch.int64)


def _box(half=(1.0, 0.5, 0.25)):
    trimesh = pytest.importorskip("trimesh")
    b = trimesh.creation.box(extents=[2 * h for h in half])
    return torch.tensor(b.vertices), torch.tensor(b.faces, dtype=torch.int64)


def _box_sdf(p, half):
    h = torch.tensor(half, dtype=p.dtype)
    q = p.abs() - h
    outside = q.clamp(min=0).norm(dim=-1)
    inside = q.max(dim=-1).values.clamp(max=0)
    return outside + inside


def _closest_point_triangle(p, a, b, c):
    """Ericson's region-based closest point (independent reference), numpy float64."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = ab @ ap, ac @ ap
    if d1 <= 0 and d2 <= 0:
        return a
    bp = p - b
    d3, d4 = ab @ bp, ac @ bp
    if d3 >= 0 and d4 <= d3:
        return b
    vc = d1 * d4 - d3 * d2
    if vc <= 0 and d1 >= 0 and d3 <= 0:
        return a + d1 / (d1 - d3) * ab
    cp = p - c
    d5, d6 = ab @ cp, ac @ cp
    if d6 >= 0 and d5 <= d6:
        return c
    vb = d5 * d2 - d1 * d6
    if vb <= 0 and d2 >= 0 and d6 <= 0:
        return a + d2 / (d2 - d6) * ac
    va = d3 * d6 - d5 * d4
    if va <= 0 and (d4 - d3) >= 0 and (d5 - d6) >= 0:
        return b + (d4 - d3) / ((d4 - d3) + (d5 - d6)) * (c - b)
    denom = 1.0 / (va + vb + vc)
    return a + ab * vb * denom + ac * vc * denom


class TestPointTriangleDistance:
    def test_matches_reference(self):
        rng = np.random.default_rng(0)
        p = torch.tensor(rng.normal(size=(400, 3)))
        tri = torch.tensor(rng.normal(size=(400, 3, 3)))
        got = point_triangle_distance(p, tri[:, 0], tri[:, 1], tri[:, 2])
        for i in range(400):
            a, b, c = (tri[i, k].numpy() for k in range(3))
            q = _closest_point_triangle(p[i].numpy(), a, b, c)
            assert abs(float(got[i]) - float(((p[i].numpy() - q) ** 2).sum())) < 1e-10

    def test_degenerate(self):
        a = torch.tensor([0.0, 0, 0], dtype=torch.float64)
        b = torch.tensor([1.0, 0, 0], dtype=torch.float64)
        p = torch.tensor([0.5, 2.0, 0], dtype=torch.float64)
        assert float(point_triangle_distance(p, a, b, b)) == pytest.approx(4.0)
        assert float(point_segment_distance(p, a, a)) == pytest.approx(4.25)
        # small triangle treated as its edges
        c = torch.tensor([0.0, 0.01, 0], dtype=torch.float64)
        q = torch.tensor([0.05, 0.002, 1.0], dtype=torch.float64)
        assert float(point_triangle_distance(q, a, b, c)) == pytest.approx(1.0)
        assert float(point_triangle_distance(q, a, b, c, 0.1)) > 1.0

    def test_gradcheck(self):
        p = torch.rand(6, 3, dtype=torch.float64, requires_grad=True)
        t = torch.rand(6, 3, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(
            lambda x, y: point_triangle_distance(x, y[:, 0], y[:, 1], y[:, 2]), (p, t)
        )


class TestWindingNumber:
    def test_sphere(self):
        v, f = _sphere(2)
        pts = torch.tensor([[0.0, 0, 0], [0.3, -0.2, 0.1], [2.0, 0, 0], [0, 0, -5.0]]).double()
        w = winding_number(pts, v, f)
        torch.testing.assert_close(
            w, torch.tensor([1.0, 1.0, 0.0, 0.0]).double(), atol=1e-9, rtol=0
        )
        # reversed orientation flips the sign
        w2 = winding_number(pts, v, f.flip(1))
        torch.testing.assert_close(w2, -w)

    def test_exceptions(self):
        with pytest.raises(ValueError):
            winding_number(torch.rand(3, 2), torch.rand(4, 3), torch.zeros(1, 3, dtype=torch.long))


class TestMeshSdf:
    def test_smoke(self):
        v, f = _sphere(1)
        out = mesh_sdf((v, f), torch.rand(1, 5, 3).double())
        assert out.shape == (1, 5)

    def test_sphere_analytic(self):
        v, f = _sphere(3)
        pts = (torch.rand(1, 2000, 3).double() * 2 - 1) * 1.5
        got = mesh_sdf((v, f), pts)[0]
        r = pts[0].norm(dim=-1)
        # faceting of ico_sphere(3): inscribed radius ~ 0.9880 (edges ~ 0.079)
        assert (got - (r - 1)).abs().max() < 0.015
        far = (r - 1).abs() > 0.015
        assert torch.equal(got[far] < 0, (r < 1)[far])

    def test_box_analytic(self):
        half = (1.0, 0.5, 0.25)
        v, f = _box(half)
        pts = (torch.rand(1500, 3).double() * 2 - 1) * 1.5
        got = mesh_sdf((v, f), [pts])[0]
        torch.testing.assert_close(got, _box_sdf(pts, half), atol=1e-9, rtol=0)

    def test_matches_trimesh(self):
        trimesh = pytest.importorskip("trimesh")
        pytest.importorskip("rtree")  # trimesh.proximity needs it
        # random closed mesh: a jittered icosphere (watertight, consistently oriented)
        s = trimesh.creation.icosphere(subdivisions=2)
        rng = np.random.default_rng(1)
        s.vertices = s.vertices * rng.uniform(0.6, 1.3, size=(len(s.vertices), 1))
        pts = rng.uniform(-1.4, 1.4, size=(600, 3))
        v = torch.tensor(s.vertices)
        f = torch.tensor(s.faces, dtype=torch.int64)
        got = mesh_sdf((v, f), torch.tensor(pts)[None])[0].numpy()
        _, dist, _ = trimesh.proximity.closest_point(s, pts)
        inside = s.contains(pts)
        np.testing.assert_allclose(np.abs(got), dist, atol=1e-7)
        assert ((got < 0) == inside).mean() > 0.995  # trimesh's ray test can err at edges

    def test_batched_meshes_and_chunking(self, monkeypatch):
        meshes_mod = pytest.importorskip("inverse3d.structures.meshes")
        v1, f1 = _sphere(2)
        v2, f2 = _box()
        m = meshes_mod.Meshes(verts=[v1, v2], faces=[f1, f2])
        pts = torch.rand(2, 300, 3).double() * 3 - 1.5
        full = mesh_sdf(m, pts)
        monkeypatch.setattr(ms, "CHUNK_PAIRS", 3000)
        torch.testing.assert_close(mesh_sdf(m, pts), full)
        torch.testing.assert_close(full[1], _box_sdf(pts[1], (1.0, 0.5, 0.25)), atol=1e-9, rtol=0)

    def test_gradient(self):
        v, f = _box()
        pts = torch.tensor([[[3.0, 0.1, 0.05], [0.0, 2.0, 0.0]]], dtype=torch.float64)
        pts.requires_grad_(True)
        mesh_sdf((v, f), pts).sum().backward()
        torch.testing.assert_close(pts.grad[0], torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).double())

    def test_exceptions(self):
        v, f = _sphere(1)
        with pytest.raises(ValueError, match="points must have shape"):
            mesh_sdf((v, f), torch.rand(2, 5, 3).double())
        with pytest.raises(ValueError, match="one tensor per mesh"):
            mesh_sdf((v, f), [torch.rand(3, 3), torch.rand(3, 3)])
        with pytest.raises(TypeError):
            mesh_sdf("mesh", torch.rand(1, 5, 3))

    def test_empty(self):
        v, f = _sphere(1)
        assert mesh_sdf((v, f), torch.zeros(1, 0, 3).double()).shape == (1, 0)
        out = mesh_sdf((v, f[:0]), torch.zeros(1, 2, 3).double())
        assert torch.isinf(out).all()


def test_sphere_radius_constant():
    # the tolerance used above: distance from the origin to a face plane of ico_sphere(3)
    v, f = _sphere(3)
    t = v[f]
    n = torch.linalg.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    d = ((t[:, 0] * n).sum(-1) / n.norm(dim=-1)).abs()
    assert 1 - float(d.min()) < 0.015 and math.isfinite(float(d.min()))


# ------------------------------------------------------------------------------------------
# pruned closest-triangle search and pseudo-normal sign
# ------------------------------------------------------------------------------------------


def _torus_mesh():
    from inverse3d.utils.torus import torus

    m = torus(0.3, 1.0, 12, 16)
    return m.verts_list()[0].double(), m.faces_list()[0]


def _perturbed_sphere():
    v, f = _sphere(2)
    g = torch.Generator().manual_seed(3)
    return v * (0.6 + 0.7 * torch.rand(v.shape[0], 1, generator=g, dtype=v.dtype)), f


def _dented_cube():
    """Closed, non-convex: a subdivided 2-cube whose top centre is pushed down by 1.2."""
    trimesh = pytest.importorskip("trimesh")
    b = trimesh.creation.box(extents=[2.0, 2.0, 2.0]).subdivide().subdivide()
    v = torch.tensor(b.vertices)
    dent = (v[:, 2] > 0.99) & (v[:, 0].abs() < 0.6) & (v[:, 1].abs() < 0.6)
    v[dent, 2] -= 1.2
    return v, torch.tensor(b.faces, dtype=torch.int64)


def _degenerate_mesh():
    v, f = _sphere(1)
    n = v.shape[0]
    extra_v = torch.tensor([[0.0, 0, 2], [0.0, 0, 2], [0.5, 0.5, 2.5], [1.0, 1.0, 3.0]]).double()
    extra_f = torch.tensor([[n, n + 1, n + 2], [n + 1, n + 1, n + 1], [n, n + 2, n + 3], [0, 0, 1]])
    return torch.cat([v, extra_v]), torch.cat([f, extra_f])


def _queries(v, f, n=150):
    """Near the surface, far away, on the surface (random barycentric) and at vertices."""
    g = torch.Generator().manual_seed(7)
    idx = torch.randint(v.shape[0], (n,), generator=g)
    near = v[idx] + 0.03 * torch.randn(n, 3, generator=g, dtype=v.dtype)
    lo, hi = v.min(0).values, v.max(0).values
    box = lo - 0.2 + torch.rand(n, 3, generator=g, dtype=v.dtype) * (hi - lo + 0.4)
    far = 20 * torch.randn(n // 3, 3, generator=g, dtype=v.dtype)
    bary = torch.rand(n, 3, generator=g, dtype=v.dtype)
    bary = bary / bary.sum(1, keepdim=True)
    t = v[f[torch.randint(f.shape[0], (n,), generator=g)]]
    on = (bary[:, :, None] * t).sum(1)
    return torch.cat([near, box, far, on, v])


def _brute_sq(p, v, f):
    d2, idx = ms._tri_sq_dists(p, v[f])
    return d2, idx


MESHES = {
    "sphere": lambda: _sphere(3),
    "torus": _torus_mesh,
    "perturbed": _perturbed_sphere,
    "degenerate": _degenerate_mesh,
}


class TestClosestTriangles:
    @pytest.mark.parametrize("name", sorted(MESHES))
    def test_matches_reference(self, name):
        v, f = MESHES[name]()
        p = _queries(v, f)
        d2, idx = ms._closest_triangles(p, v[f])
        ref, _ = _brute_sq(p, v, f)
        t = v[f][idx]
        got = point_triangle_distance(p, t[:, 0], t[:, 1], t[:, 2])
        torch.testing.assert_close(got, ref, atol=1e-12, rtol=1e-13)
        torch.testing.assert_close(d2, ref, atol=1e-12, rtol=1e-13)

    def test_float32_and_tiny_chunks(self):
        v, f = _perturbed_sphere()
        p = _queries(v, f)
        p, v = p.float(), v.float()
        d2, idx = ms._closest_triangles(p, v[f], chunk_pairs=64)
        ref, _ = _brute_sq(p.double(), v.double(), f)
        torch.testing.assert_close(d2, ref, atol=1e-12, rtol=1e-13)  # float64 inside
        _, idx2 = ms._closest_triangles(p, v[f])
        assert torch.equal(idx, idx2)

    def test_empty(self):
        v, f = _sphere(1)
        d2, idx = ms._closest_triangles(torch.zeros(0, 3).double(), v[f])
        assert d2.shape == (0,) and idx.shape == (0,)

    def test_mesh_sdf_pruned_path(self, monkeypatch):
        v, f = _torus_mesh()
        p = _queries(v, f)[None].requires_grad_(True)
        monkeypatch.setattr(ms, "PRUNE_MIN_PAIRS", 1 << 62)
        ref = mesh_sdf((v, f), p, sign_method="winding")
        (g_ref,) = torch.autograd.grad(ref.sum(), p)
        monkeypatch.setattr(ms, "PRUNE_MIN_PAIRS", 0)
        monkeypatch.setattr(ms, "CHUNK_PAIRS", 500)
        got = mesh_sdf((v, f), p, sign_method="winding")
        (g_got,) = torch.autograd.grad(got.sum(), p)
        torch.testing.assert_close(got, ref, atol=1e-12, rtol=0)
        keep = ref[0].abs() > 1e-6  # the gradient at the surface is not defined
        torch.testing.assert_close(g_got[0, keep], g_ref[0, keep])


class TestPseudonormalSign:
    @pytest.mark.parametrize("name", ["sphere", "torus", "perturbed", "dented"])
    def test_matches_winding(self, name):
        v, f = _dented_cube() if name == "dented" else MESHES[name]()
        p = _queries(v, f, n=300)[None]
        ref = mesh_sdf((v, f), p, sign_method="winding")
        got = mesh_sdf((v, f), p, sign_method="pseudonormal")
        auto = mesh_sdf((v, f), p)
        torch.testing.assert_close(got.abs(), ref.abs(), atol=0, rtol=0)
        away = ref.abs() > 1e-4
        assert away.sum() > 300
        assert torch.equal((got < 0)[away], (ref < 0)[away])
        assert torch.equal(auto, got)
        assert (ref[away] < 0).any() and (ref[away] > 0).any()

    def test_torus_analytic_sign(self):
        v, f = _torus_mesh()
        p = (torch.rand(1, 2000, 3).double() * 2 - 1) * torch.tensor([1.4, 1.4, 0.4]).double()
        got = mesh_sdf((v, f), p, sign_method="pseudonormal")[0]
        tube = ((p[0, :, :2].norm(dim=-1) - 1.0) ** 2 + p[0, :, 2] ** 2).sqrt() - 0.3
        clear = (tube.abs() > 0.06) & (got.abs() > 1e-4)  # facets deviate < 0.06 from the tube
        assert clear.sum() > 1000
        assert torch.equal((got < 0)[clear], (tube < 0)[clear])

    def test_auto_falls_back_on_open_mesh(self):
        v, f = _sphere(2)
        f_open = f[5:]
        p = _queries(v, f_open)[None]
        ref = mesh_sdf((v, f_open), p, sign_method="winding")
        torch.testing.assert_close(mesh_sdf((v, f_open), p), ref, atol=0, rtol=0)
        with pytest.raises(ValueError, match="pseudonormal"):
            mesh_sdf((v, f_open), p, sign_method="pseudonormal")
        # inward faces: auto keeps the winding-number convention
        ref_in = mesh_sdf((v, f.flip(1)), p, sign_method="winding")
        torch.testing.assert_close(mesh_sdf((v, f.flip(1)), p), ref_in, atol=0, rtol=0)
        # degenerate faces (repeated indices) are not watertight either
        vd, fd = _degenerate_mesh()
        with pytest.raises(ValueError, match="pseudonormal"):
            mesh_sdf((vd, fd), p, sign_method="pseudonormal")

    def test_watertight_check(self):
        v, f = _sphere(1)
        assert ms._watertight_twins(f, v.shape[0]) is not None
        assert ms._watertight_twins(f[1:], v.shape[0]) is None
        assert ms._watertight_twins(torch.cat([f, f]), v.shape[0]) is None
        flipped = f.clone()
        flipped[0] = flipped[0].flip(0)
        assert ms._watertight_twins(flipped, v.shape[0]) is None
        # two tetrahedra sharing one vertex: every edge is fine, the shared vertex is pinched
        tet = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
        pinch = torch.cat([tet, torch.where(tet == 0, 0, tet + 3)])
        assert ms._watertight_twins(tet, 4) is not None
        assert ms._watertight_twins(pinch, 7) is None

    def test_exceptions_and_empty(self):
        v, f = _sphere(1)
        with pytest.raises(ValueError, match="sign_method"):
            mesh_sdf((v, f), torch.rand(1, 5, 3).double(), sign_method="ray")
        for method in ("auto", "winding", "pseudonormal"):
            out = mesh_sdf((v, f), torch.zeros(1, 0, 3).double(), sign_method=method)
            assert out.shape == (1, 0)
        out = mesh_sdf((v, f[:0]), torch.zeros(1, 2, 3).double(), sign_method="pseudonormal")
        assert torch.isinf(out).all()
