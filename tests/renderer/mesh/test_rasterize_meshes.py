"""rasterize_meshes against analytic truth and a dense brute-force reference written here."""

from __future__ import annotations

import importlib
import math

import pytest
import torch

from inverse3d.renderer.mesh.rasterize_meshes import rasterize_meshes
from inverse3d.structures.meshes import Meshes

# the module itself (the package attribute of the same name is the function)
rm = importlib.import_module("inverse3d.renderer.mesh.rasterize_meshes")


def pixel_centers(H, W, dtype=torch.float64):
    """NDC centres written out: row 0 is the top (+Y), column 0 the left (+X)."""
    sy = H / W if H > W else 1.0
    sx = W / H if W > H else 1.0
    ys = torch.tensor([sy * (1 - (2 * i + 1) / H) for i in range(H)], dtype=dtype)
    xs = torch.tensor([sx * (1 - (2 * j + 1) / W) for j in range(W)], dtype=dtype)
    return ys, xs


def seg_d2(p, a, b):
    e = b - a
    l2 = (e * e).sum(-1)
    t = (((p - a) * e).sum(-1) / l2.clamp_min(1e-30)).clamp(0, 1)
    q = a + t[..., None] * e
    return ((p - q) ** 2).sum(-1)


def brute_force(meshes, image_size, blur, K, persp=False, clipb=False, cull=False):
    """Dense reference: every pixel against every face of its mesh, then a stable z sort."""
    H, W = (image_size, image_size) if isinstance(image_size, int) else image_size
    fv = meshes.verts_packed()[meshes.faces_packed()].double()
    ys, xs = pixel_centers(H, W)
    N = len(meshes)
    first = meshes.mesh_to_faces_packed_first_idx().tolist()
    num = meshes.num_faces_per_mesh().tolist()
    out_f = torch.full((N, H, W, K), -1, dtype=torch.long)
    out_z = torch.full((N, H, W, K), -1.0, dtype=torch.float64)
    out_b = torch.full((N, H, W, K, 3), -1.0, dtype=torch.float64)
    out_d = torch.full((N, H, W, K), -1.0, dtype=torch.float64)
    P = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)  # (H, W, 2): (x, y)
    for n in range(N):
        f = fv[first[n] : first[n] + num[n]]  # (F, 3, 3)
        if f.shape[0] == 0:
            continue
        v = [f[:, i, :2][:, None, None] for i in range(3)]  # (F, 1, 1, 2)
        z = [f[:, i, 2][:, None, None] for i in range(3)]
        p = P[None]

        def edge(p, a, b):
            return (p[..., 0] - a[..., 0]) * (b[..., 1] - a[..., 1]) - (p[..., 1] - a[..., 1]) * (
                b[..., 0] - a[..., 0]
            )

        area = edge(v[2], v[0], v[1]) + 1e-8
        w = [edge(p, v[1], v[2]) / area, edge(p, v[2], v[0]) / area, edge(p, v[0], v[1]) / area]
        if persp:
            t = [w[0] * z[1] * z[2], w[1] * z[0] * z[2], w[2] * z[0] * z[1]]
            s = t[0] + t[1] + t[2]
            w = [ti / s for ti in t]
        inside = (w[0] > 0) & (w[1] > 0) & (w[2] > 0)
        if clipb:
            c = [wi.clamp_min(0) for wi in w]
            s = (c[0] + c[1] + c[2]).clamp_min(1e-5)
            w = [ci / s for ci in c]
        pz = w[0] * z[0] + w[1] * z[1] + w[2] * z[2]
        d2 = torch.minimum(
            torch.minimum(seg_d2(p, v[0], v[1]), seg_d2(p, v[0], v[2])), seg_d2(p, v[1], v[2])
        )
        face_area = edge(v[0], v[1], v[2])[:, 0, 0]
        ok_face = (face_area.abs() > 1e-8) & (f[:, :, 2].min(1).values >= 1e-8)
        if cull:
            ok_face &= face_area >= 0
        ok = ok_face[:, None, None] & (pz >= 0) & (inside | (d2 < blur))
        zz = torch.where(ok, pz, torch.full_like(pz, math.inf))
        order = torch.argsort(zz, dim=0, stable=True)[:K]  # (K, H, W)
        for k in range(min(K, f.shape[0])):
            idx = order[k]
            sel = torch.gather(ok, 0, idx[None])[0]

            def g(t, idx=idx, nf=f.shape[0]):
                return torch.gather(t.expand(nf, H, W), 0, idx[None])[0]

            out_f[n, :, :, k] = torch.where(sel, idx + first[n], out_f[n, :, :, k])
            out_z[n, :, :, k] = torch.where(sel, g(pz), out_z[n, :, :, k])
            sd = torch.where(inside, -d2, d2)
            out_d[n, :, :, k] = torch.where(sel, g(sd), out_d[n, :, :, k])
            for i in range(3):
                out_b[n, :, :, k, i] = torch.where(sel, g(w[i]), out_b[n, :, :, k, i])
    return out_f, out_z, out_b, out_d


