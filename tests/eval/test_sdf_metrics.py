import math

import pytest
import torch

from inverse3d.eval.sdf_metrics import evaluate_sdf_occupancy, occupancy_f1
from inverse3d.utils import ico_sphere


def test_f1_counts():
    pred = torch.tensor([-1.0, -1.0, 1.0, 1.0, -1.0])
    gt = torch.tensor([-1.0, 1.0, -1.0, 1.0, -1.0])
    m = occupancy_f1(pred, gt)  # tp 2, fp 1, fn 1
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3) and m["accuracy"] == pytest.approx(3 / 5)
    assert occupancy_f1(torch.ones(3), torch.ones(3))["f1"] == 1.0
    assert occupancy_f1(-torch.ones(3), torch.ones(3))["f1"] == 0.0


def test_exceptions():
    with pytest.raises(ValueError, match="gt_sdf"):
        occupancy_f1(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="at least one"):
        occupancy_f1(torch.zeros(0), torch.zeros(0))


def _sphere_mesh():
    m = ico_sphere(4)
    return m.verts_packed(), m.faces_packed()


def test_exact_sphere_sdf_gives_f1_one():
    # the analytic SDF of the polyhedral sphere's own inscribed/circumscribed sphere differs by
    # < 0.2% of the radius; its zero set lies within the noise-free band, so use the mesh radius
    v, f = _sphere_mesh()
    # unit-cube frame: radius 0.5 (the sphere's bounding box has side 2)
    m = evaluate_sdf_occupancy(lambda x: x.norm(dim=-1) - 0.4995, v, f, n_points=4000)
    assert m["f1_volume"] > 0.999
    assert m["f1_near"] > 0.99


def test_analytic_sphere_against_itself_is_one_and_shifted_is_known():
    g = torch.Generator().manual_seed(0)
    x = torch.rand((200000, 3), generator=g) - 0.5
    gt = x.norm(dim=-1) - 0.4
    assert occupancy_f1(gt.clone(), gt)["f1"] == 1.0
    # sphere shifted by d along x: intersection volume of two balls of radius r, centres d apart
    r, d = 0.4, 0.1
    pred = (x - torch.tensor([d, 0, 0])).norm(dim=-1) - r
    lens = math.pi * (4 * r + d) * (2 * r - d) ** 2 / 12
    ball = 4 / 3 * math.pi * r**3
    expected = lens / ball  # tp / |A| with |A| = |B|: F1 = 2 tp / (|A| + |B|)
    assert occupancy_f1(pred, gt)["f1"] == pytest.approx(expected, abs=0.01)


def _inward_cube():
    # the book's cube.obj: unit cube, every face wound inward (winding number -1 inside)
    v = torch.tensor(
        [[-0.5, -0.5, 0.5], [-0.5, -0.5, -0.5], [-0.5, 0.5, -0.5], [-0.5, 0.5, 0.5]]
        + [[0.5, -0.5, 0.5], [0.5, -0.5, -0.5], [0.5, 0.5, -0.5], [0.5, 0.5, 0.5]]
    )
    f = torch.tensor(
        [[1, 2, 3], [6, 5, 8], [7, 3, 2], [4, 8, 5], [8, 4, 3], [6, 2, 1]]
        + [[1, 3, 4], [6, 8, 7], [7, 2, 6], [4, 5, 1], [8, 3, 7], [6, 1, 5]]
    )
    return v * 2.0 + 3.0, f - 1  # any frame: the evaluation maps it to the unit cube


def test_exact_box_sdf_gives_f1_exactly_one_on_inward_cube():
    v, f = _inward_cube()

    def box(x):  # exact SDF of [-0.5, 0.5]^3 in the unit-cube frame
        q = x.abs() - 0.5
        return q.clamp(min=0).norm(dim=-1) + q.max(dim=-1).values.clamp(max=0)

    m = evaluate_sdf_occupancy(box, v, f, n_points=5000)
    assert m["f1_volume"] == 1.0 and m["f1_near"] == 1.0
    assert m["inside_fraction_near"] == pytest.approx(0.5, abs=0.03)
    # the complement (inside-out) field is wrong everywhere
    m = evaluate_sdf_occupancy(lambda x: -box(x), v, f, n_points=2000)
    assert m["f1_volume"] == 0.0
