"""The book's mesh-fitting workflows with this library (few iterations)."""

from __future__ import annotations

import pytest
import torch

from inverse3d.loss.chamfer import chamfer_distance
from inverse3d.loss.mesh_edge_loss import mesh_edge_loss
from inverse3d.loss.mesh_laplacian_smoothing import mesh_laplacian_smoothing
from inverse3d.loss.mesh_normal_consistency import mesh_normal_consistency
from inverse3d.ops.sample_points_from_meshes import sample_points_from_meshes

obj_io = pytest.importorskip("inverse3d.io.obj_io")
ply_io = pytest.importorskip("inverse3d.io.ply_io")
Meshes = pytest.importorskip("inverse3d.structures.meshes").Meshes


def test_recover_offset_by_chamfer(book_dir):
    files = [
        book_dir / "chap2" / "data" / n for n in ("cube.obj", "diamond.obj", "dodecahedron.obj")
    ]
    meshes = obj_io.load_objs_as_meshes(files, load_textures=False)
    src = sample_points_from_meshes(meshes, 1000)
    truth = torch.tensor([3.0, 4.0, 5.0])
    target = sample_points_from_meshes(meshes, 1000) + truth + 0.01 * torch.randn(3, 1000, 3)
    offset = torch.zeros(1, 1, 3, requires_grad=True)
    opt = torch.optim.Adam([offset], lr=0.2)
    for _ in range(150):
        opt.zero_grad()
        loss, _ = chamfer_distance(src + offset, target)
        loss.backward()
        opt.step()
    assert (offset.detach().view(3) - truth).abs().max() < 0.05


def test_deform_sphere_to_pedestrian(book_dir, tmp_path):
    ico = pytest.importorskip("inverse3d.utils.ico_sphere")
    verts, _ = ply_io.load_ply(book_dir / "chap3" / "pedestrian.ply")
    target = verts - verts.mean(0)
    target = target / target.norm(dim=1).max()
    src = ico.ico_sphere(4)
    deform = torch.zeros_like(src.verts_packed(), requires_grad=True)
    opt = torch.optim.SGD([deform], lr=1.0, momentum=0.9)

    def chamfer_now():
        mesh = src.offset_verts(deform)
        pts = sample_points_from_meshes(mesh, 2000)
        return mesh, chamfer_distance(pts, target[None])[0]

    start = float(chamfer_now()[1].detach())
    for _ in range(40):
        opt.zero_grad()
        mesh, loss_c = chamfer_now()
        loss = (
            loss_c
            + 1.0 * mesh_edge_loss(mesh)
            + 0.01 * mesh_normal_consistency(mesh)
            + 0.1 * mesh_laplacian_smoothing(mesh, method="uniform")
        )
        loss.backward()
        opt.step()
    mesh, end = chamfer_now()
    assert float(end.detach()) < 0.5 * start
    out = tmp_path / "deformed.ply"
    v, f = mesh.get_mesh_verts_faces(0)
    ply_io.save_ply(out, v.detach(), f)
    v2, f2 = ply_io.load_ply(out)
    assert v2.shape == v.shape and torch.equal(f2, f)
