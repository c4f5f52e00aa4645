"""ops.resize_images: area averaging and bilinear enlarging of image batches."""

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


def test_bilinear_reproduces_a_ramp():
    """Bilinear enlarging is exact on a linear ramp (away from the border, which is clamped)."""
    h, w, k = 6, 5, 4
    ramp = (0.1 * torch.arange(w, dtype=torch.float64) + 0.05)[None, None].expand(1, h, w)
    y = resize_images(ramp, (h * k, w * k), mode="bilinear")
    # output pixel j has its centre at input coordinate (j + 0.5) / k - 0.5
    x_in = (torch.arange(w * k, dtype=torch.float64) + 0.5) / k - 0.5
    inner = (x_in >= 0) & (x_in <= w - 1)
    assert torch.allclose(y[0, :, inner], (0.1 * x_in[inner] + 0.05).expand(h * k, -1))
    m = (torch.rand(2, 7, 7, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    z = resize_images(m, (21, 21), mode="bilinear")
    assert z.min() >= 0 and z.max() <= 1
    assert not torch.equal(z, resize_images(m, (21, 21)))  # area: blocks


def test_errors():
    with pytest.raises(ValueError, match="images"):
        resize_images(torch.rand(8, 6), (4, 3))
    with pytest.raises(TypeError, match="floating"):
        resize_images(torch.zeros(1, 8, 6, dtype=torch.long), (4, 3))
    with pytest.raises(ValueError, match="size"):
        resize_images(torch.rand(1, 8, 6), (4, 0))
    with pytest.raises(ValueError, match="mode"):
        resize_images(torch.rand(1, 8, 6), (4, 3), mode="nearest")
