"""PyTorch3D 0.7.9 semantics that user code relies on (issue 14, items 1, 3, 4, 7, 8, 9).

Expected values and behaviours are read from PyTorch3D's source (file and function named in
each test); none of them is produced by inverse3d itself.
"""

from __future__ import annotations

import pytest
import torch

from inverse3d.renderer.cameras import (
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    OrthographicCameras,
    PerspectiveCameras,
    get_world_to_view_transform,
)
from inverse3d.transforms import Rotate, RotateAxisAngle, Scale, Transform3d, Translate

F32, F64 = torch.float32, torch.float64
CAMERAS = (FoVPerspectiveCameras, FoVOrthographicCameras, PerspectiveCameras, OrthographicCameras)


def _scipy_rotation(seed: int = 0) -> torch.Tensor:
    from scipy.spatial.transform import Rotation

    return torch.from_numpy(Rotation.random(random_state=seed).as_matrix())[None]  # float64


class TestTransformDtype:
    """pytorch3d/transforms/transform3d.py: Translate/Scale/Rotate/RotateAxisAngle take
    dtype=torch.float32 and cast their tensor inputs to it (`x.to(device=..., dtype=dtype)` in
    _handle_input, `R.to(device=device_, dtype=dtype)` in Rotate)."""

    def test_subclasses_cast_float64_inputs_to_float32(self):
        R = _scipy_rotation()
        t64 = torch.tensor([[0.1, 0.2, 0.3]], dtype=F64)
        for tr in (
            Rotate(R),
            Translate(t64),
            Translate(t64[:, 0], t64[:, 1], t64[:, 2]),
            Scale(t64),
            Scale(torch.tensor([2.0], dtype=F64)),
            RotateAxisAngle(torch.tensor([30.0], dtype=F64)),
        ):
            assert tr.dtype == F32 and tr.get_matrix().dtype == F32
            assert tr.transform_points(torch.rand(4, 3)).dtype == F32

    def test_explicit_dtype_wins(self):
        R = _scipy_rotation().float()
        assert Rotate(R, dtype=F64).get_matrix().dtype == F64
        assert Translate(1.0, 2.0, 3.0, dtype=F64).get_matrix().dtype == F64

    def test_matrix_keeps_its_dtype(self):
        # Transform3d(matrix=m): "set dtype and device from matrix"
        assert Transform3d(matrix=torch.eye(4, dtype=F64)).dtype == F64


class TestCameraDtype:
    """pytorch3d/renderer/cameras.py: get_world_to_view_transform is
    Rotate(R).compose(Translate(T)) with the default dtype, the FoV projections fill
    torch.zeros(..., dtype=torch.float32) and the NDC / screen transforms are float32: a camera's
    transforms are float32 whatever the dtypes of R and T."""

    @pytest.mark.parametrize("cls", CAMERAS)
    def test_float64_R_float32_T(self, cls):
        cam = cls(R=_scipy_rotation(), T=torch.tensor([[0.0, 0.0, 3.0]]))
        verts = torch.rand(5, 3)
        w2v = cam.get_world_to_view_transform()
        assert w2v.get_matrix().dtype == F32
        out = w2v.transform_points(verts)
        assert out.dtype == F32
        ref = verts.double() @ _scipy_rotation()[0] + torch.tensor([0.0, 0.0, 3.0], dtype=F64)
        assert torch.allclose(out.double(), ref, atol=1e-6)
        assert cam.get_full_projection_transform().get_matrix().dtype == F32
        assert cam.transform_points(verts).dtype == F32
        assert cam.get_camera_center().dtype == F32

    @pytest.mark.parametrize("cls", CAMERAS)
    def test_all_float64_inputs_still_float32(self, cls):
        cam = cls(R=_scipy_rotation(), T=torch.tensor([[0.0, 0.0, 3.0]], dtype=F64))
        assert cam.transform_points(torch.rand(5, 3)).dtype == F32
        assert cam[0].get_world_to_view_transform().dtype == F32
        assert cam.clone().get_projection_transform().get_matrix().dtype == F32

    def test_screen_space_transforms(self):
        cam = PerspectiveCameras(
            focal_length=torch.tensor([[20.0, 20.0]], dtype=F64),
            principal_point=((8.0, 8.0),),
            in_ndc=False,
            image_size=((16, 16),),
            R=_scipy_rotation(),
            T=torch.tensor([[0.0, 0.0, 3.0]]),
        )
        assert cam.transform_points_screen(torch.rand(5, 3)).dtype == F32
        assert cam.transform_points_ndc(torch.rand(5, 3)).dtype == F32

    def test_module_function(self):
        w2v = get_world_to_view_transform(_scipy_rotation(), torch.zeros(1, 3, dtype=F64))
        assert w2v.get_matrix().dtype == F32

    def test_float64_opt_in(self):
        # inverse3d addition (PyTorch3D has no float64 cameras): dtype= for float64 work
        R = _scipy_rotation()
        cam = FoVPerspectiveCameras(R=R, T=torch.zeros(1, 3), dtype=F64)
        pts = torch.rand(1, 5, 3, dtype=F64) + torch.tensor([0.0, 0.0, 2.0], dtype=F64)
        assert cam.transform_points(pts).dtype == F64
        assert cam[0].get_world_to_view_transform().dtype == F64
        with pytest.raises(TypeError, match="dtype"):
            FoVPerspectiveCameras(dtype=torch.int64)


