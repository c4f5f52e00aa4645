"""Tests of renderer/utils.py: TensorProperties broadcasting and NDC grid sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inverse3d.renderer.utils import (
    TensorProperties,
    convert_to_tensors_and_broadcast,
    ndc_grid_sample,
    ndc_to_grid_sample_coords,
)


class TestConvertToTensorsAndBroadcast:
    def test_shapes(self):
        a, b, c = convert_to_tensors_and_broadcast(1.0, ((1, 2, 3),), torch.zeros(4, 3))
        assert a.shape == (4,) and b.shape == (4, 3) and c.shape == (4, 3)
        assert torch.equal(b[3], torch.tensor([1.0, 2.0, 3.0]))
        assert a.dtype == torch.float32

    def test_keeps_tensor_dtype(self):
        (x,) = convert_to_tensors_and_broadcast(torch.ones(2, dtype=torch.float64))
        assert x.dtype == torch.float64

    def test_exceptions(self):
        with pytest.raises(ValueError, match="batch size"):
            convert_to_tensors_and_broadcast(torch.zeros(2, 3), torch.zeros(3, 3))


class TestTensorProperties:
    def test_smoke(self):
        tp = TensorProperties(x=1.0, y=((1, 2, 3),), z=torch.arange(5.0), name="a", flag=True)
        assert len(tp) == 5 and not tp.isempty()
        assert tp.x.shape == (5,) and tp.y.shape == (5, 3) and torch.equal(tp.z, torch.arange(5.0))
        assert tp.name == "a" and tp.flag is True
        assert TensorProperties().isempty()

    def test_getitem(self):
        # PyTorch3D: tp[i] is a TensorAccessor whose attributes are the properties at index i
        tp = TensorProperties(x=1.0, z=torch.arange(5.0))
        item = tp[2]
        assert torch.equal(item.z, torch.tensor(2.0))
        assert torch.equal(item.x, torch.tensor(1.0))  # size-1 inputs were broadcast to N
        assert torch.equal(tp[1:3].z, torch.tensor([1.0, 2.0]))
        assert torch.equal(tp[torch.tensor([0, 4])].z, torch.tensor([0.0, 4.0]))
        with pytest.raises(AttributeError):
            _ = tp[0].missing

    def test_exceptions(self):
        with pytest.raises(ValueError, match="x has batch size 2"):
            TensorProperties(x=torch.zeros(2), y=torch.zeros(3))

    def test_clone_is_independent(self):
        tp = TensorProperties(z=torch.arange(3.0), name="a")
        other = tp.clone(TensorProperties())
        other.z[0] = 10.0
        assert tp.z[0] == 0.0 and other.name == "a" and len(other) == 3

    def test_to(self):
        tp = TensorProperties(z=torch.arange(3.0))
        assert tp.to("cpu") is tp and tp.z.device.type == "cpu"

    def test_gather_props(self):
        tp = TensorProperties(z=torch.tensor([1.0, 2.0]), c=((5.0,),))
        tp.gather_props(torch.tensor([1, 1, 0]))
        assert torch.equal(tp.z, torch.tensor([2.0, 2.0, 1.0]))
        assert torch.equal(tp.c, torch.full((3, 1), 5.0))  # broadcast to N=2, then gathered

    def test_parameters(self):
        p = torch.nn.Parameter(torch.rand(3, 2))
        tp = TensorProperties(p=p, q=torch.zeros(3))
        assert tp.p is p and len(list(tp.parameters())) == 1
        tp.gather_props(torch.tensor([2, 0]))
        assert torch.equal(tp.p, p[[2, 0]])
        tp.p.sum().backward()
        assert torch.equal(p.grad, torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]))

    def test_numpy_input(self):
        tp = TensorProperties(z=np.array([[1.0, 2.0]]))
        assert tp.z.shape == (1, 2)


def _pixel_centres_ndc(H: int, W: int) -> torch.Tensor:
    """(H, W, 2) NDC of the pixel centres (PyTorch3D: column 0 is +X, row 0 is +Y)."""
    s = min(H, W) / 2
    xs = (W / 2 - (torch.arange(W, dtype=torch.float64) + 0.5)) / s
    ys = (H / 2 - (torch.arange(H, dtype=torch.float64) + 0.5)) / s
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)


class TestNdcGridSample:
    def test_ndc_to_grid_sample_coords_hand_values(self):
        # H=10, W=20: NDC x spans [-2, 2]; NDC (+2, +1) is the top-left corner (-1, -1).
        xy = torch.tensor([[2.0, 1.0], [-2.0, -1.0], [1.0, 0.0]])
        out = ndc_to_grid_sample_coords(xy, (10, 20))
        assert torch.allclose(out, torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-0.5, 0.0]]))

    @pytest.mark.parametrize("hw", [(6, 6), (4, 7), (7, 4)])
    def test_matches_reference_pixel_centres(self, hw):
        H, W = hw
        image = torch.rand(2, 3, H, W, dtype=torch.float64)
        grid = _pixel_centres_ndc(H, W)[None].expand(2, -1, -1, -1)
        out = ndc_grid_sample(image, grid)
        assert out.shape == (2, 3, H, W)
        assert torch.allclose(out, image)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="image_size_hw"):
            ndc_to_grid_sample_coords(torch.zeros(3, 2), (0, 4))
        with pytest.raises(ValueError, match="grid_ndc"):
            ndc_grid_sample(torch.zeros(1, 1, 4, 4), torch.zeros(1, 5, 3))
