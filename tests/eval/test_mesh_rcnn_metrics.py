"""eval.mesh_rcnn_metrics against analytic values (concentric spheres) and invariances."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.eval.mesh_rcnn_metrics import mesh_rcnn_metrics
from inverse3d.structures.meshes import Meshes
from inverse3d.utils.ico_sphere import ico_sphere


@pytest.fixture(autouse=True)
def _one_thread():
    # compute-bound; on a shared CPU two threads are slower than one
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _sphere(r: float, shift=(0.0, 0.0, 0.0)) -> Meshes:
    s = ico_sphere(4)
    return Meshes([s.verts_packed() * r + torch.tensor(shift)], [s.faces_packed()])


def test_concentric_spheres_analytic():
    # GT radius 1: longest side 2 -> factor 5. Radius 1.2: every nearest distance is about
    # 5 * 0.2 = 1 radially; the tangential gap to the nearest of n uniform samples on an area A
    # adds E[r^2] = A / (pi n) (2D Poisson), so chamfer = 2 * 1^2 + A_gt/(pi n) + A_pred/(pi n)
    n = 4000
    expected = 2.0 + (4 * math.pi * 5.0**2 + 4 * math.pi * 6.0**2) / (math.pi * n)
    m = mesh_rcnn_metrics(_sphere(1.2), _sphere(1.0), n_samples=n)
    assert float(m["chamfer"][0]) == pytest.approx(expected, rel=0.02)
    assert float(m["normal_consistency"][0]) > 0.99
    assert float(m["f1@0.5"][0]) < 0.01
    # radius 1.05: distances about 0.25, so F1 is ~0 at 0.1 and ~1 at 0.5
    m = mesh_rcnn_metrics(_sphere(1.05), _sphere(1.0), n_samples=4000)
    assert float(m["f1@0.1"][0]) < 0.01 and float(m["f1@0.5"][0]) > 0.99
    assert 0.0 < float(m["f1@0.3"][0]) < 1.0


def test_identical_and_scale_invariant():
    a, b = _sphere(1.0), _sphere(0.8, (0.1, 0.0, 0.0))
    same = mesh_rcnn_metrics(a, a, n_samples=3000)
    assert float(same["chamfer"][0]) < 0.1 and float(same["f1@0.5"][0]) > 0.99
    m1 = mesh_rcnn_metrics(b, a, n_samples=2000, seed=3)
    m2 = mesh_rcnn_metrics(_sphere(2.4, (0.3, 0.0, 0.0)), _sphere(3.0), n_samples=2000, seed=3)
    for k in m1:
        torch.testing.assert_close(m1[k], m2[k], atol=1e-3, rtol=1e-3)


def test_batch_and_errors():
    pred = Meshes([_sphere(1.0).verts_packed()] * 2, [_sphere(1.0).faces_packed()] * 2)
    gt = Meshes([_sphere(1.0).verts_packed(), _sphere(2.0).verts_packed()],
                [_sphere(1.0).faces_packed()] * 2)  # fmt: skip
    m = mesh_rcnn_metrics(pred, gt, n_samples=500)
    assert m["chamfer"].shape == (2,) and float(m["chamfer"][1]) > float(m["chamfer"][0])
    with pytest.raises(ValueError, match="batch size"):
        mesh_rcnn_metrics(pred, _sphere(1.0))
    empty = Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3, dtype=torch.int64)])
    with pytest.raises(ValueError, match="pred has an empty mesh"):
        mesh_rcnn_metrics(empty, _sphere(1.0))
    with pytest.raises(TypeError, match="gt must be a Meshes"):
        mesh_rcnn_metrics(pred, torch.zeros(2, 10, 3))
