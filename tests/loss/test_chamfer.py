"""chamfer_distance against a loop reference of PyTorch3D 0.7.9 semantics, scipy and gradcheck."""

from __future__ import annotations

import pytest
import torch

from inverse3d.loss.chamfer import chamfer_distance


def _direction(x, y, lx, ly, nx, ny, norm, abs_cos):
    """Per-point nearest distances (and normal terms) from x to y, loops."""
    N, P1 = x.shape[:2]
    d = torch.zeros(N, P1, dtype=x.dtype)
    c = torch.zeros(N, P1, dtype=x.dtype)
    for n in range(N):
        for i in range(int(lx[n])):
            diff = x[n, i][None] - y[n, : int(ly[n])]
            dd = (diff**2).sum(-1) if norm == 2 else diff.abs().sum(-1)
            j = int(dd.argmin())
            d[n, i] = dd[j]
            if nx is not None:
                cos = torch.nn.functional.cosine_similarity(nx[n, i], ny[n, j], dim=0, eps=1e-6)
                c[n, i] = 1 - (cos.abs() if abs_cos else cos)
    return d, c


def _reference(x, y, lx, ly, nx, ny, w, br, pr, norm, single, abs_cos):
    dx, cx = _direction(x, y, lx, ly, nx, ny, norm, abs_cos)
    dy, cy = _direction(y, x, ly, lx, ny, nx, norm, abs_cos)
    if w is not None:
        dx, cx, dy, cy = (t * w[:, None] for t in (dx, cx, dy, cy))

    def red(t, lengths):
        if pr == "max":
            return t.max(1).values
        if pr == "sum":
            return t.sum(1)
        return t.sum(1) / lengths.clamp(min=1)

    if pr is None:
        if single:
            return dx, (cx if nx is not None else None)
        return (dx, dy), ((cx, cy) if nx is not None else None)
    lx_, ly_ = red(dx, lx), red(dy, ly)
    if single:
        loss, ln = lx_, red(cx, lx)
    elif pr == "max":
        loss, ln = torch.maximum(lx_, ly_), None
    else:
        loss, ln = lx_ + ly_, red(cx, lx) + red(cy, ly)
    if nx is None:
        ln = None
    if br is None:
        return loss, ln
    div = len(x) if w is None else w.sum()
    if br == "sum":
        div = 1
    return loss.sum() / div, (ln.sum() / div if ln is not None else None)


def _data(dtype=torch.float64):
    x = torch.rand(3, 12, 3, dtype=dtype)
    y = torch.rand(3, 9, 3, dtype=dtype)
    nx = torch.randn(3, 12, 3, dtype=dtype)
    ny = torch.randn(3, 9, 3, dtype=dtype)
    return x, y, torch.tensor([12, 7, 3]), torch.tensor([9, 9, 4]), nx, ny


def _close(a, b):
    if isinstance(a, tuple):
        for u, v in zip(a, b):
            _close(u, v)
    elif a is None:
        assert b is None
    else:
        torch.testing.assert_close(a, b)


