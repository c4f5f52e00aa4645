"""`inverse3d train-giraffe`: a 2-step run writes its folder; bad flags exit 2."""

import json

import torch
from PIL import Image

from inverse3d.cli import main

TINY = ["--steps", "2", "--n-train", "8", "--batch-size", "4", "--image-size", "16",
        "--feature-size", "8", "--hidden", "16", "--n-samples", "6", "--eval-samples", "10"]  # fmt: skip


def test_two_step_run_writes_outputs(tmp_path, capsys):
    assert main(["train-giraffe", "--out", str(tmp_path), "--name", "g", *TINY]) == 0
    run = tmp_path / "g"
    for f in ("model.pt", "report.json", "samples.png", "interpolation.png", "loss.png"):
        assert (run / f).is_file(), f
    rep = json.loads((run / "report.json").read_text())
    assert rep["command"] == "train-giraffe" and rep["settings"]["steps"] == 2
    for k in ("translation_corr_x", "translation_corr_y", "appearance_iou", "rotation_width_corr"):
        assert k in rep["metrics"] and k in rep["metric_definitions"]
    assert Image.open(run / "samples.png").size == (8 * 18, 8 * 18)
    assert Image.open(run / "interpolation.png").size == (8 * 18, 5 * 18)
    payload = torch.load(run / "model.pt", weights_only=True)
    assert payload["format"] == "inverse3d-giraffe-1" and "generator" in payload
    assert "appearance IoU" in capsys.readouterr().out


def test_bad_flags_exit_2(tmp_path, capsys):
    out = str(tmp_path / "runs")
    assert main(["train-giraffe", "--out", out, *TINY, "--kinds", "torus"]) == 2
    assert "--kinds" in capsys.readouterr().err
    assert main(["train-giraffe", "--out", out, *TINY, "--scale-min", "1.0",
                 "--scale-max", "0.5"]) == 2  # fmt: skip
    assert main(["train-giraffe", "--out", out, *TINY, "--feature-size", "32"]) == 2
    assert not (tmp_path / "runs").exists()


def test_two_objects_run_reports_each_object(tmp_path):
    args = ["train-giraffe", "--out", str(tmp_path), "--name", "g2", *TINY, "--n-objects", "2"]
    assert main(args) == 0
    rep = json.loads((tmp_path / "g2" / "report.json").read_text())
    assert rep["settings"]["n_objects"] == 2
    for k in ("translation_corr_x_object1", "translation_corr_y_object1", "rotation_iou"):
        assert k in rep["metrics"], k
