"""`inverse3d fit-sdf` through the command line: outputs, bad inputs and exit codes."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from inverse3d.cli import main
from inverse3d.io import IO
from inverse3d.models.sdf import load_sdf
from inverse3d.utils import ico_sphere

TINY = [
    "--steps",
    "2",
    "--batch-size",
    "64",
    "--pool-size",
    "256",
    "--width",
    "16",
    "--eval-points",
    "500",
    "--mc-resolution",
    "16",
    "--quiet",
    "--device",
    "cpu",
]
CLOUD = (
    "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
    "property float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n"
)


def _sphere_file(path, level=1, shift=0.0):
    m = ico_sphere(level)
    IO().save_mesh(m.offset_verts(torch.full((m.verts_packed().shape[0], 3), shift)), path)
    return path


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    _sphere_file(d / "ball.obj")
    (d / "cloud.ply").write_text(CLOUD)  # a point cloud, like the book's pedestrian.ply
    (d / "nan.obj").write_text("v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n")
    (d / "noface.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    (d / "broken.off").write_text("OFF\n3 1 0\n0 0\n")
    (d / "notes.txt").write_text("not a mesh")
    return d


def test_single_mesh_outputs(tmp_path, capsys):
    mesh = _sphere_file(tmp_path / "ball.obj", level=2, shift=3.0)
    code = main(["fit-sdf", str(mesh), "--out", str(tmp_path / "runs"), *TINY])
    assert code == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "sdf-ball.obj"
    for name in ("config.yaml", "report.json", "report.html", "results.csv"):
        assert (run / name).is_file(), name
    for name in ("mesh.ply", "sdf.pt", "sdf.pt.json", "slice.png", "metrics.json"):
        assert (run / "ball" / name).is_file(), name
    report = json.loads((run / "report.json").read_text())
    assert report["objects"][0]["status"] == "ok"
    assert 0.0 <= report["average"]["f1_volume"] <= 1.0
    net = load_sdf(run / "ball" / "sdf.pt")
    meta = net.sdf_meta["extra"]
    torch.testing.assert_close(torch.tensor(meta["centre"]), torch.full((3,), 3.0))
    assert "ball" in capsys.readouterr().out
    # same name again without --overwrite: bad input, the folder is kept
    assert main(["fit-sdf", str(mesh), "--out", str(tmp_path / "runs"), *TINY]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (run / "ball" / "sdf.pt").is_file()


def test_folder_with_bad_files_others_still_run(folder, tmp_path, capsys):
    out = tmp_path / "runs"
    code = main(["fit-sdf", str(folder), "--out", str(out), "--name", "f", *TINY])
    err = capsys.readouterr().err
    assert code == 2  # some objects failed: exit 2, after the good ones are written
    run = out / "f"
    rows = {r["object"]: r for r in csv.DictReader(open(run / "results.csv"))}
    assert list(rows) == ["ball", "broken", "cloud", "nan", "noface", "average"]
    assert rows["ball"]["status"] == "ok" and rows["ball"]["f1_volume"]
    for bad in ("broken", "cloud", "nan", "noface"):
        assert rows[bad]["status"] == "failed" and rows[bad]["error"], bad
        assert not (run / bad).exists() and not (run / f".{bad}.partial").exists()
    assert "point cloud" in rows["cloud"]["error"]
    assert "NaN" in rows["nan"]["error"] or "nan" in rows["nan"]["error"]
    assert "no faces" in rows["noface"]["error"]
    assert rows["average"]["status"] == "1/5 ok"
    assert "cloud.ply" in err and "broken.off" in err
    assert (run / "ball" / "mesh.ply").is_file()


def test_point_cloud_alone_is_refused(tmp_path, capsys):
    (tmp_path / "pedestrian.ply").write_text(CLOUD)
    code = main(["fit-sdf", str(tmp_path / "pedestrian.ply"), "--out", str(tmp_path), *TINY])
    assert code == 2
    assert "point cloud" in capsys.readouterr().err


def test_bad_inputs_exit_2_without_a_run_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "runs"
    assert main(["fit-sdf", str(tmp_path / "empty"), "--out", str(out), *TINY]) == 2
    assert "no mesh file" in capsys.readouterr().err
    assert main(["fit-sdf", str(tmp_path / "missing.obj"), "--out", str(out), *TINY]) == 2
    assert "no such file" in capsys.readouterr().err
    ball = _sphere_file(tmp_path / "ball.obj")
    assert main(["fit-sdf", str(ball), "--out", str(out), *TINY, "--near-fraction", "2"]) == 2
    assert "--near-fraction" in capsys.readouterr().err
    assert main(["fit-sdf", str(ball), "--out", str(out), *TINY, "--eval-points", "5"]) == 2
    assert "--eval-points" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit):  # argparse: unknown model
        main(["fit-sdf", str(ball), "--model", "nerf"])


def test_resume_keeps_finished_objects_and_checks_flags(tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    _sphere_file(d / "a.obj")
    out = tmp_path / "runs"
    args = ["fit-sdf", str(d), "--out", str(out), "--name", "r", *TINY]
    assert main(args) == 0
    first = json.loads((out / "r" / "report.json").read_text())["objects"][0]
    _sphere_file(d / "b.obj", shift=1.0)
    assert main([*args, "--resume"]) == 0
    rows = json.loads((out / "r" / "report.json").read_text())["objects"]
    assert [r["object"] for r in rows] == ["a", "b"]
    assert rows[0]["f1_near"] == first["f1_near"] and rows[0]["fit_s"] == first["fit_s"]
    capsys.readouterr()
    assert main([*args, "--resume", "--model", "siren"]) == 2
    assert "contradicts" in capsys.readouterr().err


def test_joint_deepsdf_two_shapes(tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    _sphere_file(d / "a.obj")
    _sphere_file(d / "b.obj", level=2, shift=2.0)
    out = tmp_path / "runs"
    code = main(
        ["fit-sdf", str(d), "--out", str(out), "--name", "j", "--model", "deepsdf", "--joint"]
        + [*TINY, "--latent-dim", "8"]
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "j" / "report.json").read_text())
    assert [r["status"] for r in report["objects"]] == ["ok", "ok"]
    na = load_sdf(out / "j" / "a" / "sdf.pt")
    nb = load_sdf(out / "j" / "b" / "sdf.pt")
    x = torch.rand(10, 3) - 0.5
    assert na(x).shape == (10, 1)
    # one shared decoder, one code per shape
    torch.testing.assert_close(na.decoder.out.weight, nb.decoder.out.weight)
    assert not torch.equal(na.code, nb.code)
    assert main(["fit-sdf", str(d), "--out", str(out), "--joint", *TINY]) == 2
    assert "deepsdf" in capsys.readouterr().err