class TestChamferDistance:
    def test_smoke(self):
        loss, ln = chamfer_distance(torch.rand(2, 10, 3), torch.rand(2, 8, 3))
        assert loss.shape == () and ln is None
        assert float(chamfer_distance(torch.ones(1, 4, 3), torch.ones(1, 2, 3))[0]) == 0.0

    @pytest.mark.parametrize(
        "pr,br,normals",
        [
            (pr, br, nrm)
            for pr in ("mean", "sum", "max", None)
            for br in ("mean", "sum", None)
            for nrm in (False, True)
            if not (pr is None and br is not None) and not (pr == "max" and nrm)
        ],
    )
    @pytest.mark.parametrize("weighted", [False, True])
    def test_matches_reference(self, pr, br, normals, weighted):
        x, y, lx, ly, nx, ny = _data()
        if not normals:
            nx = ny = None
        w = torch.tensor([0.5, 2.0, 1.0], dtype=x.dtype) if weighted else None
        for norm in (1, 2):
            for single in (False, True):
                for abs_cos in (True, False):
                    got = chamfer_distance(x, y, lx, ly, nx, ny, w, br, pr, norm, single, abs_cos)
                    exp = _reference(x, y, lx, ly, nx, ny, w, br, pr, norm, single, abs_cos)
                    _close(tuple(got), tuple(exp))

    def test_matches_scipy(self):
        spatial = pytest.importorskip("scipy.spatial")
        x, y = torch.rand(2, 300, 3), torch.rand(2, 200, 3)
        loss, _ = chamfer_distance(x, y, batch_reduction=None)
        for n in range(2):
            dx, _ = spatial.cKDTree(y[n].numpy()).query(x[n].numpy())
            dy, _ = spatial.cKDTree(x[n].numpy()).query(y[n].numpy())
            exp = float((dx**2).mean() + (dy**2).mean())
            assert abs(float(loss[n]) - exp) < 1e-5

    def test_zero_weights(self):
        x, y = torch.rand(2, 5, 3, requires_grad=True), torch.rand(2, 4, 3)
        loss, ln = chamfer_distance(x, y, weights=torch.zeros(2))
        assert float(loss.detach()) == 0.0 and float(ln.detach()) == 0.0
        loss.backward()
        loss, _ = chamfer_distance(x, y, weights=torch.zeros(2), batch_reduction=None)
        assert loss.shape == (2,)

    def test_pointclouds_input(self):
        pc = pytest.importorskip("inverse3d.structures.pointclouds")
        pts = [torch.rand(7, 3), torch.rand(4, 3)]
        nrm = [torch.randn(7, 3), torch.randn(4, 3)]
        clouds = pc.Pointclouds(points=pts, normals=nrm)
        y = torch.rand(2, 6, 3)
        yn = torch.randn(2, 6, 3)
        got = chamfer_distance(clouds, y, y_normals=yn)
        xp = torch.zeros(2, 7, 3)
        xn = torch.zeros(2, 7, 3)
        for i in range(2):
            xp[i, : len(pts[i])] = pts[i]
            xn[i, : len(pts[i])] = nrm[i]
        exp = chamfer_distance(xp, y, x_lengths=torch.tensor([7, 4]), x_normals=xn, y_normals=yn)
        _close(got, exp)

    def test_empty_cloud(self):
        # a cloud with no valid point contributes 0 (mean divides by max(length, 1))
        x, y = torch.rand(2, 5, 3), torch.rand(2, 4, 3)
        loss, _ = chamfer_distance(x, y, x_lengths=torch.tensor([5, 0]), batch_reduction=None)
        assert torch.isfinite(loss).all()

    def test_exceptions(self):
        x, y = torch.rand(2, 5, 3), torch.rand(2, 4, 3)
        with pytest.raises(ValueError, match="(?i)batch.reduction must be None"):
            chamfer_distance(x, y, point_reduction=None)
        with pytest.raises(ValueError, match="point_reduction"):
            chamfer_distance(x, y, point_reduction="median")
        with pytest.raises(ValueError, match="batch_reduction"):
            chamfer_distance(x, y, batch_reduction="max")
        with pytest.raises(ValueError, match="norm"):
            chamfer_distance(x, y, norm=3)
        with pytest.raises(ValueError, match="(?i)normals must be None"):
            chamfer_distance(x, y, x_normals=x, point_reduction="max")
        with pytest.raises(ValueError, match="y must have shape"):
            chamfer_distance(x, torch.rand(3, 4, 3))
        with pytest.raises(ValueError, match="x_lengths"):
            chamfer_distance(x, y, x_lengths=torch.tensor([6, 1]))
        with pytest.raises(ValueError, match="weights cannot be negative"):
            chamfer_distance(x, y, weights=torch.tensor([1.0, -1.0]))
        with pytest.raises(ValueError, match="weights must have shape"):
            chamfer_distance(x, y, weights=torch.ones(3))
        with pytest.raises(TypeError):
            chamfer_distance([1, 2], y)
        with pytest.raises(ValueError, match="x_normals"):
            chamfer_distance(x, y, x_normals=torch.rand(2, 4, 3), y_normals=torch.rand(2, 4, 3))

    @pytest.mark.parametrize("pr", ["mean", "sum", "max"])
    def test_gradcheck(self, pr):
        x, y, lx, ly, nx, ny = _data()
        x.requires_grad_(True)
        y.requires_grad_(True)
        w = torch.tensor([0.5, 2.0, 1.0], dtype=x.dtype)
        nx.requires_grad_(True)
        use_n = pr != "max"

        def f(a, b, an):
            loss, ln = chamfer_distance(
                a, b, lx, ly, an if use_n else None, ny if use_n else None, w, "mean", pr
            )
            return loss if ln is None else loss + ln

        assert torch.autograd.gradcheck(f, (x, y, nx))

    def test_gradcheck_no_reduction(self):
        x, y, lx, ly, nx, ny = _data()
        x.requires_grad_(True)
        y.requires_grad_(True)

        def f(a, b):
            (cx, cy), (nx_, ny_) = chamfer_distance(a, b, lx, ly, nx, ny, None, None, None, norm=1)
            return cx, cy

        assert torch.autograd.gradcheck(f, (x, y))
