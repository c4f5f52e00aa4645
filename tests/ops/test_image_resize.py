"""ops.resize_images: area averaging of image batches."""

from __future__ import annotations

import pytest
import torch

from inverse3d.ops.image_resize import resize_images


def test_block_average_and_identity():
    torch.manual_seed(0)
    x = torch.rand(2, 8, 6, 3)
    y = resize_images(x, (4, 3))
    ref = x.reshape(2, 4, 2, 3, 2, 3).mean(dim=(2, 4))  # 2x2 blocks
    assert torch.allclose(y, ref, atol=1e-6)
    m = torch.rand(2, 8, 6)
    assert torch.allclose(resize_images(m, (4, 3)), m.reshape(2, 4, 2, 3, 2).mean(dim=(2, 4)))
    assert resize_images(x, (8, 6)) is x


def test_errors():
    with pytest.raises(ValueError, match="images"):
        resize_images(torch.rand(8, 6), (4, 3))
    with pytest.raises(TypeError, match="floating"):
        resize_images(torch.zeros(1, 8, 6, dtype=torch.long), (4, 3))
    with pytest.raises(ValueError, match="size"):
        resize_images(torch.rand(1, 8, 6), (4, 0))
