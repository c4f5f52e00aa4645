"""The book's chamfer workflows of examples/ (ch. 2 offset recovery, ch. 3 sphere-to-pedestrian
fit), run with fewer iterations on the real data files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from inverse3d.io.ply_io import load_ply
from inverse3d.loss.chamfer import chamfer_distance
from inverse3d.ops.sample_points_from_meshes import sample_points_from_meshes

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_chamfer_offset(book_dir):
    mod = _load("book_chamfer_offset")
    data = book_dir / "chap2" / "data"
    meshes = mod.load_batch(data)
    assert meshes.num_verts_per_mesh().tolist() == [8, 6, 20]
    offset, history = mod.recover_offset(data, n_iter=60, n_points=500)
    assert torch.allclose(offset, torch.tensor(mod.TRUE_OFFSET), atol=0.1), offset
    assert history[-1] < 0.01 * history[0]


@pytest.mark.slow
def test_fit_pedestrian(book_dir, tmp_path):
    mod = _load("book_fit_pedestrian")
    ply = book_dir / "chap3" / "pedestrian.ply"
    mesh, target, center, scale, history = mod.fit(ply, n_iter=60, n_samples=2000)
    assert target.shape == (239, 3) and mesh.verts_packed().shape == (2562, 3)
    torch.manual_seed(5)
    with torch.no_grad():
        cd = float(chamfer_distance(sample_points_from_meshes(mesh, 20000), target[None])[0])
        sphere = mod.ico_sphere(4)
        cd0 = float(chamfer_distance(sample_points_from_meshes(sphere, 20000), target[None])[0])
    # measured after 60 iterations: 0.185 (seed 0) and 0.188 (seed 1), from 0.81 for the
    # sphere itself; 0.25 leaves room for platform differences and fails if the fit stalls
    assert cd < 0.25, cd
    assert cd < 0.25 * cd0, (cd, cd0)
    assert all(torch.isfinite(torch.tensor(history)))
    # the saved PLY holds the fitted mesh in the input frame
    out = tmp_path / "fit.ply"
    mod.save_ply(out, mesh.verts_packed() * scale + center, mesh.faces_packed(), ascii=True)
    verts, faces = load_ply(out)
    assert verts.shape == (2562, 3) and faces.shape == (5120, 3)
    assert torch.allclose(verts, mesh.verts_packed() * scale + center, atol=1e-4 * float(scale))
