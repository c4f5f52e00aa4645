"""packed_to_padded / padded_to_packed against loops, round trips and gradcheck."""

from __future__ import annotations

import pytest
import torch

from inverse3d.ops.packed_to_padded import packed_to_padded, padded_to_packed


class TestPackedToPadded:
    @pytest.mark.parametrize("D", [None, 4])
    def test_matches_reference(self, D):
        sizes = [3, 0, 5]
        F = sum(sizes)
        x = torch.rand(F) if D is None else torch.rand(F, D)
        first = torch.tensor([0, 3, 3])
        out = packed_to_padded(x, first, 6)
        assert out.shape == ((3, 6) if D is None else (3, 6, D))
        exp = torch.zeros_like(out)
        s = 0
        for n, k in enumerate(sizes):
            exp[n, :k] = x[s : s + k]
            s += k
        assert torch.equal(out, exp)
        assert torch.equal(padded_to_packed(out, first, F), x)

    def test_gradcheck(self):
        x = torch.rand(7, 2, dtype=torch.float64, requires_grad=True)
        first = torch.tensor([0, 4])
        assert torch.autograd.gradcheck(lambda t: packed_to_padded(t, first, 5), (x,))
        y = torch.rand(2, 5, 2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: padded_to_packed(t, first, 7), (y,))

    def test_exceptions(self):
        x = torch.rand(7, 2)
        with pytest.raises(ValueError, match="max_size"):
            packed_to_padded(x, torch.tensor([0, 2]), 3)
        with pytest.raises(ValueError, match="non-decreasing"):
            packed_to_padded(x, torch.tensor([0, 5, 2]), 9)
        with pytest.raises(ValueError, match="inputs must have shape"):
            packed_to_padded(torch.tensor(1.0), torch.tensor([0]), 3)
        with pytest.raises(ValueError, match="inputs must have shape"):
            padded_to_packed(torch.rand(5), torch.tensor([0]), 3)
        with pytest.raises(ValueError, match="max_size_dim"):
            padded_to_packed(torch.rand(2, 5, 3), torch.tensor([0, 2]), 3, max_size_dim=0)
        with pytest.raises(ValueError, match="max_size_dim"):
            padded_to_packed(torch.rand(2, 5, 3), torch.tensor([0, 2]), 3, max_size_dim=3)
        with pytest.raises(ValueError, match="first_idxs must have shape"):
            padded_to_packed(torch.rand(2, 5), torch.tensor([0]), 3)
        with pytest.raises(ValueError, match="<= the number"):
            padded_to_packed(torch.rand(2, 5), torch.tensor([0, 9]), 3)

    def test_empty(self):
        assert packed_to_padded(torch.rand(0, 3), torch.tensor([0, 0]), 2).shape == (2, 2, 3)
        assert padded_to_packed(torch.rand(2, 4, 3), torch.tensor([0, 0]), 0).shape == (0, 3)
