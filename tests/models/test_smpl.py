"""BodyModel / lbs / forward_kinematics (models/smpl.py) and the synthetic body."""

from __future__ import annotations

import pytest
import torch

from inverse3d.models.smpl import (
    BodyModel,
    blend_shapes,
    forward_kinematics,
    lbs,
    pose_to_matrices,
    skin_vertices,
)
from inverse3d.models.synthetic_body import (
    make_keypoint_cases,
    make_synthetic_body,
    sample_body_poses,
)
from inverse3d.transforms.rotation_conversions import axis_angle_to_matrix


@pytest.fixture(scope="module")
def body():
    return BodyModel(make_synthetic_body(), dtype=torch.float64)


def _tiny(seed=0, V=7, J=3, B=2):
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(V, J, generator=g, dtype=torch.float64)
    reg = torch.rand(J, V, generator=g, dtype=torch.float64)
    return {
        "v_template": torch.randn(V, 3, generator=g, dtype=torch.float64),
        "shapedirs": 0.1 * torch.randn(V, 3, B, generator=g, dtype=torch.float64),
        "posedirs": 0.1 * torch.randn(V, 3, 9 * (J - 1), generator=g, dtype=torch.float64),
        "J_regressor": reg / reg.sum(1, keepdim=True),
        "parents": [-1, 0, 1],
        "weights": w / w.sum(1, keepdim=True),
    }


def _loop_lbs(betas, rotmats, m):
    """Per-vertex, per-joint loops over the SMPL formulas (independent of the vectorised code)."""
    N, J = rotmats.shape[:2]
    V = m["v_template"].shape[0]
    out = torch.zeros(N, V, 3, dtype=torch.float64)
    for n in range(N):
        vs = m["v_template"].clone()
        for b in range(betas.shape[1]):
            vs = vs + betas[n, b] * m["shapedirs"][:, :, b]
        Jr = m["J_regressor"] @ vs
        feat = torch.cat(
            [(rotmats[n, j] - torch.eye(3, dtype=torch.float64)).flatten() for j in range(1, J)]
        )
        vp = vs.clone()
        for p in range(feat.shape[0]):
            vp = vp + feat[p] * m["posedirs"][:, :, p]
        G = []
        for j in range(J):
            L = torch.eye(4, dtype=torch.float64)
            L[:3, :3] = rotmats[n, j]
            par = m["parents"][j]
            L[:3, 3] = Jr[j] - (Jr[par] if par >= 0 else 0)
            G.append(L if par < 0 else G[par] @ L)
        for i in range(V):
            acc = torch.zeros(3, dtype=torch.float64)
            for j in range(J):
                p_h = torch.cat([vp[i] - Jr[j], torch.ones(1, dtype=torch.float64)])
                acc = acc + m["weights"][i, j] * (G[j] @ p_h)[:3]
            out[n, i] = acc
    return out


class TestLbs:
    def test_matches_reference(self):
        m = _tiny()
        g = torch.Generator().manual_seed(1)
        betas = torch.randn(2, 2, generator=g, dtype=torch.float64)
        rot = axis_angle_to_matrix(torch.randn(2, 3, 3, generator=g, dtype=torch.float64))
        v, _ = lbs(
            betas,
            rot,
            m["v_template"],
            m["shapedirs"],
            m["posedirs"],
            m["J_regressor"],
            m["parents"],
            m["weights"],
        )
        torch.testing.assert_close(v, _loop_lbs(betas, rot, m))

    def test_gradcheck(self):
        m = _tiny(V=4)
        g = torch.Generator().manual_seed(2)
        betas = torch.randn(1, 2, generator=g, dtype=torch.float64, requires_grad=True)
        aa = torch.randn(1, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
        d6 = torch.randn(1, 3, 6, generator=g, dtype=torch.float64, requires_grad=True)

        def f(betas, aa):
            return lbs(
                betas,
                pose_to_matrices(aa),
                m["v_template"],
                m["shapedirs"],
                m["posedirs"],
                m["J_regressor"],
                m["parents"],
                m["weights"],
            )[0]

        assert torch.autograd.gradcheck(f, (betas, aa))
        assert torch.autograd.gradcheck(f, (betas, d6))

    def test_exceptions(self):
        m = _tiny()
        rot = torch.eye(3, dtype=torch.float64).expand(1, 3, 3, 3)
        with pytest.raises(ValueError, match="posedirs"):
            lbs(
                torch.zeros(1, 2, dtype=torch.float64),
                rot,
                m["v_template"],
                m["shapedirs"],
                m["posedirs"][:, :, :5],
                m["J_regressor"],
                m["parents"],
                m["weights"],
            )
        with pytest.raises(ValueError, match="parents"):
            forward_kinematics(rot, torch.zeros(1, 3, 3, dtype=torch.float64), [0, 0, 1])
        with pytest.raises(ValueError, match="betas"):
            blend_shapes(torch.zeros(1, 5, dtype=torch.float64), m["shapedirs"])
        with pytest.raises(ValueError, match="pose"):
            pose_to_matrices(torch.zeros(1, 3, 4))
        with pytest.raises(TypeError, match="weights"):
            skin_vertices(
                torch.zeros(1, 2, 3),
                torch.zeros(2, 1, dtype=torch.int64),
                torch.eye(4).expand(1, 1, 4, 4),
            )


class TestForwardKinematics:
    def test_analytic_chain(self):
        """Three joints on the x axis, 90 degrees about z at joint 1: joint 2 goes to (1, 1, 0)."""
        joints = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0]]])
        aa = torch.zeros(1, 3, 3)
        aa[0, 1, 2] = torch.pi / 2
        posed, A = forward_kinematics(axis_angle_to_matrix(aa), joints, [-1, 0, 1])
        torch.testing.assert_close(posed[0, 2], torch.tensor([1.0, 1.0, 0.0]), atol=1e-6, rtol=0)
        # A_j moves the rest joint to its posed place
        p = torch.cat([joints[0, 2], torch.ones(1)])
        torch.testing.assert_close((A[0, 2] @ p)[:3], posed[0, 2], atol=1e-6, rtol=0)