class TestPackedPadded:
    """pytorch3d/ops/packed_to_padded.py: packed_to_padded takes (F,) or (F, ...) and returns
    (N, max_size, ...); padded_to_packed(inputs, first_idxs, num_inputs, max_size_dim=1) moves
    max_size_dim to 1 (`inputs.movedim(max_size_dim, 1)`) and returns (F, ...). Its test
    (tests/test_packed_to_padded.py) packs values.transpose(1, 2) with max_size_dim=2."""

    def setup_method(self):
        torch.manual_seed(0)
        self.sizes = [3, 0, 5, 2]
        self.first = torch.tensor([0, 3, 3, 8])
        self.F, self.M = sum(self.sizes), max(self.sizes)

    def _padded_loop(self, packed):
        out = packed.new_zeros(len(self.sizes), self.M, *packed.shape[1:])
        for i, (f, n) in enumerate(zip(self.first.tolist(), self.sizes)):
            out[i, :n] = packed[f : f + n]
        return out

    @pytest.mark.parametrize("dims", [(), (4,), (4, 2), (3, 2, 2)])
    def test_trailing_dims_round_trip(self, dims):
        from inverse3d.ops import packed_to_padded, padded_to_packed

        packed = torch.rand(self.F, *dims, dtype=F64, requires_grad=True)
        padded = packed_to_padded(packed, self.first, self.M)
        assert padded.shape == (4, self.M, *dims)
        assert torch.equal(padded, self._padded_loop(packed.detach()))
        back = padded_to_packed(padded, self.first, self.F)
        assert back.shape == packed.shape and torch.equal(back, packed)
        assert torch.autograd.gradcheck(
            lambda x: padded_to_packed(packed_to_padded(x, self.first, self.M), self.first, self.F),
            (packed,),
        )

    @pytest.mark.parametrize("dims", [(4,), (4, 2)])
    def test_max_size_dim(self, dims):
        from inverse3d.ops import padded_to_packed

        packed = torch.rand(self.F, *dims)
        padded = self._padded_loop(packed)  # (N, M, *dims)
        moved = padded.movedim(1, 2)  # (N, dims[0], M, ...)
        assert torch.equal(padded_to_packed(moved, self.first, self.F, max_size_dim=2), packed)
        moved_last = padded.movedim(1, -1)
        out = padded_to_packed(moved_last, self.first, self.F, max_size_dim=-1)
        assert torch.equal(out, packed)  # the other dimensions keep their order
