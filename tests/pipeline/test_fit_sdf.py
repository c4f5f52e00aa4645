import csv
import json

import pytest
import torch

from inverse3d.common.errors import InputError
from inverse3d.io import IO
from inverse3d.methods.fit_sdf import FitSdfConfig
from inverse3d.models.sdf import load_sdf
from inverse3d.pipeline.fit_sdf import run_fit_sdf
from inverse3d.utils import ico_sphere

TINY = FitSdfConfig(steps=2, batch_size=64, pool_size=256, width=16)
FAST = {"eval_points": 500, "mc_resolution": 16, "progress": False}


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    IO().save_mesh(ico_sphere(1), d / "ball.obj")
    (d / "cloud.ply").write_text(
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        "property float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n"
    )
    (d / "nan.obj").write_text("v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n")
    (d / "broken.off").write_text("OFF\n3 1 0\n0 0\n")
    (d / "notes.txt").write_text("not a mesh")
    return d


def test_folder_with_bad_files(folder, tmp_path):
    out = tmp_path / "out"
    report = run_fit_sdf([folder], out, TINY, **FAST)
    status = {r["object"]: r["status"] for r in report["objects"]}
    assert status == {"ball": "ok", "broken": "failed", "cloud": "failed", "nan": "failed"}
    errors = {r["object"]: r.get("error", "") for r in report["objects"]}
    assert "point cloud" in errors["cloud"] and "NaN" in errors["nan"]
    assert sorted(p.name for p in out.iterdir()) == [
        "ball",
        "report.html",
        "report.json",
        "results.csv",
    ]
    for name in ("mesh.ply", "sdf.pt", "sdf.pt.json", "slice.png", "metrics.json"):
        assert (out / "ball" / name).is_file()
    net = load_sdf(out / "ball" / "sdf.pt")
    assert net(torch.zeros(2, 3)).shape == (2, 1)
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["object"] for r in rows] == ["ball", "broken", "cloud", "nan", "average"]
    assert json.loads((out / "report.json").read_text())["average"]["status"] == "1/4 ok"
    assert "data:image/png;base64," in (out / "report.html").read_text()
    # resume keeps the finished object and does not fit it again
    again = run_fit_sdf([folder], out, TINY, resume=True, **FAST)
    assert again["objects"][0]["f1_near"] == report["objects"][0]["f1_near"]


def test_bad_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no mesh file"):
        run_fit_sdf([tmp_path / "empty"], tmp_path / "out", TINY, **FAST)
    with pytest.raises(InputError, match="no such file"):
        run_fit_sdf([tmp_path / "missing.obj"], tmp_path / "out", TINY, **FAST)
    with pytest.raises(TypeError, match="FitSdfConfig"):
        run_fit_sdf([tmp_path], tmp_path / "out", {"steps": 2}, **FAST)
