import pytest
import torch

from inverse3d._validation import (
    check_choice,
    check_positive_float,
    check_positive_int,
    check_tensor,
)


class TestCheckTensor:
    def test_accepts_matching(self):
        dims: dict[str, int] = {}
        v = torch.zeros(2, 5, 3)
        assert check_tensor(v, "verts", ("N", "V", 3), "float", dims) is v
        assert dims == {"N": 2, "V": 5}

    def test_shape_message(self):
        with pytest.raises(ValueError, match=r"verts must have shape \(N, V, 3\); got \(2, 5, 4\)"):
            check_tensor(torch.zeros(2, 5, 4), "verts", ("N", "V", 3))

    def test_named_dims_must_agree(self):
        dims = {"N": 2}
        with pytest.raises(ValueError, match="N=2"):
            check_tensor(torch.zeros(3, 4), "x", ("N", 4), dims=dims)

    def test_leading_ellipsis(self):
        check_tensor(torch.zeros(2, 3, 4, 3), "p", ("...", 3))
        with pytest.raises(ValueError):
            check_tensor(torch.zeros(2, 4), "p", ("...", 3))

    def test_type_and_dtype(self):
        with pytest.raises(TypeError, match="must be a torch.Tensor; got list"):
            check_tensor([1, 2], "x")
        with pytest.raises(TypeError, match="dtype int"):
            check_tensor(torch.zeros(3), "faces", dtype="int")

    def test_finite(self):
        with pytest.raises(ValueError, match="1 NaN/inf"):
            check_tensor(torch.tensor([0.0, float("nan")]), "x", finite=True)


def test_scalars():
    assert check_positive_int(3, "K") == 3
    with pytest.raises(ValueError, match="K must be >= 1; got 0"):
        check_positive_int(0, "K")
    with pytest.raises(TypeError):
        check_positive_int(1.5, "K")
    with pytest.raises(ValueError):
        check_positive_float(-1.0, "sigma")
    with pytest.raises(ValueError, match="norm must be one of"):
        check_choice(3, "norm", (1, 2))
