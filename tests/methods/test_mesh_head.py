"""methods.mesh_head (training, losses, evaluation), `inverse3d train-mesh-head` and
`inverse3d predict-mesh IMAGE --checkpoint C`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from inverse3d.cli import main
from inverse3d.datasets.procedural_shapes import make_shape_samples
from inverse3d.eval.mesh_rcnn_metrics import evaluate_mesh_head
from inverse3d.methods.mesh_head import (
    MeshHeadConfig,
    build_model,
    mesh_head_losses,
    train_mesh_head,
)

TINY = dict(
    grid=12, image_size=32, kinds="box,cylinder,torus", hidden=32, width=16,
    n_points=300, eval_samples=1000, batch_size=8, lr=3e-3,
)  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    # these tests are compute-bound; on a shared CPU two threads are slower than one
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _data(cfg: MeshHeadConfig, n: int, seed: int):
    return make_shape_samples(n, seed, cfg.image_size, cfg.grid, cfg.n_points, cfg.kind_tuple())


def test_losses_are_finite_and_reach_every_term():
    cfg = MeshHeadConfig(**TINY)
    data = _data(cfg, 2, 0)
    model = build_model(cfg)
    terms = mesh_head_losses(model(data.images), data, cfg)
    assert set(terms) == {"voxel", "chamfer", "normal", "edge", "loss"}
    assert all(torch.isfinite(v) and float(v) >= 0 for v in (t.detach() for t in terms.values()))
    w = (cfg.voxel_weight, cfg.chamfer_weight, cfg.normal_weight, cfg.edge_weight)
    total = sum(a * terms[k] for a, k in zip(w, ("voxel", "chamfer", "normal", "edge")))
    torch.testing.assert_close(terms["loss"], total)
    bad = MeshHeadConfig(**{**TINY, "grid": 8})
    with pytest.raises(ValueError, match="voxel grid mismatch"):
        mesh_head_losses(build_model(bad)(data.images), data, cfg)
    with pytest.raises(ValueError, match="kinds"):
        make_shape_samples(
            1, 0, cfg.image_size, cfg.grid, 10, MeshHeadConfig(kinds="box,sphere").kind_tuple()
        )
    with pytest.raises(ValueError, match="kinds"):
        MeshHeadConfig(kinds=" , ").kind_tuple()
    with pytest.raises(TypeError, match="train_data"):
        train_mesh_head(cfg)


def test_smoke_two_steps():
    cfg = MeshHeadConfig(**{**TINY, "steps": 2})
    model, history = train_mesh_head(cfg, train_data=_data(cfg, 4, 0))
    assert len(history) == 2 and all(torch.isfinite(torch.tensor(h["loss"])) for h in history)
    assert not model.training


def test_quality_floor_beats_untrained_on_held_out():
    cfg = MeshHeadConfig(**{**TINY, "steps": 40})
    train, test = _data(cfg, 32, 0), _data(cfg, 8, 1)
    torch.manual_seed(0)
    before = evaluate_mesh_head(build_model(cfg), test, cfg.eval_samples)
    model, history = train_mesh_head(cfg, train_data=train, seed=0)
    after = evaluate_mesh_head(model, test, cfg.eval_samples)
    # measured: chamfer 33.6 -> 1.74, voxel IoU 0.06 -> 0.42, F1@0.5 0.05 -> 0.36
    assert after["chamfer"] < 0.25 * before["chamfer"]
    assert after["voxel_iou"] > 0.25 and after["voxel_iou"] > 3 * before["voxel_iou"]
    assert after["f1@0.5"] > 2 * before["f1@0.5"] + 0.1
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]


def test_cli_train_and_predict(tmp_path, capsys):
    argv = ["train-mesh-head", "--out", str(tmp_path), "--name", "m", "--steps", "2",
            "--n-train", "4", "--n-test", "2", "--grid", "8", "--image-size", "32",
            "--kinds", "box,torus", "--n-points", "100", "--eval-samples", "200",
            "--examples", "1"]  # fmt: skip
    assert main(argv) == 0
    run = tmp_path / "m"
    for name in ("model.pt", "report.json", "history.json", "loss.png", "examples/00_pred.obj",
                 "examples/00_cubified.obj"):  # fmt: skip
        assert (run / name).is_file(), name
    report = json.loads((run / "report.json").read_text())
    keys = {"chamfer", "normal_consistency", "f1@0.1", "f1@0.3", "f1@0.5", "voxel_iou"}
    # the refined meshes and the voxel branch alone, on the same held-out samples
    assert keys <= set(report["metrics"]) and keys <= set(report["metrics_voxel_only"])
    gain = report["refinement_gain"]["f1@0.3"]
    assert gain == pytest.approx(
        report["metrics"]["f1@0.3"] - report["metrics_voxel_only"]["f1@0.3"]
    )
    assert report["metrics_voxel_only"]["voxel_iou"] == report["metrics"]["voxel_iou"]
    assert report["settings"]["grid"] == 8
    payload = torch.load(run / "model.pt", weights_only=True)
    assert payload["config"]["grid"] == 8
    image = run / "examples" / "00_image.png"
    argv = ["predict-mesh", str(image), "--checkpoint", str(run / "model.pt"),
            "--out", str(tmp_path), "--name", "p", "--format", "ply"]  # fmt: skip
    assert main(argv) == 0
    assert (tmp_path / "p" / "mesh.ply").is_file()
    overlay = np.asarray(Image.open(tmp_path / "p" / "overlay.png"))
    assert overlay.shape == (256, 256, 3)
    src = np.asarray(Image.open(image).convert("RGB").resize((256, 256)))
    assert np.abs(overlay.astype(int) - src.astype(int)).max() > 30  # the mesh is drawn on it
    rep = json.loads((tmp_path / "p" / "report.json").read_text())
    assert rep["metrics"]["faces"] > 0 and rep["overlay"] == "overlay.png"
    # a file that is not a model: exit code 2, one line naming it
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    capsys.readouterr()
    argv[3] = str(tmp_path / "bad.pt")
    argv[-3] = "p2"
    assert main(argv) == 2
    assert "bad.pt" in capsys.readouterr().err
    # a model file whose config has a value out of range: exit code 2 naming the key
    payload["config"]["grid"] = -3
    torch.save(payload, tmp_path / "bad_cfg.pt")
    argv[3] = str(tmp_path / "bad_cfg.pt")
    argv[-3] = "p3"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "bad_cfg.pt" in err and "grid" in err


@pytest.mark.parametrize(
    "flags, word",
    [(["--kinds", "box,sphere"], "--kinds"), (["--image-size", "36"], "--image-size")],
)
def test_cli_train_bad_flags_exit_2(tmp_path, capsys, flags, word):
    argv = ["train-mesh-head", "--out", str(tmp_path), "--steps", "1", *flags]
    assert main(argv) == 2
    assert word in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before any run folder is made


@pytest.mark.parametrize(
    "argv, word",
    [
        (["train-mesh-head", "--steps", "zero"], "--steps"),
        (["train-mesh-head", "--no-such-flag"], "--no-such-flag"),
        (["predict-mesh", "img.png"], "--checkpoint"),
        (["predict-mesh", "--checkpoint", "m.pt"], "image"),
        (["predict-mesh", "img.png", "--checkpoint", "m.pt", "--format", "stl"], "--format"),
    ],
)
def test_cli_argparse_errors_exit_2(tmp_path, capsys, argv, word):
    try:
        code = main(argv + ["--out", str(tmp_path)])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    assert code == 2
    assert word in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_cli_help(capsys):
    for verb in ("train-mesh-head", "predict-mesh"):
        with pytest.raises(SystemExit) as e:
            main([verb, "--help"])
        assert e.value.code == 0
        text = capsys.readouterr().out
        assert "--checkpoint" in text if verb == "predict-mesh" else "--n-train" in text
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    # every verb has its one-line summary on the verb's own line
    for verb in ("train-mesh-head", "predict-mesh", "train-giraffe", "train-synsin"):
        line = next(x for x in text.splitlines() if x.strip().startswith(verb + " "))
        assert len(line.split()) > 3, line