def tri_mesh(verts, faces=((0, 1, 2),), dtype=torch.float32):
    return Meshes([torch.tensor(verts, dtype=dtype)], [torch.tensor(faces, dtype=torch.long)])


def random_meshes(n_meshes=2, n_faces=(12, 7), scale=0.6, dtype=torch.float32):
    verts, faces = [], []
    for m in range(n_meshes):
        F = n_faces[m % len(n_faces)]
        centre = torch.rand(F, 1, 3) * 1.6 - 0.8
        centre[..., 2] = torch.rand(F, 1) * 4 + 1
        v = (centre + (torch.rand(F, 3, 3) - 0.5) * scale * torch.tensor([1, 1, 0.5])).reshape(
            -1, 3
        )
        verts.append(v.to(dtype))
        faces.append(torch.arange(3 * F).reshape(F, 3))
    return Meshes(verts, faces)


def assert_same(ours, ref, atol=1e-5):
    p, z, b, d = ours
    rp, rz, rb, rd = ref
    assert torch.equal(p, rp)
    torch.testing.assert_close(z.double(), rz, atol=atol, rtol=1e-4)
    torch.testing.assert_close(b.double(), rb, atol=atol, rtol=1e-4)
    torch.testing.assert_close(d.double(), rd, atol=atol, rtol=1e-4)


# two triangles in front of the camera (faces (0, 1, 2), (2, 3, 4)) for the gradchecks
_GRADCHECK_VERTS = [
    [0.6, -0.5, 1.2],
    [-0.7, -0.4, 1.6],
    [0.1, 0.8, 1.4],
    [0.8, 0.7, 2.0],
    [-0.2, 0.93, 1.0],
]


