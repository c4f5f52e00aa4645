"""renderer.camera_refinement.CameraRefinement: the identity at zero, the two pivots' formulas,
fixed cameras, gradients (float64 gradcheck) and argument checks."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.renderer.camera_refinement import CameraRefinement
from inverse3d.renderer.cameras import PerspectiveCameras
from inverse3d.renderer.look_at import look_at_view_transform
from inverse3d.transforms.so3 import so3_exp_map


def _cameras(n: int = 4, dtype=torch.float32) -> PerspectiveCameras:
    R, T = look_at_view_transform(
        dist=2.9, elev=torch.linspace(-20, 30, n), azim=torch.arange(n) * 50.0
    )
    return PerspectiveCameras(focal_length=2.7, R=R.to(dtype), T=T.to(dtype))


def _random(ref: CameraRefinement, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        ref.rot.copy_(0.1 * torch.randn(ref.rot.shape, generator=g))
        ref.trans.copy_(0.1 * torch.randn(ref.trans.shape, generator=g))


class TestCameraRefinement:
    def test_smoke_identity_at_zero(self):
        cams = _cameras()
        out = CameraRefinement(4)(cams, [2, 0])
        assert len(out) == 2
        assert torch.allclose(out.R, cams.R[[2, 0]]) and torch.allclose(out.T, cams.T[[2, 0]])
        assert torch.equal(out.focal_length, cams.focal_length[[2, 0]])

    def test_matches_formula_camera_pivot(self):
        """A world point seen at X R + T is seen at (X R + T) exp(rot) + trans: the camera's
        centre moves only by the translation."""
        cams = _cameras()
        ref = CameraRefinement(4)
        _random(ref)
        out = ref(cams)
        X = torch.randn(10, 3)
        for i in range(4):
            r = so3_exp_map(ref.rot[i : i + 1].detach())[0]
            want = (X @ cams.R[i] + cams.T[i]) @ r + ref.trans[i].detach()
            got = X @ out.R[i] + out.T[i]
            assert torch.allclose(got, want, atol=1e-5)
        with torch.no_grad():
            ref.trans.zero_()
        same_centre = ref(cams).get_camera_center()
        assert torch.allclose(same_centre, cams.get_camera_center(), atol=1e-5)

    def test_matches_formula_origin_pivot(self):
        """R' = exp(rot) R, T' = T + trans: the origin's image moves only by the translation."""
        cams = _cameras()
        ref = CameraRefinement(4, pivot="origin")
        _random(ref, 1)
        out = ref(cams)
        r = so3_exp_map(ref.rot.detach())
        assert torch.allclose(out.R, torch.bmm(r, cams.R), atol=1e-6)
        assert torch.allclose(out.T, cams.T + ref.trans.detach(), atol=1e-6)

    def test_fixed_cameras(self):
        cams = _cameras()
        ref = CameraRefinement(4, fixed=[0, 3])
        _random(ref)
        out = ref(cams, [0, 1, 3])
        assert torch.allclose(out.R[0], cams.R[0]) and torch.allclose(out.T[2], cams.T[3])
        (out.R.sum() + out.T.sum()).backward()
        assert ref.rot.grad[[0, 3]].abs().sum() == 0 and ref.trans.grad[[0, 3]].abs().sum() == 0
        assert ref.rot.grad[1].abs().sum() > 0 and ref.rot.grad[2].abs().sum() == 0  # not drawn
        rot, trans = ref.corrections()
        assert rot[0].abs().sum() == 0 and rot[1].abs().sum() > 0

    def test_mean_correction(self):
        ref = CameraRefinement(3, fixed=[0])
        with torch.no_grad():
            ref.rot[1] = torch.tensor([0.0, 0.0, math.radians(2.0)])
            ref.rot[2] = torch.tensor([math.radians(4.0), 0.0, 0.0])
            ref.trans[1] = torch.tensor([0.03, 0.04, 0.0])
            ref.rot[0] = 1.0  # fixed: ignored
        m = ref.mean_correction()
        assert m["pose_rotation_deg"] == pytest.approx(3.0, abs=1e-4)
        assert m["pose_translation"] == pytest.approx(0.025, abs=1e-6)

    def test_warmup_factor(self):
        f = CameraRefinement.warmup_factor
        assert [f(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
        assert f(0, 0) == 1.0

    @pytest.mark.parametrize("pivot", ["camera", "origin"])
    def test_gradcheck(self, pivot):
        cams = _cameras(3, torch.float64)
        ref = CameraRefinement(3, fixed=[0], pivot=pivot).double()
        _random(ref, 2)
        X = torch.randn(5, 3, dtype=torch.float64)

        def view_points(rot, trans):
            out = torch.func.functional_call(ref, {"rot": rot, "trans": trans}, (cams,))
            return X @ out.R + out.T[:, None]  # (N, 5, 3)

        rot = ref.rot.detach().clone().requires_grad_(True)
        trans = ref.trans.detach().clone().requires_grad_(True)
        assert torch.autograd.gradcheck(view_points, (rot, trans))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="fixed"):
            CameraRefinement(3, fixed=[3])
        with pytest.raises(ValueError, match="pivot"):
            CameraRefinement(3, pivot="centre")
        with pytest.raises(ValueError, match="n_cameras"):
            CameraRefinement(-1)
        with pytest.raises(ValueError, match="batch of 3"):
            CameraRefinement(3)(_cameras(4), [0])
