"""loss.feature_loss: the fixed random-feature loss and the optional VGG loss."""

import importlib.util

import pytest
import torch

from inverse3d.loss.feature_loss import RandomFeatureLoss, VGGFeatureLoss, feature_loss_net


def test_random_feature_loss_zero_on_equal_positive_otherwise_and_frozen():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 16, 16, generator=g)
    b = torch.rand(2, 3, 16, 16, generator=g)
    f = RandomFeatureLoss(seed=1)
    assert float(f(a, a)) == 0.0
    assert float(f(a, b)) > 0.0
    assert all(not p.requires_grad for p in f.parameters())
    # same seed, same network; another seed, another network
    assert float(RandomFeatureLoss(seed=1)(a, b)) == pytest.approx(float(f(a, b)))
    assert float(RandomFeatureLoss(seed=2)(a, b)) != pytest.approx(float(f(a, b)))
    # nearer images are nearer in feature space
    assert float(f(a, a + 0.01 * (b - a))) < float(f(a, b))


def test_random_feature_loss_gradient_reaches_the_prediction():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, 3, 8, 8, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 3, 8, 8, generator=g, dtype=torch.float64)
    f = RandomFeatureLoss(channels=(4, 4), seed=0).double()
    f(x, y).backward()
    assert float(x.grad.abs().sum()) > 0
    # gradcheck away from the kinks of |.| and relu (smooth almost everywhere)
    assert torch.autograd.gradcheck(lambda t: f(t, y), (x.detach().requires_grad_(),), atol=1e-5)


def test_feature_loss_validation_and_choice():
    f = feature_loss_net(None)
    assert isinstance(f, RandomFeatureLoss)
    with pytest.raises(ValueError, match="pred"):
        f(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="same shape"):
        f(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="channels"):
        RandomFeatureLoss(channels=())


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="has torchvision")
def test_vgg_without_torchvision_says_how_to_install(tmp_path):
    with pytest.raises(ImportError, match="pip install torchvision"):
        VGGFeatureLoss(tmp_path / "vgg19.pth")
    with pytest.raises(ImportError, match="torchvision"):
        feature_loss_net(tmp_path / "vgg19.pth")