class TestBodyModel:
    def test_rest_pose_reproduces_template(self, body):
        out = body(
            torch.zeros(1, 10, dtype=torch.float64), torch.zeros(1, 24, 3, dtype=torch.float64)
        )
        # exact up to float64 rounding of the kinematic chain's sums
        torch.testing.assert_close(out.vertices[0], body.v_template, atol=1e-14, rtol=0)
        torch.testing.assert_close(out.joints, body.rest_joints(), atol=1e-12, rtol=0)

    def test_shapes_and_translation(self, body):
        g = torch.Generator().manual_seed(0)
        pose = sample_body_poses(3, g).double()
        betas = torch.randn(3, 4, generator=g, dtype=torch.float64)
        t = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64).expand(3, 3)
        a = body(betas, pose)
        b = body(betas, pose, t)
        assert a.vertices.shape == (3, body.v_template.shape[0], 3) and a.joints.shape == (3, 24, 3)
        torch.testing.assert_close(b.vertices - a.vertices, t[:, None].expand_as(a.vertices))
        c = body(betas, pose, t, return_verts=False)
        assert c.vertices is None
        torch.testing.assert_close(c.joints, b.joints)

    def test_joints_follow_skin(self, body):
        """A rigid global rotation turns vertices and joints alike (LBS weights sum to 1)."""
        R = axis_angle_to_matrix(torch.tensor([0.3, -1.0, 0.5], dtype=torch.float64))
        pose = torch.zeros(1, 24, 3, dtype=torch.float64)
        pose[0, 0] = torch.tensor([0.3, -1.0, 0.5], dtype=torch.float64)
        out = body(None, pose)
        J0 = body.rest_joints()[0, 0]
        want = (body.v_template - J0) @ R.T + J0
        torch.testing.assert_close(out.vertices[0], want)

    def test_exceptions(self, body):
        with pytest.raises(ValueError, match="pose"):
            body(
                torch.zeros(2, 10, dtype=torch.float64), torch.zeros(2, 23, 3, dtype=torch.float64)
            )
        with pytest.raises(ValueError, match="transl"):
            body(None, None, torch.zeros(1, 2, dtype=torch.float64))


class TestSyntheticBody:
    def test_layout_and_scale(self):
        d = make_synthetic_body()
        V = d["v_template"].shape[0]
        assert d["posedirs"].shape == (V, 3, 207) and d["shapedirs"].shape == (V, 3, 10)
        height = d["v_template"][:, 1].max() - d["v_template"][:, 1].min()
        assert 1.65 < height < 1.8  # documented: 1.72 m
        assert abs(d["weights"].sum(1) - 1).max() < 1e-12
        assert abs(d["J_regressor"].sum(1) - 1).max() < 1e-12

    def test_height_beta_scales(self):
        m = BodyModel(make_synthetic_body(), dtype=torch.float64)
        b = torch.zeros(1, 10, dtype=torch.float64)
        b[0, 0] = 1.0
        v0, v1 = m.v_template, m(b).vertices[0]
        ratio = (v1[:, 1].max() - v1[:, 1].min()) / (v0[:, 1].max() - v0[:, 1].min())
        assert ratio == pytest.approx(1.06, abs=1e-6)

    def test_keypoint_cases_project(self):
        m = BodyModel(make_synthetic_body())
        c = make_keypoint_cases(m, 2, torch.Generator().manual_seed(0), noise_px=0.0)
        J = c["joints"]
        uv = c["focal"][:, None, None] * J[..., :2] / J[..., 2:] + c["principal"][:, None]
        torch.testing.assert_close(uv, c["keypoints"])
        assert bool((J[..., 2] > 3).all())
        # upright in OpenCV axes: head above (smaller y than) the pelvis
        assert bool((J[:, 15, 1] < J[:, 0, 1]).all())
        f = make_keypoint_cases(m, 3, torch.Generator().manual_seed(0), fixed_scale=True)
        assert bool((f["betas"][:, 0] == 0).all()) and bool((f["betas"][:, 1:] != 0).any())

    def test_synthetic_pose_prior_matches_the_sampler(self):
        """The prior's mean / std per axis-angle component are the sampler's (20000 draws)."""
        from inverse3d.loss.body_fitting import GaussianMixturePrior
        from inverse3d.models.synthetic_body import sample_body_poses, synthetic_pose_prior

        prior = synthetic_pose_prior(min_std=1e-3)
        pose = sample_body_poses(20000, torch.Generator().manual_seed(0))[:, 1:].reshape(-1, 69)
        mean = torch.as_tensor(prior["means"][0]).float()
        std = torch.as_tensor(prior["covars"][0]).diagonal().sqrt().float()
        torch.testing.assert_close(pose.mean(0), mean, atol=0.01, rtol=0)
        torch.testing.assert_close(pose.std(0), std.clamp(min=1e-3) * (std > 1e-3), atol=0.01,
                                   rtol=0.03)  # fmt: skip
        gmm = GaussianMixturePrior(*(torch.as_tensor(prior[k]) for k in ("means", "covars",
                                                                         "weights")))  # fmt: skip
        assert float(gmm(mean[None])) == pytest.approx(0.0, abs=1e-4)  # minimum at the mean
        assert float(gmm(mean[None] + 0.1)) > 0
        with pytest.raises(ValueError, match="min_std"):
            synthetic_pose_prior(0.0)
