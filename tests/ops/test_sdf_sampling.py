import pytest
import torch

from inverse3d.ops.fast_winding import fast_winding_number
from inverse3d.ops.mesh_sdf import winding_number
from inverse3d.ops.sdf_sampling import (
    outward_faces,
    sample_near_surface_points,
    sample_surface_points,
    sample_uniform_points,
    sdf_samples,
    unit_cube_transform,
)
from inverse3d.utils import ico_sphere


def _sphere(level=3):
    m = ico_sphere(level)
    return m.verts_packed(), m.faces_packed()


class TestFastWinding:
    def test_matches_exact_winding(self):
        v, f = _sphere(3)
        v = v * torch.tensor([1.0, 0.6, 0.3])
        g = torch.Generator().manual_seed(0)
        p = torch.rand((600, 3), generator=g) * 2.4 - 1.2
        exact = winding_number(p, v, f)
        approx = fast_winding_number(p, v, f, band=0.0)
        assert (approx - exact).abs().max() < 0.05
        assert torch.equal(fast_winding_number(p, v, f) > 0.5, exact > 0.5)

    def test_inward_faces_give_minus_one(self):
        v, f = _sphere(2)
        p = torch.tensor([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
        w = fast_winding_number(p, v, f.flip(1))
        torch.testing.assert_close(w, torch.tensor([-1.0, 0.0]), atol=0.05, rtol=0)

    def test_exceptions(self):
        v, f = _sphere(1)
        with pytest.raises(ValueError, match="beta"):
            fast_winding_number(torch.zeros(1, 3), v, f, beta=0.0)
        with pytest.raises(ValueError, match="points"):
            fast_winding_number(torch.zeros(1, 2), v, f)


class TestSampling:
    def test_unit_cube_transform(self):
        v = torch.tensor([[0.0, 0, 0], [4.0, 2, 1]])
        c, s = unit_cube_transform(v)
        torch.testing.assert_close(c, torch.tensor([2.0, 1.0, 0.5]))
        assert s == 4.0
        with pytest.raises(ValueError, match="finite"):
            unit_cube_transform(torch.tensor([[float("nan"), 0, 0]]))

    def test_uniform_in_box(self):
        g = torch.Generator().manual_seed(1)
        p = sample_uniform_points(20000, 0.5, g)
        assert p.abs().max() <= 0.5
        torch.testing.assert_close(p.var(0), torch.full((3,), 1 / 12), atol=3e-3, rtol=0)

    def test_surface_points_on_sphere_with_normals(self):
        v, f = _sphere(3)
        p, n = sample_surface_points(v, f, 2000, torch.Generator().manual_seed(2))
        r = p.norm(dim=-1)
        assert r.max() <= 1.0 + 1e-5 and r.min() > 0.98
        assert (torch.nn.functional.cosine_similarity(p, n, dim=-1) > 0.98).all()

    def test_near_surface_offsets_std(self):
        # a big flat square: the offsets along z are the noise itself
        v = torch.tensor([[-1.0, -1, 0], [1.0, -1, 0], [1.0, 1, 0], [-1.0, 1, 0]])
        f = torch.tensor([[0, 1, 2], [0, 2, 3]])
        p = sample_near_surface_points(v, f, 40000, 0.01, torch.Generator().manual_seed(3))
        std = float(p[:, 2].std())
        assert abs(std - 0.01) < 0.0003
        assert abs(float(p[:, 2].mean())) < 0.0003

    def test_sdf_samples_sphere(self):
        v, f = _sphere(4)
        p = torch.tensor([[0.0, 0, 0], [0.0, 0, 2.0], [0.5, 0, 0]])
        s = sdf_samples(v, f, p)
        torch.testing.assert_close(s, torch.tensor([-1.0, 1.0, -0.5]), atol=3e-3, rtol=0)

    def test_exceptions(self):
        v, f = _sphere(1)
        with pytest.raises(ValueError, match="faces"):
            sample_surface_points(v, f[:0], 5)
        with pytest.raises(ValueError, match="finite"):
            sample_surface_points(v * float("nan"), f, 5)
        with pytest.raises(ValueError, match="std"):
            sample_near_surface_points(v, f, 5, std=-1.0)


class TestOutwardFaces:
    def test_flips_inward_mesh_only(self):
        v, f = _sphere(2)
        assert torch.equal(outward_faces(v, f), f)
        assert torch.equal(outward_faces(v, f.flip(1)), f)
        # after orientation the winding number is +1 inside either way
        p = torch.tensor([[0.1, 0.0, 0.0]])
        w = fast_winding_number(p, v, outward_faces(v, f.flip(1)))
        assert abs(float(w) - 1.0) < 0.05

    def test_exceptions(self):
        v, f = _sphere(1)
        with pytest.raises(ValueError, match="faces"):
            outward_faces(v, f[:0])
