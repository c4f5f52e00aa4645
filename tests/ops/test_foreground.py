"""ops.foreground: background keying against known masks, and DeepLabV3's errors (torchvision is
not installed on the CI machine)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from inverse3d.ops.foreground import background_key_masks, border_colors, deeplabv3_masks

HAVE_TORCHVISION = importlib.util.find_spec("torchvision") is not None


def _square_images(bg=(0.2, 0.3, 0.4), fg=(0.9, 0.6, 0.1)):
    g = torch.Generator().manual_seed(0)
    img = torch.tensor(bg).expand(2, 32, 40, 3).clone()
    img += 0.02 * torch.randn(img.shape, generator=g)
    truth = torch.zeros(2, 32, 40)
    truth[0, 8:20, 10:30] = 1
    truth[1, 4:28, 20:36] = 1
    img[truth > 0] = torch.tensor(fg)
    return img.clamp(0, 1), truth


class TestBackgroundKey:
    def test_square_exact(self):
        img, truth = _square_images()
        assert torch.allclose(border_colors(img), torch.tensor([0.2, 0.3, 0.4]), atol=0.01)
        mask = background_key_masks(img)
        assert torch.equal((mask > 0.5).float(), truth)

    def test_cleanup_removes_speckles(self):
        img, truth = _square_images()
        img[0, 25, 3] = torch.tensor([1.0, 1.0, 1.0])  # one stray pixel
        assert background_key_masks(img, cleanup=0)[0, 25, 3] == 1.0
        assert background_key_masks(img, cleanup=1)[0, 25, 3] == 0.0

    def test_rendered_scene(self):
        from inverse3d.datasets.synthetic import make_synthetic_scene

        scene = make_synthetic_scene(n_views=4, n_test=0, image_size=48)
        mask = background_key_masks(scene.images) > 0.5
        truth = scene.masks > 0.5
        iou = (mask & truth).sum() / (mask | truth).sum()
        assert iou > 0.9

    def test_known_background(self):
        img, truth = _square_images()
        mask = background_key_masks(img, background=torch.tensor([0.2, 0.3, 0.4]), softness=0.0)
        assert torch.equal(mask, truth)

    def test_exceptions(self):
        img, _ = _square_images()
        with pytest.raises(ValueError, match="images must have shape"):
            background_key_masks(img[..., :2])
        with pytest.raises(ValueError, match="border must be in"):
            border_colors(img, border=20)
        with pytest.raises(ValueError, match="background must have shape"):
            background_key_masks(img, background=torch.zeros(2))
        with pytest.raises(ValueError, match="threshold"):
            background_key_masks(img, threshold=0.0)


class TestDeepLab:
    @pytest.mark.skipif(HAVE_TORCHVISION, reason="torchvision is installed")
    def test_missing_torchvision(self, tmp_path):
        img, _ = _square_images()
        with pytest.raises(ImportError, match="needs torchvision.*pip install torchvision"):
            deeplabv3_masks(img, tmp_path / "w.pt")

    def test_exceptions(self):
        with pytest.raises(TypeError, match="weights must be a path"):
            deeplabv3_masks(torch.zeros(1, 4, 4, 3), 3)
