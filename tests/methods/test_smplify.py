"""SMPLify fitting (methods/smplify.py) and `inverse3d fit-body` on the synthetic body."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from inverse3d.methods.smplify import (
    LIMBS,
    SMPLifyConfig,
    SMPLifyResult,
    body_errors,
    fit_body,
    flip_limb_depth,
    initial_translation,
    mirror_body_depth,
    project_points,
)
from inverse3d.models.smpl import BodyModel
from inverse3d.models.synthetic_body import make_keypoint_cases, make_synthetic_body
from inverse3d.transforms.rotation_conversions import axis_angle_to_matrix, matrix_to_axis_angle


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
        cfg = SMPLifyConfig(camera_steps=2, stage_steps=2, flip_steps=2)
        res = fit_body(model, c["keypoints"], torch.ones(1, 24), c["focal"], c["principal"], cfg)
        assert res.vertices.shape == (1, model.v_template.shape[0], 3)
        assert res.pose.shape == (1, 24, 3) and res.betas.shape == (1, 10)
        # camera stage, pose stages, whole-body twin, limb twins, combined body
        assert len(res.history) == 2 + 2 * len(cfg.pose_weights) + 3 * 2
        assert bool(torch.isfinite(res.reprojection_error).all())

    def test_quality_floor(self, model):
        """Noise-free keypoints of mildly posed bodies: the fit reprojects to < 1.5 px and its
        3D joints beat the initial guess (rest pose, mean shape) by a wide margin."""
        n = 2
        c = _cases(model, n, noise=0.0, pose_scale=0.6)
        cfg = SMPLifyConfig(camera_steps=60, stage_steps=60, flip_steps=60)
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
        cfg = SMPLifyConfig(camera_steps=2, stage_steps=2, flip_steps=2)
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
        cfg = SMPLifyConfig(camera_steps=2, stage_steps=2, flip_steps=2, penetration_weight=10.0)
        res = fit_body(model, c["keypoints"], torch.ones(1, 24), c["focal"], c["principal"], cfg)
        assert bool(torch.isfinite(res.vertices).all())


def _posed(model, pose_rows, yaw=0.6):
    """One body: upright, turned by `yaw`, 5 m in front of the camera, local rotations
    {joint: axis-angle}; returns (rotmats (1, 24, 3, 3), betas, transl)."""
    rots = torch.eye(3).expand(1, 24, 3, 3).clone()
    rots[0, 0] = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0])) @ axis_angle_to_matrix(
        torch.tensor([0.0, yaw, 0.0])
    )
    for j, aa in pose_rows.items():
        rots[0, j] = axis_angle_to_matrix(torch.tensor(aa))
    return rots, torch.zeros(1, 10), torch.tensor([[0.1, -0.1, 5.0]])


def _mirror(points, ray):
    return points - 2 * (points * ray).sum(-1, keepdim=True) * ray


class TestDepthTwins:
    def test_flip_limb_mirrors_the_bones_only(self, model):
        rots, b, t = _posed(model, {1: [0.5, 0.0, 0.1], 4: [1.0, 0.0, 0.0]})
        hip, knee, ankle = (model.joint_names.index(n) for n in LIMBS[0])
        J = model(b, rots, t, return_verts=False).joints[0]
        ray = (J[hip] / J[hip].norm())[None]
        for upper, lower in ((True, False), (False, True), (True, True)):
            new = flip_limb_depth(model, rots, b, t, (hip, knee, ankle), upper, lower)
            J2 = model(b, new, t, return_verts=False).joints[0]
            thigh, shin = J[knee] - J[hip], J[ankle] - J[knee]
            want_thigh = _mirror(thigh[None], ray)[0] if upper else thigh
            want_shin = _mirror(shin[None], ray)[0] if lower else shin
            torch.testing.assert_close(J2[knee] - J2[hip], want_thigh, atol=1e-5, rtol=0)
            torch.testing.assert_close(J2[ankle] - J2[knee], want_shin, atol=1e-5, rtol=0)
            # the foot keeps its world direction; the other limbs do not move
            foot = model.joint_names.index("left_foot")
            torch.testing.assert_close(J2[foot] - J2[ankle], J[foot] - J[ankle], atol=1e-5, rtol=0)
            others = [j for j in range(24) if j not in (knee, ankle, foot)]
            torch.testing.assert_close(J2[others], J[others], atol=1e-5, rtol=0)
        with pytest.raises(ValueError, match="limb"):
            flip_limb_depth(model, rots, b, t, (hip, ankle, knee), True, True)

    def test_mirror_body_is_the_depth_reflection(self, model):
        """Rest pose turned by a yaw: the whole-body twin is the body's mirror image about the
        plane perpendicular to the ray through the root (exact for planar child sets; the
        synthetic spine3's children are not quite, hence 3 cm), i.e. the opposite yaw."""
        rots, b, t = _posed(model, {}, yaw=0.6)
        J = model(b, rots, t, return_verts=False).joints[0]
        new = mirror_body_depth(model, rots, b, t)
        J2 = model(b, new, t, return_verts=False).joints[0]
        ray = (J[0] / J[0].norm())[None]
        torch.testing.assert_close(J2 - J2[:1], _mirror(J - J[:1], ray), atol=0.03, rtol=0)
        assert float((J2 - J).norm(dim=-1).max()) > 0.5  # a different body
        with pytest.raises(ValueError, match="rotmats"):
            mirror_body_depth(model, rots[:, :20], b, t)

    def test_fit_recovers_a_flipped_leg(self, model):
        """Started from the truth with the left shin's depth twin (a hyperextended knee that
        projects within ~17 px of the truth: a local minimum the plain stages stay in), the
        twin search of fit_body brings the ankle back (measured: 0.66 m -> 0.13 m)."""
        rots, b, t = _posed(model, {1: [0.3, 0.0, 0.0], 4: [0.8, 0.0, 0.0]}, yaw=0.3)
        truth = model(b, rots, t)
        f, c = torch.tensor([1000.0]), torch.tensor([[256.0, 256.0]])
        kp = project_points(truth.joints, f, c)
        leg = tuple(model.joint_names.index(n) for n in LIMBS[0])
        wrong = flip_limb_depth(model, rots, b, t, leg, False, True)
        init = SMPLifyResult(b, matrix_to_axis_angle(wrong), t, None, None, None)
        errs = []
        for flips in (0, 60):
            cfg = SMPLifyConfig(stage_steps=30, pose_weights=(2.0,), shape_weights=(2.0,),
                                flip_steps=flips)  # fmt: skip
            res = fit_body(model, kp, torch.ones(1, 24), f, c, cfg, init=init)
            errs.append(float((res.joints[0, leg[2]] - truth.joints[0, leg[2]]).norm()))
        assert errs[0] > 0.4 and errs[1] < 0.25 * errs[0], errs


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
        assert float(e["mpjpe_abs"].min()) == pytest.approx(5 * math.sqrt(3), rel=1e-5)
        # scale-aligned: a body scaled about its root (the depth / height ambiguity) has 0 error
        s = body_errors(J[:, :1] + 1.1 * (J - J[:, :1]), J)
        assert float(s["mpjpe_scaled"].max()) < 1e-5 and float(s["mpjpe"].min()) > 0.01


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
            "--flip-steps",
            "10",
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