class TestRasterizeMeshes:
    def test_smoke(self):
        out = rasterize_meshes(tri_mesh([[0.5, 0.5, 1], [-0.5, 0.5, 1], [0, -0.5, 1]]), 8)
        assert (out[0] >= 0).any()

    def test_shapes(self):
        meshes = random_meshes()
        p, z, b, d = rasterize_meshes(meshes, image_size=(10, 12), faces_per_pixel=3)
        assert p.shape == (2, 10, 12, 3) and p.dtype == torch.int64
        assert z.shape == d.shape == (2, 10, 12, 3) and b.shape == (2, 10, 12, 3, 3)
        empty = p < 0
        assert (z[empty] == -1).all() and (d[empty] == -1).all() and (b[empty] == -1).all()

    def test_exceptions(self):
        m = tri_mesh([[0.5, 0.5, 1], [-0.5, 0.5, 1], [0, -0.5, 1]])
        with pytest.raises(ValueError, match="faces_per_pixel"):
            rasterize_meshes(m, 8, faces_per_pixel=0)
        with pytest.raises(ValueError, match="image_size"):
            rasterize_meshes(m, 0)
        with pytest.raises(ValueError, match="image_size"):
            rasterize_meshes(m, (8, -2))
        with pytest.raises(ValueError, match="blur_radius"):
            rasterize_meshes(m, 8, blur_radius=-1.0)
        bad = tri_mesh([[float("nan"), 0.5, 1], [-0.5, 0.5, 1], [0, -0.5, 1]])
        with pytest.raises(ValueError, match="finite"):
            rasterize_meshes(bad, 8)
        with pytest.raises(TypeError, match="Meshes"):
            rasterize_meshes(torch.zeros(3, 3), 8)

    def test_convention_pixel_centres(self):
        # A small triangle in the +X, +Y quadrant lands in the top-left corner of the image.
        m = tri_mesh([[0.9, 0.9, 1], [0.6, 0.9, 1], [0.9, 0.6, 1]])
        p = rasterize_meshes(m, 16, faces_per_pixel=1)[0][0, :, :, 0]
        rows, cols = (p >= 0).nonzero(as_tuple=True)
        assert rows.numel() > 0
        assert rows.max() < 4 and cols.max() < 4
        # the pixel (row 0, col 0) has centre (15/16, 15/16): outside; (1, 1) has (13/16, 13/16).
        assert p[1, 1] == 0 and p[0, 0] == -1

    @pytest.mark.parametrize("size", [17, (12, 20), (20, 12)])
    def test_matches_point_in_triangle(self, size):
        tri = torch.tensor([[0.7, -0.6], [-0.8, -0.1], [0.1, 0.85]], dtype=torch.float64)
        m = tri_mesh(torch.cat((tri, torch.ones(3, 1, dtype=torch.float64)), 1).tolist())
        H, W = (size, size) if isinstance(size, int) else size
        p = rasterize_meshes(m, size, faces_per_pixel=1)[0][0, :, :, 0]
        ys, xs = pixel_centers(H, W)
        want = torch.zeros(H, W, dtype=torch.bool)
        for i in range(H):
            for j in range(W):
                q = torch.tensor([xs[j], ys[i]], dtype=torch.float64)
                s = [
                    torch.linalg.det(torch.stack((tri[(k + 1) % 3] - tri[k], q - tri[k])))
                    for k in range(3)
                ]
                want[i, j] = all(v > 0 for v in s) or all(v < 0 for v in s)
        assert torch.equal(p >= 0, want)

    def test_zbuf_of_plane(self):
        # z = 2 + 0.3 x - 0.2 y over the whole image (two triangles), orthographic.
        xy = torch.tensor(
            [[-1.5, -1.43], [1.5, -1.5], [1.5, 1.5], [-1.5, 1.5]]
        )  # diagonal misses centres
        z = 2 + 0.3 * xy[:, 0] - 0.2 * xy[:, 1]
        m = Meshes([torch.cat((xy, z[:, None]), 1)], [torch.tensor([[0, 1, 2], [0, 2, 3]])])
        p, zb, _, _ = rasterize_meshes(m, 16, faces_per_pixel=1)
        ys, xs = pixel_centers(16, 16)
        want = 2 + 0.3 * xs[None, :] - 0.2 * ys[:, None]
        assert (p >= 0).all()
        torch.testing.assert_close(zb[0, :, :, 0].double(), want, atol=1e-5, rtol=0)

    def test_perspective_correct_matches_analytic(self):
        # A view-space triangle projected with x_ndc = X / Z: perspective-correct barycentrics
        # and depth are those of the 3D point where the pixel ray meets the triangle.
        V = torch.tensor(
            [[0.8, -0.5, 2.0], [-0.9, -0.4, 4.0], [0.1, 0.9, 3.0]], dtype=torch.float64
        )
        proj = torch.cat((V[:, :2] / V[:, 2:], V[:, 2:]), 1)
        m = Meshes([proj], [torch.tensor([[0, 1, 2]])])
        p, zb, b, _ = rasterize_meshes(m, 24, faces_per_pixel=1, perspective_correct=True)
        ys, xs = pixel_centers(24, 24)
        n = torch.linalg.cross(V[1] - V[0], V[2] - V[0])
        hits = (p[0, :, :, 0] >= 0).nonzero().tolist()
        assert len(hits) > 10
        for i, j in hits:
            ray = torch.stack((xs[j], ys[i], torch.tensor(1.0, dtype=torch.float64)))
            X = ray * (n @ V[0]) / (n @ ray)
            bw = torch.linalg.lstsq(V.T, X[:, None]).solution[:, 0]
            torch.testing.assert_close(zb[0, i, j, 0], X[2], atol=1e-9, rtol=1e-9)
            torch.testing.assert_close(b[0, i, j, 0], bw, atol=1e-9, rtol=1e-9)

    def test_k_ordering_by_depth(self):
        verts = []
        for z in (3.0, 1.0, 2.0):
            verts += [[0.9, -0.9, z], [-0.9, -0.9, z], [0.0, 0.9, z]]
        m = Meshes([torch.tensor(verts)], [torch.arange(9).reshape(3, 3)])
        p, zb, _, _ = rasterize_meshes(m, 8, faces_per_pixel=4)
        centre = p[0, 4, 4]
        assert centre.tolist() == [1, 2, 0, -1]
        assert zb[0, 4, 4].tolist() == [1.0, 2.0, 3.0, -1.0]

    def test_equal_depths_ordered_by_face_index(self):
        # Three identical coplanar triangles (listed in reverse size order of nothing): ties in
        # depth are broken by the lower packed face index, whatever the chunking.
        tri = [[0.9, -0.9, 2.0], [-0.9, -0.9, 2.0], [0.0, 0.9, 2.0]]
        small = [[0.5, -0.5, 2.0], [-0.5, -0.5, 2.0], [0.0, 0.5, 2.0]]
        m = Meshes([torch.tensor(tri + small + tri)], [torch.arange(9).reshape(3, 3)])
        p = rasterize_meshes(m, 8, faces_per_pixel=3)[0]
        assert p[0, 4, 4].tolist() == [0, 1, 2]
        assert p[0, 6, 4].tolist() == [0, 2, -1]

    def test_blur_radius_distances(self):
        tri = [[0.5, -0.4, 1.0], [-0.5, -0.4, 1.0], [0.0, 0.5, 1.0]]
        m = tri_mesh(tri, dtype=torch.float64)
        blur = 0.05
        p, _, _, d = rasterize_meshes(m, 20, blur_radius=blur, faces_per_pixel=1)
        ys, xs = pixel_centers(20, 20)
        v = torch.tensor(tri, dtype=torch.float64)[:, :2]
        for i in range(20):
            for j in range(20):
                q = torch.stack((xs[j], ys[i]))
                d2 = min(float(seg_d2(q, v[a], v[b])) for a, b in ((0, 1), (0, 2), (1, 2)))
                s = [
                    float(torch.linalg.det(torch.stack((v[(k + 1) % 3] - v[k], q - v[k]))))
                    for k in range(3)
                ]
                inside = all(x > 0 for x in s) or all(x < 0 for x in s)
                if inside or d2 < blur:
                    assert p[0, i, j, 0] == 0
                    assert abs(float(d[0, i, j, 0]) - (-d2 if inside else d2)) < 1e-9
                else:
                    assert p[0, i, j, 0] == -1
        assert ((p >= 0) & (d > 0)).any()  # some pixels outside the triangle are covered

    def test_cull_backfaces(self):
        front = [[0.5, -0.5, 1.0], [-0.5, -0.5, 1.0], [0.0, 0.5, 1.0]]
        m_front = tri_mesh(front)
        m_back = tri_mesh([front[1], front[0], front[2]])
        ref = brute_force(m_front, 10, 0.0, 1)
        area_sign = ref[0][0, 5, 5, 0] >= 0
        assert area_sign
        for m in (m_front, m_back):
            p0 = rasterize_meshes(m, 10, faces_per_pixel=1)[0]
            p1 = rasterize_meshes(m, 10, faces_per_pixel=1, cull_backfaces=True)[0]
            assert (p0 >= 0).sum() > 0
            fv = m.verts_packed()
            area = (fv[0, 0] - fv[1, 0]) * (fv[2, 1] - fv[1, 1]) - (fv[0, 1] - fv[1, 1]) * (
                fv[2, 0] - fv[1, 0]
            )
            assert torch.equal(p1, p0) == bool(area > 0)
            if area < 0:
                assert (p1 < 0).all()

    def test_z_clip_value_keeps_partially_visible_faces(self):
        # Orthographic triangle crossing z = 0.5: without clipping it is skipped entirely
        # (a vertex has z < 0), with z_clip_value the part in front is rasterized and mapped
        # back to face 0 with barycentrics of the original triangle.
        V = torch.tensor(
            [[0.8, -0.8, 2.0], [-0.8, -0.8, 2.0], [0.0, 0.8, -1.0]], dtype=torch.float64
        )
        m = Meshes([V], [torch.tensor([[0, 1, 2]])])
        p0 = rasterize_meshes(m, 16, faces_per_pixel=1)[0]
        assert (p0 < 0).all()
        p, zb, b, _ = rasterize_meshes(m, 16, faces_per_pixel=1, z_clip_value=0.5)
        hit = p[0, :, :, 0] >= 0
        assert hit.sum() > 20 and (p[hit[None]] == 0).all()
        ys, xs = pixel_centers(16, 16)
        for i, j in hit.nonzero().tolist():
            bw = b[0, i, j, 0]
            torch.testing.assert_close(bw.sum(), torch.tensor(1.0, dtype=torch.float64))
            xyz = bw @ V
            torch.testing.assert_close(xyz[:2], torch.stack((xs[j], ys[i])), atol=1e-7, rtol=0)
            torch.testing.assert_close(zb[0, i, j, 0], xyz[2], atol=1e-7, rtol=0)
            assert xyz[2] >= 0.5 - 1e-7
        # Pixels of the triangle above the clip line (z < 0.5) are empty.
        full = rasterize_meshes(
            Meshes(
                [V * torch.tensor([1, 1, 0]) + torch.tensor([0, 0, 1.0])],
                [torch.tensor([[0, 1, 2]])],
            ),
            16,
            faces_per_pixel=1,
        )[0]
        assert hit.sum() < (full >= 0).sum()

    def test_z_clip_value_one_vertex_behind_two_halves(self):
        # One vertex behind: split into two triangles; with blur a pixel near the shared edge
        # must appear once (the closer half), and coverage equals the unclipped visible part.
        V = torch.tensor([[0.9, 0.9, 0.2], [-0.9, 0.2, 3.0], [0.3, -0.9, 3.0]], dtype=torch.float64)
        m = Meshes([V], [torch.tensor([[0, 1, 2]])])
        p, zb, b, d = rasterize_meshes(m, 16, blur_radius=0.01, faces_per_pixel=3, z_clip_value=1.0)
        assert (p[..., 1] < 0).all()  # never two entries of the same original face
        hit = p[0, :, :, 0] >= 0
        inside = hit & (d[0, :, :, 0] < 0)
        for i, j in inside.nonzero().tolist():
            xyz = b[0, i, j, 0] @ V
            assert xyz[2] >= 1.0 - 1e-9
            torch.testing.assert_close(zb[0, i, j, 0], xyz[2], atol=1e-9, rtol=0)

    def test_cull_to_frustum(self):
        # A face fully outside the image is culled; a visible one is kept.
        verts = [[0.5, -0.5, 1], [-0.5, -0.5, 1], [0, 0.5, 1], [3.5, 3, 1], [3, 3, 1], [3, 3.5, 1]]
        m = Meshes(
            [torch.tensor(verts, dtype=torch.float32)], [torch.tensor([[0, 1, 2], [3, 4, 5]])]
        )
        a = rasterize_meshes(m, 12, faces_per_pixel=2)
        b = rasterize_meshes(m, 12, faces_per_pixel=2, cull_to_frustum=True)
        assert_same(b, tuple(t.double() if t.is_floating_point() else t for t in a))

    def test_heterogeneous_batch_packed_indices(self):
        meshes = random_meshes(3, (5, 0, 9))
        out = rasterize_meshes(meshes, 12, faces_per_pixel=4)
        p = out[0]
        assert (p[1] == -1).all()
        assert p[0][p[0] >= 0].max() < 5 and p[2][p[2] >= 0].min() >= 5
        assert_same(out, brute_force(meshes, 12, 0.0, 4))

    @pytest.mark.parametrize(
        "kw",
        [
            dict(image_size=16, blur=0.0, K=3),
            dict(image_size=(10, 17), blur=0.004, K=5, persp=True),
            dict(image_size=(17, 10), blur=0.01, K=2, clipb=True, cull=True),
            dict(image_size=13, blur=0.02, K=1, persp=True, clipb=True),
        ],
    )
    def test_matches_reference(self, kw, monkeypatch):
        meshes = random_meshes(2, (30, 18))
        ref = brute_force(
            meshes,
            kw["image_size"],
            kw["blur"],
            kw["K"],
            kw.get("persp", False),
            kw.get("clipb", False),
            kw.get("cull", False),
        )
        args = dict(
            image_size=kw["image_size"],
            blur_radius=kw["blur"],
            faces_per_pixel=kw["K"],
            perspective_correct=kw.get("persp", False),
            clip_barycentric_coords=kw.get("clipb", False),
            cull_backfaces=kw.get("cull", False),
        )
        assert_same(rasterize_meshes(meshes, **args), ref)
        # Tiny chunks: rows split into many chunks and one chunk's faces into sub-chunks.
        monkeypatch.setattr(rm, "_PAIR_BUDGET", 7)
        monkeypatch.setattr(rm, "_BLOCK", 5)
        assert_same(rasterize_meshes(meshes, **args, bin_size=2, max_faces_per_bin=1), ref)

    def test_many_faces_in_one_bin_no_overflow(self, monkeypatch):
        # 200 stacked full-image triangles: every pixel sees all of them; K = 200 keeps all.
        F = 200
        base = torch.tensor([[3.0, -3.0, 0.0], [-3.0, -3.0, 0.0], [0.0, 3.0, 0.0]])
        z = torch.rand(F) * 5 + 1
        v = (base[None] + torch.stack((torch.zeros(F), torch.zeros(F), z), 1)[:, None]).reshape(
            -1, 3
        )
        m = Meshes([v], [torch.arange(3 * F).reshape(F, 3)])
        monkeypatch.setattr(rm, "_PAIR_BUDGET", 1000)
        p, zb, _, _ = rasterize_meshes(m, 8, faces_per_pixel=F, bin_size=4, max_faces_per_bin=10)
        assert (p >= 0).all()
        order = torch.argsort(z)
        assert torch.equal(p[0, 3, 3], order)
        torch.testing.assert_close(zb[0, 3, 3], z[order])

    def test_gradcheck(self):
        v = torch.tensor(_GRADCHECK_VERTS, dtype=torch.float64, requires_grad=True)
        faces = torch.tensor([[0, 1, 2], [2, 3, 4]])

        def run(persp, clipb, blur):
            def f(verts):
                _, z, b, d = rasterize_meshes(
                    Meshes([verts], [faces]),
                    8,
                    blur_radius=blur,
                    faces_per_pixel=2,
                    perspective_correct=persp,
                    clip_barycentric_coords=clipb,
                )
                return z, b, d

            return f

        for persp, clipb, blur in ((False, False, 0.0), (True, True, 0.05)):
            assert torch.autograd.gradcheck(run(persp, clipb, blur), (v,), atol=1e-6)

    def test_gradcheck_dists_only(self):
        # Only dists reach the loss (silhouettes): the backward then uses the nearest edge
        # recorded by the forward; gradcheck in float64 with blur (pixels outside the faces,
        # nearest to edge interiors and to vertices); vertex 5 duplicates vertex 3.
        v = torch.tensor(
            _GRADCHECK_VERTS + [[0.8, 0.7, 2.0]], dtype=torch.float64, requires_grad=True
        )
        faces = torch.tensor([[0, 1, 2], [2, 3, 4], [1, 4, 5]])
        m = Meshes([v.detach()], [faces])
        d0 = rasterize_meshes(m, 10, blur_radius=0.08, faces_per_pixel=3)[3]
        assert ((d0 > 0) & (d0 < 0.08)).sum() > 20 and (d0 < -1e-3).any()

        def f(verts):
            return rasterize_meshes(
                Meshes([verts], [faces]), 10, blur_radius=0.08, faces_per_pixel=3
            )[3]

        assert torch.autograd.gradcheck(f, (v,), atol=1e-6)
        # same gradients as the general path (zbuf and bary_coords in the loss with weight 0)
        g = torch.randn_like(d0)
        (gv,) = torch.autograd.grad((f(v) * g).sum(), v)
        _, z, b, d = rasterize_meshes(Meshes([v], [faces]), 10, blur_radius=0.08, faces_per_pixel=3)
        (gv_full,) = torch.autograd.grad((d * g).sum() + 0 * z.sum() + 0 * b.sum(), v)
        assert gv[:, :2].abs().sum() > 0 and (gv[:, 2] == 0).all()
        torch.testing.assert_close(gv, gv_full, atol=1e-12, rtol=1e-9)
