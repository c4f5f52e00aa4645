"""Adversarial (GAN) loss terms on discriminator logits of any shape (per image or per patch).

Two forms, named by `kind`:

- "hinge" (Lim and Ye 2017; used by SynSin's discriminator):
  discriminator ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``,
  generator ``-mean(D(fake))``.
- "nonsaturating" (Goodfellow et al. 2014, the generator's -log D form):
  discriminator ``mean(softplus(-D(real))) + mean(softplus(D(fake)))``,
  generator ``mean(softplus(-D(fake)))``.

Means run over every logit, so a patch discriminator's (N, 1, h, w) map weighs each patch alike.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from inverse3d._validation import check_tensor

__all__ = ["GAN_LOSS_KINDS", "gan_discriminator_loss", "gan_generator_loss"]

GAN_LOSS_KINDS = ("hinge", "nonsaturating")


def _check_kind(kind: str) -> str:
    if kind not in GAN_LOSS_KINDS:
        raise ValueError(f"kind must be one of {GAN_LOSS_KINDS}; got {kind!r}")
    return kind


def gan_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "hinge"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The discriminator's loss as (real term, fake term), scalars whose sum is the loss.

    Args:
        real_logits: (...) float, D on real images (any shape: (N,) or (N, 1, h, w)).
        fake_logits: (...) float, D on generated images (detach them for a D step).
        kind: "hinge" or "nonsaturating" (module docstring).
    """
    check_tensor(real_logits, "real_logits", dtype="float")
    check_tensor(fake_logits, "fake_logits", dtype="float")
    if _check_kind(kind) == "hinge":
        return F.relu(1.0 - real_logits).mean(), F.relu(1.0 + fake_logits).mean()
    return F.softplus(-real_logits).mean(), F.softplus(fake_logits).mean()


def gan_generator_loss(fake_logits: torch.Tensor, kind: str = "hinge") -> torch.Tensor:
    """The generator's adversarial loss (scalar) from D's logits (...) on its images."""
    check_tensor(fake_logits, "fake_logits", dtype="float")
    if _check_kind(kind) == "hinge":
        return -fake_logits.mean()
    return F.softplus(-fake_logits).mean()
