import pytest
import torch

from inverse3d.engine import Loop
from inverse3d.eval.sdf_metrics import evaluate_sdf_occupancy
from inverse3d.methods.fit_sdf import FitSdfConfig, eikonal_loss, fit, sdf_to_mesh
from inverse3d.models.sdf import SDF_MODELS
from inverse3d.utils import ico_sphere


def _mesh():
    m = ico_sphere(2)
    return m.verts_packed() * 2.0 + 1.0, m.faces_packed()


class _ExactSphere(torch.nn.Module):
    def forward(self, x):
        return x.norm(dim=-1, keepdim=True) - 0.3


def test_eikonal_zero_on_exact_sdf():
    x = torch.rand(100, 3) + 0.1
    assert float(eikonal_loss(_ExactSphere(), x).detach()) == pytest.approx(0.0, abs=1e-10)
    lin = torch.nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[2.0, 0.0, 0.0]]))
    assert float(eikonal_loss(lin, x).detach()) == pytest.approx(1.0)


@pytest.mark.parametrize("model", SDF_MODELS)
def test_smoke_two_steps(model):
    cfg = FitSdfConfig(
        model=model,
        steps=2,
        batch_size=64,
        pool_size=256,
        width=16,
        eikonal_weight=0.1,
        normal_weight=0.1,
    )
    r = fit(cfg, _mesh(), Loop(progress=False))
    assert r.steps == 2 and len(r.history) == 2
    assert {"loss", "sdf", "eikonal", "normal"} <= set(r.history[0])
    assert r.scale == pytest.approx(4.0, rel=1e-4)
    assert r.sdf(torch.zeros(3, 3)).shape == (3,)


def test_quality_floor_sphere():
    v, f = _mesh()
    cfg = FitSdfConfig(steps=60, batch_size=1024, pool_size=4000, width=32)
    r = fit(cfg, (v, f), Loop(progress=False))
    assert r.history[-1]["loss"] < 0.2 * r.history[0]["loss"]
    m = evaluate_sdf_occupancy(lambda x: r.net(x), v, f, n_points=2000)
    assert m["f1_volume"] > 0.98 and m["f1_near"] > 0.85
    mv, mf = sdf_to_mesh(r, resolution=32)
    assert mf.shape[0] > 100
    # back in the mesh's frame: centred at (1, 1, 1), radius 2
    assert (mv.mean(0) - 1.0).abs().max() < 0.1
    assert abs(float((mv - 1.0).norm(dim=-1).mean()) - 2.0) < 0.1


def test_bad_inputs():
    v, f = _mesh()
    with pytest.raises(ValueError, match="faces"):
        fit(FitSdfConfig(steps=1), (v, f[:0]))
    with pytest.raises(ValueError, match="finite"):
        fit(FitSdfConfig(steps=1), (v * float("nan"), f))
    with pytest.raises(TypeError, match="mesh"):
        fit(FitSdfConfig(steps=1), v)
