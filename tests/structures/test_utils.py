"""Tests for the list / padded / packed conversions of inverse3d.structures.utils."""

from __future__ import annotations

import pytest
import torch

from inverse3d.structures.utils import (
    list_to_packed,
    list_to_padded,
    packed_to_list,
    padded_to_list,
    padded_to_packed,
)


def _random_list(sizes, k=3, dtype=torch.float32):
    return [torch.rand(s, k, dtype=dtype) for s in sizes]


class TestListToPadded:
    def test_smoke(self):
        x = _random_list([2, 0, 4])
        out = list_to_padded(x)
        assert out.shape == (3, 4, 3)

    def test_matches_reference(self):
        x = _random_list([2, 0, 4, 1])
        out = list_to_padded(x, pad_value=-7.0)
        for i, y in enumerate(x):
            n = y.shape[0]
            assert torch.equal(out[i, :n], y)
            assert bool((out[i, n:] == -7.0).all())

    def test_shapes(self):
        x = [torch.rand(2, 5), torch.rand(3, 1)]
        out = list_to_padded(x, pad_size=[4, 6])
        assert out.shape == (2, 4, 6)
        assert torch.equal(out[1, :3, :1], x[1])
        assert float(out[1, :3, 1:].abs().sum()) == 0.0
        # 2-D per-item max over both dims
        assert list_to_padded(x).shape == (2, 3, 5)
        # 1-D items
        y = [torch.arange(3.0), torch.arange(1.0), torch.zeros(0)]
        out1 = list_to_padded(y, pad_value=-1)
        assert torch.equal(out1, torch.tensor([[0.0, 1, 2], [0, -1, -1], [-1, -1, -1]]))

    def test_empty_items(self):
        x = [torch.zeros(0, 3), torch.rand(2, 3), torch.zeros(0)]
        out = list_to_padded(x)
        assert out.shape == (3, 2, 3)
        assert torch.equal(out[1], x[1])
        all_empty = list_to_padded([torch.zeros(0, 3), torch.zeros(0, 3)])
        assert all_empty.shape == (2, 0, 3)

    def test_equisized(self):
        x = _random_list([3, 3])
        assert torch.equal(list_to_padded(x, equisized=True), torch.stack(x))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="same number of dimensions"):
            list_to_padded([torch.rand(2, 3), torch.rand(2, 3, 1)])
        with pytest.raises(ValueError, match="pad_size"):
            list_to_padded([torch.rand(2, 3)], pad_size=[4])
        with pytest.raises(ValueError, match="x\\[0\\]"):
            list_to_padded([torch.rand(5, 3)], pad_size=[4, 3])
        with pytest.raises(ValueError, match="(?i)tensor"):
            list_to_padded([torch.rand(2, 3), [1, 2]])
        with pytest.raises(TypeError, match="list"):
            list_to_padded(torch.rand(2, 3))

    def test_gradcheck(self):
        x = [torch.rand(2, 2, dtype=torch.float64, requires_grad=True) for _ in range(2)]
        x.append(torch.rand(1, 2, dtype=torch.float64, requires_grad=True))
        assert torch.autograd.gradcheck(lambda a, b, c: list_to_padded([a, b, c]), x)


class TestPaddedToList:
    def test_smoke(self):
        x = torch.rand(3, 4, 2)
        out = padded_to_list(x)
        assert len(out) == 3 and all(torch.equal(o, x[i]) for i, o in enumerate(out))

    def test_matches_reference(self):
        x = torch.rand(3, 4, 2)
        out = padded_to_list(x, [1, 0, 4])
        assert [tuple(o.shape) for o in out] == [(1, 2), (0, 2), (4, 2)]
        assert torch.equal(out[2], x[2]) and torch.equal(out[0], x[0, :1])
        out2 = padded_to_list(x, [[1, 1], [2, 2], [3, 0]])
        assert [tuple(o.shape) for o in out2] == [(1, 1), (2, 2), (3, 0)]
        assert torch.equal(out2[1], x[1, :2, :2])
        out3 = padded_to_list(x, torch.tensor([2, 2, 1]))
        assert [o.shape[0] for o in out3] == [2, 2, 1]

    def test_round_trip(self):
        x = _random_list([2, 0, 5])
        back = padded_to_list(list_to_padded(x), [2, 0, 5])
        assert all(torch.equal(a, b) for a, b in zip(x, back))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="split_size"):
            padded_to_list(torch.rand(3, 4, 2), [1, 2])
        with pytest.raises(TypeError, match="x"):
            padded_to_list([1, 2])


