import pytest
import torch

from inverse3d.engine import Loop
from inverse3d.eval.sdf_metrics import evaluate_sdf_occupancy
from inverse3d.methods.fit_sdf import FitSdfConfig, eikonal_loss, fit, fit_joint, sdf_to_mesh
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


def _box():
    v = torch.tensor([[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)])
    f = torch.tensor(
        [[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1]]
        + [[2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]]
    )
    return v * torch.tensor([1.0, 0.5, 0.5]), f


def test_joint_two_shapes_quality_floor():
    """One decoder, two codes: a ball and a flat box are told apart (auto-decoder)."""
    shapes = [_mesh(), _box()]
    cfg = FitSdfConfig(
        model="deepsdf",
        joint=True,
        steps=150,
        batch_size=1024,
        pool_size=4000,
        width=64,
        latent_dim=8,
    )
    r = fit_joint(cfg, shapes, Loop(progress=False))
    assert r.steps == 150 and r.codes.shape == (2, 8) and len(r.shapes) == 2
    assert {"loss", "sdf", "code"} <= set(r.history[0])
    assert r.history[-1]["sdf"] < 0.5 * r.history[0]["sdf"]
    f1 = []
    for (v, f), sh in zip(shapes, r.shapes):
        assert torch.equal(sh.net.code, r.codes[len(f1)])
        f1.append(evaluate_sdf_occupancy(sh.net, v, f, n_points=2000)["f1_volume"])
    assert min(f1) > 0.8, f1  # 150 tiny steps; an untrained net is far below
    # each code gives its own shape: the two networks differ where the shapes do
    x = torch.rand(2000, 3, generator=torch.Generator().manual_seed(5)) - 0.5
    with torch.no_grad():
        gap = (r.shapes[0].net(x) - r.shapes[1].net(x)).abs().mean()
    assert float(gap) > 0.005  # same code for both would give 0


def test_joint_exceptions():
    with pytest.raises(ValueError, match="deepsdf"):
        fit_joint(FitSdfConfig(model="siren", steps=1), [_mesh()])
    with pytest.raises(ValueError, match="non-empty"):
        fit_joint(FitSdfConfig(model="deepsdf", steps=1), [])
