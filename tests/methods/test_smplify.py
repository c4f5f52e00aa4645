"""SMPLify fitting (methods/smplify.py) and `inverse3d fit-body` on the synthetic body."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from inverse3d.methods.smplify import (
    SMPLifyConfig,
    body_errors,
    fit_body,
    initial_translation,
    project_points,
)
from inverse3d.models.smpl import BodyModel
from inverse3d.models.synthetic_body import make_keypoint_cases, make_synthetic_body
from inverse3d.transforms.rotation_conversions import axis_angle_to_matrix


@pytest.fixture(scope="module")
def model():
    return BodyModel(make_synthetic_body())


def _cases(model, n, noise=0.0, pose_scale=0.3, seed=0):
    return make_keypoint_cases(
        model, n, torch.Generator().manual_seed(seed), noise_px=noise, pose_scale=pose_scale
    )


class TestProjectAndInit:
    def test_project_analytic(self):
        p = torch.tensor([[[1.0, -2.0, 4.0]]])
        got = project_points(p, torch.tensor([100.0]), torch.tensor([[10.0, 20.0]]))
        torch.testing.assert_close(got, torch.tensor([[[35.0, -30.0]]]))

    def test_initial_translation_recovers_depth(self, model):
        """Rest pose, mean shape, facing the camera: the torso init gives the true translation."""
        rot = axis_angle_to_matrix(torch.tensor([[math.pi, 0.0, 0.0]]))
        pose = torch.zeros(1, 24, 3)
        pose[0, 0] = torch.tensor([math.pi, 0.0, 0.0])
        t = torch.tensor([[0.3, -0.2, 5.0]])
        J = model(None, pose, t).joints
        kp = project_points(J, torch.tensor([1000.0]), torch.tensor([[256.0, 256.0]]))
        got = initial_translation(
            model, rot, kp, torch.tensor([1000.0]), torch.tensor([[256.0, 256.0]])
        )
        # similar triangles ignore the torso joints' depth spread: within 1% of the depth
        torch.testing.assert_close(got, t, atol=0.05, rtol=0)
        assert abs(float(got[0, 2]) - 5.0) < 0.05


class TestFitBody:
    def test_smoke_two_steps(self, model):
        c = _cases(model, 1)
        cfg = SMPLifyConfig(camera_steps=2, stage_steps=2)
        res = fit_body(model, c["keypoints"], torch.ones(1, 24), c["focal"], c["principal"], cfg)
        assert res.vertices.shape == (1, model.v_template.shape[0], 3)
        assert res.pose.shape == (1, 24, 3) and res.betas.shape == (1, 10)
        assert len(res.history) == 2 + 2 * len(cfg.pose_weights)
        assert bool(torch.isfinite(res.reprojection_error).all())

    def test_quality_floor(self, model):
        """Noise-free keypoints of mildly posed bodies: the fit reprojects to < 1.5 px and its
        3D joints beat the initial guess (rest pose, mean shape) by a wide margin."""
        n = 2
        c = _cases(model, n, noise=0.0, pose_scale=0.6)
        cfg = SMPLifyConfig(camera_steps=60, stage_steps=60)
        res = fit_body(model, c["keypoints"], torch.ones(n, 24), c["focal"], c["principal"], cfg)
        assert float(res.reprojection_error.max()) < 1.5
        err = body_errors(res.joints, c["joints"])
        rest = model(None, None).joints.expand(n, 24, 3)
        err0 = body_errors(rest, c["joints"])
        assert float(err["pa_mpjpe"].mean()) < 0.7 * float(err0["pa_mpjpe"].mean())
        assert float(err["mpjpe"].mean()) < 0.08  # metres; typical 0.03-0.06
        # facing direction found: the pelvis-to-head direction agrees with the truth
        up = res.joints[:, 15] - res.joints[:, 0]
        up_t = c["joints"][:, 15] - c["joints"][:, 0]
        assert bool((torch.nn.functional.cosine_similarity(up, up_t) > 0.9).all())

    def test_missing_keypoints_and_exceptions(self, model):
        c = _cases(model, 1)
        conf = torch.ones(1, 24)
        conf[0, 20:] = 0.0
        cfg = SMPLifyConfig(camera_steps=2, stage_steps=2)
        fit_body(model, c["keypoints"], conf, c["focal"], c["principal"], cfg)
        with pytest.raises(ValueError, match="keypoints"):
            fit_body(model, c["keypoints"][:, :20], conf, c["focal"], c["principal"], cfg)
        with pytest.raises(ValueError, match="confidence"):
            fit_body(model, c["keypoints"], -conf, c["focal"], c["principal"], cfg)
        with pytest.raises(ValueError, match="stages"):
            fit_body(
                model,
                c["keypoints"],
                conf,
                c["focal"],
                c["principal"],
                SMPLifyConfig(pose_weights=(1.0,), shape_weights=(1.0, 2.0)),
            )

    def test_penetration_term_runs(self, model):
        c = _cases(model, 1)
        cfg = SMPLifyConfig(camera_steps=2, stage_steps=2, penetration_weight=10.0)
        res = fit_body(model, c["keypoints"], torch.ones(1, 24), c["focal"], c["principal"], cfg)
        assert bool(torch.isfinite(res.vertices).all())


class TestBodyErrors:
    def test_invariances(self):
        g = torch.Generator().manual_seed(0)
        J = torch.randn(2, 24, 3, generator=g)
        R = axis_angle_to_matrix(torch.tensor([0.2, 0.5, -0.3]))
        moved = 1.3 * J @ R.T + torch.tensor([1.0, 2.0, 3.0])
        e = body_errors(moved, J)
        assert float(e["pa_mpjpe"].max()) < 1e-4
        e = body_errors(J + 5.0, J, J + 5.0, J)
        assert float(e["mpjpe"].max()) < 1e-6 and float(e["v2v"].max()) < 1e-6


class TestCli:
    def _write(self, tmp_path, model, truth=True):
        from inverse3d.models.synthetic_body import write_synthetic_body

        write_synthetic_body(tmp_path / "body.npz")
        c = _cases(model, 1, noise=2.0)
        # half the cases' resolution: 256 x 256, f = 500 px
        Image.fromarray(np.full((256, 256, 3), 180, np.uint8)).save(tmp_path / "img.png")
        kp = {
            "joint_names": list(model.joint_names),
            "keypoints": [[*(c["keypoints"][0, j] / 2).tolist(), 1.0] for j in range(24)],
            "focal_length": 500.0,
        }
        if truth:
            kp["truth"] = {k: c[k][0].tolist() for k in ("betas", "pose", "transl")}
        (tmp_path / "kp.json").write_text(json.dumps(kp))

    def test_cli_writes_run_folder(self, tmp_path, model, capsys):
        from inverse3d.cli import main

        self._write(tmp_path, model)
        argv = [
            "fit-body",
            str(tmp_path / "img.png"),
            str(tmp_path / "kp.json"),
            "--model",
            str(tmp_path / "body.npz"),
            "--out",
            str(tmp_path / "runs"),
            "--name",
            "b",
            "--camera-steps",
            "20",
            "--stage-steps",
            "20",
        ]
        assert main(argv) == 0
        run = tmp_path / "runs" / "b"
        rep = json.loads((run / "report.json").read_text())
        assert {"reprojection_error_px", "mpjpe", "pa_mpjpe", "v2v"} <= set(rep["metrics"])
        assert rep["metrics"]["mpjpe"] < 0.5
        overlay = np.asarray(Image.open(run / "overlay.png"))
        assert overlay.shape == (256, 256, 3) and (overlay != 180).any()
        assert (run / "body.obj").is_file() and (run / "params.json").is_file()

    def test_cli_bad_keypoints(self, tmp_path, model, capsys):
        from inverse3d.cli import main

        self._write(tmp_path, model, truth=False)
        (tmp_path / "kp.json").write_text(
            json.dumps({"keypoints": [[1, 2, 1]], "joint_names": ["tail"]})
        )
        argv = [
            "fit-body",
            str(tmp_path / "img.png"),
            str(tmp_path / "kp.json"),
            "--model",
            str(tmp_path / "body.npz"),
            "--out",
            str(tmp_path / "runs"),
        ]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "kp.json" in err and "tail" in err
