"""The `inverse3d` command line: help texts, bad input (exit 2, one line), --overwrite, --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from inverse3d.cli import main

SUBCOMMANDS = ["reconstruct", "make-scene", "evaluate", "render", "fit-mesh", "pose"]
FAST = [
    "--method",
    "mesh",
    "--steps",
    "2",
    "--hull-resolution",
    "16",
    "--image-size",
    "24",
    "--eval-samples",
    "500",
    "--quiet",
    "--device",
    "cpu",
]


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory):
    from inverse3d.datasets.folder import write_folder_scene
    from inverse3d.datasets.synthetic import make_synthetic_scene

    out = tmp_path_factory.mktemp("scene") / "tiny"
    write_folder_scene(make_synthetic_scene(n_views=4, n_test=2, image_size=24), out)
    return out


def copy_scene(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def run_cli(args, capsys) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


class TestHelp:
    @pytest.mark.parametrize("cmd", SUBCOMMANDS)
    def test_help_has_example(self, cmd, capsys):
        code, out, _ = run_cli([cmd, "--help"], capsys)
        assert code == 0
        assert "examples:" in out and f"inverse3d {cmd}" in out

    def test_top_level_help(self, capsys):
        code, out, _ = run_cli([], capsys)
        assert code == 0 and "reconstruct" in out and "example" in out


class TestBadInput:
    def test_missing_path(self, tmp_path, capsys):
        missing = tmp_path / "nope"
        code, _, err = run_cli(["reconstruct", "--data", missing, "--out", tmp_path], capsys)
        assert_one_line_error(code, err, str(missing))

    def test_unknown_method(self, scene_dir, tmp_path, capsys):
        code, _, err = run_cli(
            ["reconstruct", "--data", scene_dir, "--method", "magic", "--out", tmp_path], capsys
        )
        assert_one_line_error(code, err, "magic")

    def test_images_of_different_sizes(self, scene_dir, tmp_path, capsys):
        from PIL import Image

        d = copy_scene(scene_dir, tmp_path / "s")
        img = sorted((d / "images").iterdir())[1]
        Image.open(img).resize((30, 30)).save(img)
        code, _, err = run_cli(["reconstruct", "--data", d, "--out", tmp_path / "o", *FAST], capsys)
        assert_one_line_error(code, err, img.name)

    def test_unreadable_image(self, scene_dir, tmp_path, capsys):
        d = copy_scene(scene_dir, tmp_path / "s")
        img = sorted((d / "images").iterdir())[0]
        img.write_bytes(b"this is not a png")
        code, _, err = run_cli(["reconstruct", "--data", d, "--out", tmp_path / "o", *FAST], capsys)
        assert_one_line_error(code, err, img.name)

    def test_mask_of_wrong_size(self, scene_dir, tmp_path, capsys):
        from PIL import Image

        d = copy_scene(scene_dir, tmp_path / "s")
        mask = sorted((d / "masks").iterdir())[0]
        Image.open(mask).resize((10, 12)).save(mask)
        code, _, err = run_cli(["reconstruct", "--data", d, "--out", tmp_path / "o", *FAST], capsys)
        assert_one_line_error(code, err, mask.name)

    def _edit_cameras(self, d: Path, fn) -> Path:
        path = d / "cameras.json"
        cams = json.loads(path.read_text())
        fn(cams)
        path.write_text(json.dumps(cams))
        return path

    def test_camera_missing_for_an_image(self, scene_dir, tmp_path, capsys):
        d = copy_scene(scene_dir, tmp_path / "s")
        self._edit_cameras(d, lambda c: c["cameras"].pop(0))
        code, _, err = run_cli(["reconstruct", "--data", d, "--out", tmp_path / "o", *FAST], capsys)
        assert_one_line_error(code, err, "cameras.json")

    def test_nan_in_cameras(self, scene_dir, tmp_path, capsys):
        d = copy_scene(scene_dir, tmp_path / "s")
        path = d / "cameras.json"
        text = path.read_text()
        cams = json.loads(text)
        cams["cameras"][1]["t"][0] = "NaN"
        path.write_text(json.dumps(cams).replace('"NaN"', "NaN"))
        code, _, err = run_cli(["reconstruct", "--data", d, "--out", tmp_path / "o", *FAST], capsys)
        assert_one_line_error(code, err, "cameras.json")

    def test_debug_shows_traceback(self, tmp_path):
        missing = tmp_path / "nope"
        with pytest.raises(FileNotFoundError):
            main(["reconstruct", "--data", str(missing), "--debug"])

    def test_other_commands(self, tmp_path, capsys):
        missing = tmp_path / "none.obj"
        for args in (
            ["evaluate", missing, missing],
            ["render", missing],
            ["fit-mesh", tmp_path / "p.ply"],
            ["pose", missing, tmp_path / "i.png"],
        ):
            code, _, err = run_cli(args, capsys)
            assert_one_line_error(code, err, str(args[1]))

    def test_bad_config_key(self, tmp_path, capsys):
        cfg = tmp_path / "c.yaml"
        cfg.write_text("steps: 2\nwarp_speed: 9\n")
        code, _, err = run_cli(["reconstruct", "--config", cfg, "--out", tmp_path], capsys)
        assert_one_line_error(code, err, "warp_speed", str(cfg))


class TestExitCodes:
    def test_resume_with_contradicting_flag(self, scene_dir, tmp_path, capsys):
        args = ["reconstruct", "--data", scene_dir, "--out", tmp_path, *FAST]
        code, _, err = run_cli(args, capsys)
        assert code == 0, err
        code, _, err = run_cli([*args, "--resume", "--lr", "0.5"], capsys)
        assert_one_line_error(code, err, "--lr", "0.5", "0.0001", "config.yaml")
        code, _, err = run_cli([*args, "--resume", "--method", "volume"], capsys)
        assert code == 2 and "no run to resume" in err  # tiny-volume does not exist

    def test_resume_uses_saved_config(self, scene_dir, tmp_path, capsys):
        args = ["reconstruct", "--data", scene_dir, "--out", tmp_path, *FAST]
        code, _, err = run_cli([*args, "--lr", "0.003"], capsys)
        assert code == 0, err
        # --resume without the flags: the saved lr (not the default) is the run's.
        code, _, err = run_cli(
            ["reconstruct", "--out", tmp_path, "--name", "tiny-mesh", "--resume", "--quiet"], capsys
        )
        assert code == 0, err
        report = json.loads((tmp_path / "tiny-mesh" / "report.json").read_text())
        assert report["settings"]["lr"] == 0.003

    def test_bug_inside_a_method_exits_1(self, scene_dir, tmp_path, capsys, monkeypatch):
        from inverse3d.methods import REGISTRY
        from inverse3d.methods.base import Method

        def broken_fit(config, scene, loop):
            raise RuntimeError("an internal bug")

        m = REGISTRY["mesh"]
        monkeypatch.setitem(REGISTRY, "mesh", Method("mesh", m.config_cls, broken_fit))
        code, _, err = run_cli(
            ["reconstruct", "--data", scene_dir, "--out", tmp_path, *FAST], capsys
        )
        assert code == 1
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "internal error" in lines[0] and "an internal bug" in lines[0]
        log = tmp_path / "tiny-mesh" / "error.log"
        assert log.is_file() and "broken_fit" in log.read_text()

    @pytest.mark.parametrize("name", ["..", ".", "a/b", "../x", ""])
    def test_bad_run_names(self, name, tmp_path, capsys):
        (tmp_path / "keep.txt").write_text("keep")
        code, _, err = run_cli(
            ["reconstruct", "--out", tmp_path / "runs", "--name", name, "--overwrite", *FAST],
            capsys,
        )
        assert_one_line_error(code, err, "--name")
        assert (tmp_path / "keep.txt").read_text() == "keep"

    def test_overwrite_never_deletes_a_foreign_folder(self, tmp_path, capsys):
        foreign = tmp_path / "runs" / "mine"
        foreign.mkdir(parents=True)
        (foreign / "thesis.tex").write_text("precious")
        code, _, err = run_cli(
            ["reconstruct", "--out", tmp_path / "runs", "--name", "mine", "--overwrite", *FAST],
            capsys,
        )
        assert_one_line_error(code, err, "not an inverse3d run folder")
        assert (foreign / "thesis.tex").read_text() == "precious"

    @pytest.mark.parametrize(
        "text, needles",
        [
            ("steps: many\n", ["steps", "integer"]),
            ("settings:\n  lr: fast\n", ["lr", "number"]),
            ("settings:\n  lr: 30.0\n", ["lr", "<= 1.0"]),
            ("settings:\n  w_rgb: -1\n", ["w_rgb", ">= 0.0"]),
            ("method: [1, 2\n", ["not valid YAML"]),
        ],
    )
    def test_bad_config_values(self, text, needles, tmp_path, capsys):
        cfg = tmp_path / "c.yaml"
        cfg.write_text(text)
        code, _, err = run_cli(["reconstruct", "--config", cfg, "--out", tmp_path], capsys)
        assert_one_line_error(code, err, str(cfg), *needles)

    def test_non_utf8_config(self, tmp_path, capsys):
        cfg = tmp_path / "c.yaml"
        cfg.write_bytes(b"steps: 2\n# \xff\xfe\n")
        code, _, err = run_cli(["reconstruct", "--config", cfg, "--out", tmp_path], capsys)
        assert_one_line_error(code, err, str(cfg), "UTF-8")

    def test_flag_out_of_range(self, tmp_path, capsys):
        code, _, err = run_cli(["reconstruct", "--out", tmp_path, "--lr", "1e30", *FAST], capsys)
        assert_one_line_error(code, err, "--lr", "<= 1.0")


class TestOutputs:
    def test_overwrite_protection(self, scene_dir, tmp_path, capsys):
        args = ["reconstruct", "--data", scene_dir, "--out", tmp_path, *FAST]
        code, out, err = run_cli(args, capsys)
        assert code == 0, err
        run_dir = tmp_path / "tiny-mesh"
        report = json.loads((run_dir / "report.json").read_text())
        assert report["method"] == "mesh" and report["steps"] == 2
        marker = run_dir / "marker.txt"
        marker.write_text("keep me")
        code, _, err = run_cli(args, capsys)
        assert_one_line_error(code, err, "--overwrite")
        assert marker.read_text() == "keep me"
        code, _, err = run_cli([*args, "--overwrite"], capsys)
        assert code == 0 and not marker.exists()

    def test_config_file_round_trip(self, scene_dir, tmp_path, capsys):
        code, _, _ = run_cli(["reconstruct", "--data", scene_dir, "--out", tmp_path, *FAST], capsys)
        assert code == 0
        cfg = tmp_path / "tiny-mesh" / "config.yaml"
        code, _, err = run_cli(
            ["reconstruct", "--config", cfg, "--out", tmp_path, "--name", "again", "--quiet"],
            capsys,
        )
        assert code == 0, err
        a = (tmp_path / "tiny-mesh" / "config.yaml").read_text()
        b = (tmp_path / "again" / "config.yaml").read_text()
        assert a == b

    def test_make_scene_then_evaluate(self, tmp_path, capsys):
        out = tmp_path / "mug"
        code, _, err = run_cli(
            ["make-scene", out, "--views", "2", "--test-views", "1", "--image-size", "16"], capsys
        )
        assert code == 0, err
        assert (out / "cameras.json").is_file()
        gt = next(p for p in out.iterdir() if p.name.startswith("gt_mesh"))
        code, out_text, err = run_cli(["evaluate", gt, gt, "--samples", "20000", "--json"], capsys)
        assert code == 0, err
        res = json.loads(out_text)
        assert res["chamfer_l1"] < 0.012 and res["f_score"] > 0.5  # sampling noise only

    def test_scene_in_its_own_frame(self, tmp_path, capsys):
        # The capture of the mug in a frame x_world = 3 x_unit + (2, -1, 4), written without the
        # unit_frame flag: reconstruct finds the object, and writes the mesh in that frame.
        from inverse3d.datasets.folder import write_folder_scene
        from inverse3d.datasets.normalize import _apply
        from inverse3d.datasets.synthetic import make_synthetic_scene
        from inverse3d.io.ply_io import load_ply

        unit = make_synthetic_scene(n_views=12, n_test=2, image_size=48)
        unit.extra["unit_frame"] = False
        c = np.array([2.0, -1.0, 4.0])
        world = _apply(unit, (-c / 3.0).tolist(), 1.0 / 3.0)
        write_folder_scene(world, tmp_path / "shifted")
        args = ["reconstruct", "--data", tmp_path / "shifted", "--out", tmp_path, *FAST]
        args[args.index("--hull-resolution") + 1] = "48"
        args[args.index("--eval-samples") + 1] = "20000"
        code, out, err = run_cli(args, capsys)
        assert code == 0, err
        assert "object frame" in out
        report = json.loads((tmp_path / "shifted-mesh" / "report.json").read_text())
        # As good as the same capture in the unit frame (the hull's cells are a little larger).
        unit.extra["unit_frame"] = True
        write_folder_scene(unit, tmp_path / "unit")
        code, _, err = run_cli([*args[:2], tmp_path / "unit", *args[3:]], capsys)
        assert code == 0, err
        ref = json.loads((tmp_path / "unit-mesh" / "report.json").read_text())
        got = report["metrics"]["chamfer_l1"]
        assert got < 1.5 * ref["metrics"]["chamfer_l1"] + 0.005, (got, ref["metrics"])
        # The written mesh is in the data's frame: against the world-frame ground truth it scores
        # what the report (computed in the unit frame) says.
        from inverse3d.eval.metrics import evaluate_meshes
        from inverse3d.structures.meshes import Meshes

        verts, faces = load_ply(tmp_path / "shifted-mesh" / "mesh.ply")
        res = evaluate_meshes(Meshes([verts], [faces]), world.gt_mesh, n_samples=20000)
        assert float(res["chamfer_l1"]) == pytest.approx(got, rel=0.15, abs=2e-3)
        # --no-normalize: the unit cube at the origin misses the object entirely.
        code, _, err = run_cli(args + ["--no-normalize", "--name", "raw"], capsys)
        assert code == 0, err
        raw = json.loads((tmp_path / "raw" / "report.json").read_text())
        assert raw["metrics"]["chamfer_l1"] is None or raw["metrics"]["chamfer_l1"] > 0.2


def _env():
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


class TestResume:
    def test_sigkill_then_resume(self, scene_dir, tmp_path):
        steps = 60
        args = [
            sys.executable,
            "-m",
            "inverse3d",
            "reconstruct",
            "--data",
            str(scene_dir),
            "--method",
            "mesh",
            "--steps",
            str(steps),
            "--checkpoint-every",
            "5",
            "--hull-resolution",
            "16",
            "--image-size",
            "24",
            "--eval-samples",
            "2000",
            "--quiet",
            "--device",
            "cpu",
            "--lr",
            "0.002",
        ]
        ckpt = tmp_path / "a" / "tiny-mesh" / "checkpoints" / "last.pt"
        proc = subprocess.Popen(
            [*args, "--out", str(tmp_path / "a")],
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 300
        while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert ckpt.exists(), "no checkpoint before the kill"
        assert not (ckpt.parents[1] / "report.json").exists(), "run finished before the kill"

        killed_at = torch.load(ckpt, weights_only=False)["step"]
        assert 0 < killed_at < steps
        done = subprocess.run(
            [*args, "--out", str(tmp_path / "a"), "--resume"],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        resumed = json.loads((ckpt.parents[1] / "report.json").read_text())
        assert resumed["steps"] == steps  # history of the first run + the rest
        assert torch.load(ckpt, weights_only=False)["step"] == steps
        full = subprocess.run(
            [*args, "--out", str(tmp_path / "b")],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert full.returncode == 0, full.stderr
        ref = json.loads((tmp_path / "b" / "tiny-mesh" / "report.json").read_text())
        for k, tol in (("psnr", 0.5), ("mask_iou", 0.02), ("chamfer_l1", 0.005)):
            assert abs(resumed["metrics"][k] - ref["metrics"][k]) < tol, k
        assert np.isfinite(resumed["metrics"]["f_score"])


class TestBadDataFiles:
    def test_object_and_empty_depth_files(self, scene_dir, tmp_path, capsys):
        for k, arr in enumerate([np.array([object()], dtype=object), np.zeros((0,), np.float32)]):
            d = copy_scene(scene_dir, tmp_path / f"s{k}")
            dep = sorted((d / "depths").iterdir())[0]
            np.save(dep, arr, allow_pickle=True)
            code, _, err = run_cli(
                ["reconstruct", "--data", d, "--out", tmp_path / f"o{k}", *FAST], capsys
            )
            assert_one_line_error(code, err, dep.name)

    def test_transform_matrix_with_a_string(self, tmp_path, capsys):
        from PIL import Image

        d = tmp_path / "blender"
        (d / "train").mkdir(parents=True)
        frames = []
        for i in range(3):
            Image.new("RGBA", (8, 8), (255, 0, 0, 255)).save(d / "train" / f"r_{i}.png")
            m = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 4.0], [0, 0, 0, 1]]
            frames.append({"file_path": f"./train/r_{i}", "transform_matrix": m})
        frames[1]["transform_matrix"][0][3] = "oops"
        (d / "transforms_train.json").write_text(
            json.dumps({"camera_angle_x": 0.7, "frames": frames})
        )
        code, _, err = run_cli(["reconstruct", "--data", d, "--out", tmp_path / "o", *FAST], capsys)
        assert_one_line_error(code, err, "transforms_train.json", "transform_matrix")
