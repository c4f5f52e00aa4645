"""models.mesh_rcnn: frustum grid geometry, cubify of known grids, shapes, gradient flow."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from inverse3d.models.mesh_rcnn import (
    Frustum,
    MeshRCNNHead,
    RefineStage,
    SmallBackbone,
    VoxelHead,
    grid_to_view,
    resnet_backbone,
    view_to_grid,
)
from inverse3d.renderer.cameras import PerspectiveCameras


@pytest.fixture(autouse=True)
def _one_thread():
    # compute-bound; on a shared CPU two threads are slower than one
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _small(**kw) -> MeshRCNNHead:
    torch.manual_seed(0)
    return MeshRCNNHead(**{"grid": 8, "hidden": 16, "width": 8, **kw})


def test_grid_view_round_trip_and_projection():
    fr = Frustum(focal=3.0, depth=3.0, half_depth=1.0)
    g = torch.rand(50, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    p = grid_to_view(g, fr)
    torch.testing.assert_close(view_to_grid(p, fr), g, atol=1e-5, rtol=0)
    assert float(p[:, 2].min()) >= 2.0 and float(p[:, 2].max()) <= 4.0
    # independent truth: the renderer's NDC projection (+x left, +y up) is (-gx, -gy)
    ndc = PerspectiveCameras(focal_length=fr.focal).transform_points(p[None])[0]
    torch.testing.assert_close(ndc[:, :2], -g[:, :2], atol=1e-5, rtol=0)


def test_frustum_validation():
    with pytest.raises(ValueError, match="half_depth"):
        Frustum(depth=1.0, half_depth=1.0)
    with pytest.raises(ValueError, match="focal"):
        Frustum(focal=-1.0)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        grid_to_view(torch.zeros(4, 2), Frustum())


def test_cubify_of_known_voxel():
    model = _small()
    fr = model.frustum
    logits = torch.full((1, 8, 8, 8), -10.0)
    logits[0, 2, 5, 1] = 10.0  # voxel (d, h, w) = (2, 5, 1)
    mesh = model.cubify_logits(logits)
    assert mesh.verts_packed().shape == (8, 3) and mesh.faces_packed().shape == (12, 3)
    g = view_to_grid(mesh.verts_packed(), fr)
    # the cube spans w in [1, 2], h in [5, 6], d in [2, 3] of 8 cells over [-1, 1]
    lo = torch.tensor([1, 5, 2]) * 0.25 - 1
    torch.testing.assert_close(g.min(0).values, lo, atol=1e-5, rtol=0)
    torch.testing.assert_close(g.max(0).values, lo + 0.25, atol=1e-5, rtol=0)
    # two voxels sharing a face: 12 vertices, the shared face removed (10 squares)
    logits[0, 2, 5, 2] = 10.0
    mesh = model.cubify_logits(logits)
    assert mesh.verts_packed().shape[0] == 12 and mesh.faces_packed().shape[0] == 20


def test_empty_grid_falls_back_to_sphere():
    model = _small()
    mesh = model.cubify_logits(torch.full((2, 8, 8, 8), -10.0))
    assert all(v.shape[0] > 0 for v in mesh.verts_list())
    c = mesh.verts_packed().mean(0)
    torch.testing.assert_close(c, torch.tensor([0.0, 0.0, 3.0]), atol=1e-4, rtol=0)


def test_shapes_and_gradients_reach_every_module():
    model = _small()
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    out = model(images)
    assert out.voxel_logits.shape == (2, 8, 8, 8)
    assert len(out.meshes) == 3 and all(len(m) == 2 for m in out.meshes)
    target = torch.tensor([0.1, -0.2, 3.0])
    loss = (out.meshes[-1].verts_packed() - target).square().mean() + out.voxel_logits.mean()
    loss.backward()
    for name in ("backbone", "voxel_head", "stages"):
        grads = [p.grad for p in getattr(model, name).parameters()]
        assert all(g is not None for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name


def test_offsets_are_bounded():
    torch.manual_seed(0)
    stage = RefineStage(feat_channels=8, hidden=8, max_offset=0.05)
    torch.nn.init.normal_(stage.offset.weight, std=100.0)
    model = _small()
    mesh = model.cubify_logits(torch.full((1, 8, 8, 8), 10.0))
    feats = [torch.randn(1, 8, 8, 8)]
    moved, h = stage(mesh, feats, model.frustum)
    d = (moved.verts_packed() - mesh.verts_packed()).abs().detach()
    assert float(d.max()) <= 0.05 + 1e-6 and float(d.max()) > 0.01
    assert h.shape == (mesh.verts_packed().shape[0], 8)


def test_module_shapes_and_validation():
    bb = SmallBackbone(8)
    f4, f8 = bb(torch.rand(1, 3, 32, 48))
    assert f4.shape == (1, 8, 8, 12) and f8.shape == (1, 16, 4, 6)
    assert VoxelHead(16, grid=6)(f8.new_zeros(1, 16, 4, 6)).shape == (1, 6, 6, 6)
    with pytest.raises(ValueError, match="multiples of 8"):
        bb(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match="images"):
        bb(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="cubify_thresh"):
        MeshRCNNHead(cubify_thresh=1.5)


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="has torchvision")
def test_resnet_backbone_without_torchvision_says_so(tmp_path):
    with pytest.raises(ImportError, match="torchvision"):
        resnet_backbone(str(tmp_path / "resnet18.pt"))
