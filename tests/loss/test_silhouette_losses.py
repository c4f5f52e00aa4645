"""silhouette_iou_loss (1 - IoU on binary masks) and mesh_flatten_loss (zero on a plane, the
dihedral term on a folded pair)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inverse3d.loss import mesh_flatten_loss, silhouette_iou_loss
from inverse3d.structures.meshes import Meshes
from inverse3d.utils.ico_sphere import ico_sphere


def _grid(n: int = 4, z=None) -> tuple[torch.Tensor, torch.Tensor]:
    """A triangulated n x n grid in the plane z = 0 (or z = z(x, y)): verts (V, 3), faces."""
    t = torch.linspace(-1, 1, n + 1, dtype=torch.float64)
    y, x = torch.meshgrid(t, t, indexing="ij")
    zz = torch.zeros_like(x) if z is None else z(x, y)
    verts = torch.stack([x, y, zz], -1).reshape(-1, 3)
    faces = []
    for i in range(n):
        for j in range(n):
            a, b, c, d = (
                i * (n + 1) + j,
                i * (n + 1) + j + 1,
                (i + 1) * (n + 1) + j,
                (i + 1) * (n + 1) + j + 1,
            )
            faces += [[a, b, d], [a, d, c]]
    return verts, torch.tensor(faces)


class TestSilhouetteIouLoss:
    def test_matches_reference_binary(self):
        g = np.random.default_rng(0)
        a = g.random((3, 17, 11)) > 0.5
        b = g.random((3, 17, 11)) > 0.4
        ious = [(a[i] & b[i]).sum() / (a[i] | b[i]).sum() for i in range(3)]
        loss = silhouette_iou_loss(torch.from_numpy(a).double(), torch.from_numpy(b).double())
        assert float(loss) == pytest.approx(1 - np.mean(ious), abs=1e-6)

    def test_identical_and_disjoint(self):
        m = torch.zeros(2, 8, 8)
        m[:, 2:5, 3:6] = 1
        assert float(silhouette_iou_loss(m, m)) == pytest.approx(0.0, abs=1e-6)
        other = torch.zeros_like(m)
        other[:, 6:, 6:] = 1
        assert float(silhouette_iou_loss(m, other)) == pytest.approx(1.0)
        empty = torch.zeros_like(m)
        assert float(silhouette_iou_loss(empty, empty)) == 0.0

    def test_gradcheck(self):
        p = torch.rand(2, 5, 4, dtype=torch.float64, requires_grad=True)
        t = torch.rand(2, 5, 4, dtype=torch.float64)
        assert torch.autograd.gradcheck(lambda x: silhouette_iou_loss(x, t), (p,))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="pred must have shape"):
            silhouette_iou_loss(torch.zeros(4, 4), torch.zeros(4, 4))
        with pytest.raises(ValueError, match="target must have shape"):
            silhouette_iou_loss(torch.zeros(1, 4, 4), torch.zeros(1, 4, 5))
        with pytest.raises(TypeError, match="pred must be a torch.Tensor"):
            silhouette_iou_loss(np.zeros((1, 4, 4)), torch.zeros(1, 4, 4))
        with pytest.raises(ValueError, match="N = 0"):
            silhouette_iou_loss(torch.zeros(0, 4, 4), torch.zeros(0, 4, 4))


class TestMeshFlattenLoss:
    def test_zero_on_plane(self):
        v, f = _grid()
        # A tilted plane too: the loss does not depend on the plane's orientation.
        tilted = _grid(z=lambda x, y: 0.3 * x - 0.7 * y)[0]
        for verts in (v, tilted):
            loss = mesh_flatten_loss(Meshes([verts], [f]))
            assert float(loss) == pytest.approx(0.0, abs=1e-9)

    @pytest.mark.parametrize("angle_deg", [90.0, 120.0, 45.0])
    def test_bent_pair_analytic(self, angle_deg):
        # Two triangles on edge (0,0,0)-(0,1,0), folded to the dihedral angle theta.
        th = math.radians(angle_deg)
        verts = torch.tensor(
            [[0, 0, 0], [0, 1, 0], [1, 0.5, 0], [math.cos(th), 0.5, math.sin(th)]],
            dtype=torch.float64,
        )
        faces = torch.tensor([[0, 2, 1], [0, 1, 3]])
        loss = mesh_flatten_loss(Meshes([verts], [faces]))
        assert float(loss) == pytest.approx((1 + math.cos(th)) ** 2, rel=1e-5)
        assert float(loss) > 0

    def test_batch_is_mean_of_meshes(self):
        v, f = _grid(3)
        bent = _grid(3, z=lambda x, y: x**2)[0]
        one = mesh_flatten_loss(Meshes([bent], [f]))
        both = mesh_flatten_loss(Meshes([v, bent], [f, f]))
        assert float(both) == pytest.approx(float(one) / 2, rel=1e-9)

    def test_sphere_positive_and_decreases_with_subdivision(self):
        coarse = mesh_flatten_loss(ico_sphere(1))
        fine = mesh_flatten_loss(ico_sphere(3))
        assert 0 < float(fine) < float(coarse)

    def test_gradcheck(self):
        _, f = _grid(2)
        v = _grid(2, z=lambda x, y: 0.2 * x * y + 0.1 * x**2)[0].requires_grad_(True)
        assert torch.autograd.gradcheck(lambda x: mesh_flatten_loss(Meshes([x], [f])), (v,))

    def test_exceptions(self):
        with pytest.raises(TypeError, match="meshes must be a Meshes"):
            mesh_flatten_loss(torch.zeros(3, 3))
        with pytest.raises(ValueError, match="eps"):
            mesh_flatten_loss(ico_sphere(0), eps=-1.0)