class TestListToPacked:
    def test_smoke(self):
        x = _random_list([2, 0, 3])
        packed, num, first, to_list = list_to_packed(x)
        assert packed.shape == (5, 3)
        assert num.tolist() == [2, 0, 3]
        assert first.tolist() == [0, 2, 2]
        assert to_list.tolist() == [0, 0, 2, 2, 2]
        assert num.dtype == first.dtype == to_list.dtype == torch.int64

    def test_matches_reference(self):
        sizes = [0, 4, 1, 0, 3, 0]
        x = _random_list(sizes)
        packed, num, first, to_list = list_to_packed(x)
        cur = 0
        for i, s in enumerate(sizes):
            assert int(first[i]) == cur
            assert torch.equal(packed[cur : cur + s], x[i])
            assert bool((to_list[cur : cur + s] == i).all())
            cur += s
        assert cur == packed.shape[0] == to_list.shape[0]

    def test_exceptions(self):
        with pytest.raises(ValueError, match="empty"):
            list_to_packed([])

    def test_gradcheck(self):
        a = torch.rand(2, 3, dtype=torch.float64, requires_grad=True)
        b = torch.rand(1, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b: list_to_packed([a, b])[0], (a, b))


class TestPackedToList:
    def test_matches_reference(self):
        x = torch.rand(6, 2)
        out = packed_to_list(x, [1, 0, 5])
        assert [o.shape[0] for o in out] == [1, 0, 5]
        assert torch.equal(torch.cat(out), x)
        assert [o.shape[0] for o in packed_to_list(x, 2)] == [2, 2, 2]
        assert [o.shape[0] for o in packed_to_list(x, torch.tensor([3, 3]))] == [3, 3]

    def test_exceptions(self):
        with pytest.raises(ValueError, match="sum"):
            packed_to_list(torch.rand(6, 2), [1, 2])


class TestPaddedToPacked:
    def test_smoke(self):
        x = torch.rand(2, 3, 4)
        assert torch.equal(padded_to_packed(x), x.reshape(6, 4))

    def test_matches_reference(self):
        sizes = [2, 0, 4, 1]
        items = _random_list(sizes)
        padded = list_to_padded(items, pad_value=-1.0)
        want = torch.cat(items)
        assert torch.equal(padded_to_packed(padded, split_size=sizes), want)
        assert torch.equal(padded_to_packed(padded, split_size=torch.tensor(sizes)), want)
        assert torch.equal(padded_to_packed(padded, pad_value=-1.0), want)

    def test_exceptions(self):
        x = torch.rand(2, 3, 4)
        with pytest.raises(ValueError, match="only one"):
            padded_to_packed(x, split_size=[1, 1], pad_value=0.0)
        with pytest.raises(ValueError, match=r"\(N, M, K\)"):
            padded_to_packed(torch.rand(2, 3))
        with pytest.raises(ValueError, match="one entry per item"):
            padded_to_packed(x, split_size=[1])
        with pytest.raises(ValueError, match="flat"):
            padded_to_packed(x, split_size=[[1, 2], [1, 1]])
        with pytest.raises(ValueError, match="lie in"):
            padded_to_packed(x, split_size=[4, 1])

    def test_gradcheck(self):
        x = torch.rand(2, 3, 2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x: padded_to_packed(x, split_size=[1, 3]), (x,))
