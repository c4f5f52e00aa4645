"""make-scene --rig rings: two rings of 30 views over half a turn, the unit sphere in frame, a white
Lambertian object under one point light, optional 16-bit PNGs scaled by the maximum brightness."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from inverse3d.cli import main
from inverse3d.datasets.folder import load_folder_scene
from inverse3d.datasets.synthetic import make_rings_scene, mug_mesh, rings_camera_angles
from inverse3d.io.image_io import read_image_array
from inverse3d.utils.ico_sphere import ico_sphere


def run_cli(args, capsys):
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_angles():
    elev, azim = rings_camera_angles()
    assert len(elev) == 60 and sorted(set(elev)) == [10.0, 40.0]
    assert min(azim) == 0.0 and max(azim) < 180.0 and len(set(azim)) == 30


def test_unit_sphere_in_frame_and_lambertian():
    scene = make_rings_scene(ico_sphere(2), image_size=16)
    pts = ico_sphere(3).verts_packed()  # the unit sphere
    ndc = scene.cameras.transform_points_ndc(pts[None].expand(len(scene), -1, -1))
    assert ndc[..., :2].abs().max() < 1.0
    assert scene.background() == (0.0, 0.0, 0.0)
    # white sphere: grey levels only, brightest facing the light, ambient 0.2 on the dark side
    img = scene.images[scene.masks > 0.99]
    assert torch.allclose(img[:, 0], img[:, 1]) and torch.allclose(img[:, 1], img[:, 2])
    assert img.max() > 0.9 and 0.15 < img.min() < 0.3
    assert len(scene.test_idx) == 7 and len(scene.train_idx) == 53


def test_cli_png16(tmp_path, capsys):
    src = tmp_path / "sphere.obj"
    sphere = ico_sphere(2)
    with open(src, "w") as fh:
        for v in sphere.verts_packed().tolist():
            fh.write("v {} {} {}\n".format(*v))
        for f in (sphere.faces_packed() + 1).tolist():
            fh.write("f {} {} {}\n".format(*f))
    out = tmp_path / "rings"
    code, text, err = run_cli(
        ["make-scene", out, "--mesh", src, "--rig", "rings", "--png16", "--image-size", "16"],
        capsys,
    )
    assert code == 0, err
    meta = json.loads((out / "cameras.json").read_text())
    assert meta["image_bit_depth"] == 16 and meta["brightness_scale"] >= 1.0
    arr = read_image_array(out / "images" / "000.png")
    assert arr.dtype == np.uint16 and arr.max() <= 65535
    scene = load_folder_scene(out)
    assert len(scene) == 60
    assert scene.images.max() == pytest.approx(1.0)  # scaled by the maximum brightness
    # 16 bits survive the round trip: far more distinct levels than 8 bits could hold
    vals = torch.unique(scene.images[scene.masks > 0.99])
    assert (vals * 65535 - (vals * 65535).round()).abs().max() < 1e-2
    assert ((vals * 255) - (vals * 255).round()).abs().max() > 0.01


def test_cli_errors(tmp_path, capsys):
    code, _, err = run_cli(
        ["make-scene", tmp_path / "x", "--mesh", "m.obj", "--rig", "builtin"], capsys
    )
    assert code == 2 and "--rig rings" in err


def test_builtin_mug_with_rings_rig():
    scene = make_rings_scene(mug_mesh(0), image_size=16)
    assert scene.gt_mesh.verts_packed().norm(dim=1).max() == pytest.approx(0.9, abs=1e-5)
