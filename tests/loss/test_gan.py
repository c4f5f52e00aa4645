"""loss.gan: hinge and non-saturating terms against their formulas written out by hand."""

import math

import pytest
import torch

from inverse3d.loss.gan import gan_discriminator_loss, gan_generator_loss


def test_hinge_terms_by_hand():
    real = torch.tensor([2.0, 0.5, -1.0, 1.0])  # relu(1 - x): 0, 0.5, 2, 0
    fake = torch.tensor([[-3.0, 0.0], [0.25, -1.0]])  # relu(1 + x): 0, 1, 1.25, 0
    d_real, d_fake = gan_discriminator_loss(real, fake, "hinge")
    assert float(d_real) == pytest.approx(2.5 / 4)
    assert float(d_fake) == pytest.approx(2.25 / 4)
    assert float(gan_generator_loss(fake, "hinge")) == pytest.approx(3.75 / 4)


def test_nonsaturating_terms_by_hand():
    sp = lambda x: math.log1p(math.exp(x))  # noqa: E731
    real, fake = torch.tensor([1.5, -0.5]), torch.tensor([0.3, -2.0, 4.0])
    d_real, d_fake = gan_discriminator_loss(real, fake, "nonsaturating")
    assert float(d_real) == pytest.approx((sp(-1.5) + sp(0.5)) / 2, rel=1e-6)
    assert float(d_fake) == pytest.approx((sp(0.3) + sp(-2.0) + sp(4.0)) / 3, rel=1e-6)
    g = gan_generator_loss(fake, "nonsaturating")
    assert float(g) == pytest.approx((sp(-0.3) + sp(2.0) + sp(-4.0)) / 3, rel=1e-6)
    # -log sigmoid(D(fake)): the same number written as a probability
    assert float(g) == pytest.approx(float(-torch.sigmoid(fake).log().mean()), rel=1e-6)


def test_gradients_push_the_right_way():
    fake = torch.zeros(3, requires_grad=True)
    for kind in ("hinge", "nonsaturating"):
        (g,) = torch.autograd.grad(gan_generator_loss(fake, kind), fake)
        assert bool((g < 0).all())  # the generator raises D(fake)
        real = torch.zeros(3, requires_grad=True)
        d_real, d_fake = gan_discriminator_loss(real, fake, kind)
        gr, gf = torch.autograd.grad(d_real + d_fake, (real, fake))
        assert bool((gr < 0).all() and (gf > 0).all())  # D raises real, lowers fake


def test_validation():
    with pytest.raises(ValueError, match="kind"):
        gan_generator_loss(torch.zeros(2), "wasserstein")
    with pytest.raises(ValueError, match="kind"):
        gan_discriminator_loss(torch.zeros(2), torch.zeros(2), "lsgan")
    with pytest.raises(TypeError, match="real_logits"):
        gan_discriminator_loss([0.0], torch.zeros(2))
