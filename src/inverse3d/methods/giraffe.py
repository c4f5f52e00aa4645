"""Train a GIRAFFE generator (models.giraffe) as a GAN on a set of images.

Not a scene method (it learns a distribution of images, not one scene), so it is not registered
for `reconstruct`; `inverse3d train-giraffe` drives it and builds the training images
(datasets.giraffe_scenes): methods do not import datasets.

Losses: the non-saturating GAN loss, discriminator ``softplus(D(fake)) + softplus(-D(real))``,
generator ``softplus(-D(G(z)))``, and the R1 penalty ``r1_weight / 2 * E ||grad_x D(x)||^2`` on
real images (Mescheder et al. 2018), every step. Adam (beta1 = 0, beta2 = 0.99) for both.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import torch

from inverse3d._validation import check_tensor
from inverse3d.engine import Loop
from inverse3d.loss.gan import gan_discriminator_loss, gan_generator_loss
from inverse3d.methods.base import setting
from inverse3d.models.giraffe import GiraffeDiscriminator, GiraffeGenerator, PoseRanges

__all__ = ["GiraffeConfig", "build_models", "gan_losses", "pose_ranges", "train_giraffe"]


@dataclass
class GiraffeConfig:
    """Settings of `inverse3d train-giraffe` (model, data, optimisation)."""

    image_size: int = setting(32, "image size: 16, 32 or 64", choices=(16, 32, 64))
    feature_size: int = setting(16, "volume-rendered feature image size", choices=(8, 16, 32))
    n_objects: int = setting(1, "objects per generated scene", low=1, high=8)
    z_dim: int = setting(32, "latent code size (shape and appearance)", low=1, high=512)
    hidden: int = setting(64, "feature-field MLP width", low=8, high=1024)
    feat_dim: int = setting(16, "feature channels", low=1, high=256)
    n_samples: int = setting(24, "points per ray", low=2, high=256)
    d_width: int = setting(32, "discriminator channels of its first layer", low=4, high=512)
    scale_min: float = setting(0.6, "smallest object scale", low=0.05, high=2.0)
    scale_max: float = setting(0.9, "largest object scale", low=0.05, high=2.0)
    max_shift: float = setting(0.5, "object centre x / y offset range (+-)", low=0.0, high=1.5)
    max_depth_shift: float = setting(0.3, "object centre z offset range (+-)", low=0.0, high=1.0)
    max_rotation_deg: float = setting(180.0, "rotation about y range (+-, degrees)", low=0.0,
                                      high=180.0)  # fmt: skip
    kinds: str = setting("box,cylinder", "comma-separated object kinds of the training images")
    n_train: int = setting(2000, "training images", low=1, high=10_000_000)
    data_seed: int = setting(0, "training images' seed", low=0)
    steps: int = setting(5000, "optimisation steps (one D and one G update each)", low=1)
    batch_size: int = setting(32, "images per step", low=1, high=4096)
    lr_g: float = setting(5e-4, "generator Adam learning rate", low=1e-7, high=1.0)
    lr_d: float = setting(1e-4, "discriminator Adam learning rate", low=1e-7, high=1.0)
    r1_weight: float = setting(10.0, "R1 penalty weight", low=0.0)

    def kind_tuple(self) -> tuple[str, ...]:
        """The object kinds as a tuple (their names are checked by the data generator)."""
        kinds = tuple(k.strip() for k in self.kinds.split(",") if k.strip())
        if not kinds:
            raise ValueError(f"kinds must name at least one object kind; got {self.kinds!r}")
        return kinds


def pose_ranges(config: GiraffeConfig) -> PoseRanges:
    """The pose distribution of a config (the generator's and the training images')."""
    if config.scale_min > config.scale_max:
        raise ValueError(
            f"scale_min must be <= scale_max; got {config.scale_min} and {config.scale_max}"
        )
    r = math.radians(config.max_rotation_deg)
    s, d = config.max_shift, config.max_depth_shift
    return PoseRanges((config.scale_min, config.scale_max), (-s, s), (-s, s), (-d, d), (-r, r))


def build_models(config: GiraffeConfig) -> tuple[GiraffeGenerator, GiraffeDiscriminator]:
    """The untrained generator and discriminator of a config."""
    gen = GiraffeGenerator(
        n_objects=config.n_objects,
        z_dim=config.z_dim,
        hidden=config.hidden,
        feat_dim=config.feat_dim,
        feature_size=config.feature_size,
        image_size=config.image_size,
        n_samples=config.n_samples,
        pose_ranges=pose_ranges(config),
    )
    return gen, GiraffeDiscriminator(config.image_size, config.d_width)


def gan_losses(
    disc: GiraffeDiscriminator, real: torch.Tensor, fake: torch.Tensor, r1_weight: float
) -> dict[str, torch.Tensor]:
    """Discriminator loss terms on real (N, 3, S, S) and fake (M, 3, S, S) images (module
    docstring): "d_loss" (non-saturating, with R1 on real) and its parts "d_real", "d_fake",
    "r1". fake is detached here; the generator loss is ``softplus(-disc(fake)).mean()``."""
    check_tensor(real, "real", (None, 3, None, None), dtype="float")
    check_tensor(fake, "fake", (None, 3, real.shape[2], real.shape[3]), dtype="float")
    real = real.detach().requires_grad_(r1_weight > 0)
    logits_real = disc(real)
    d_real, d_fake = gan_discriminator_loss(logits_real, disc(fake.detach()), "nonsaturating")
    if r1_weight > 0:
        (grad,) = torch.autograd.grad(logits_real.sum(), real, create_graph=True)
        r1 = grad.pow(2).flatten(1).sum(1).mean()
    else:
        r1 = real.new_zeros(())
    return {"d_loss": d_real + d_fake + 0.5 * r1_weight * r1, "d_real": d_real,
            "d_fake": d_fake, "r1": r1}  # fmt: skip


def train_giraffe(
    config: GiraffeConfig,
    images: torch.Tensor,
    loop: Loop | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> tuple[GiraffeGenerator, GiraffeDiscriminator, list[dict[str, float]]]:
    """Train the models of `config` on `images` (N, 3, S, S) float in [0, 1], S =
    config.image_size, for config.steps steps through `loop` (its divergence check is off:
    GAN losses do not go down). Batches and latents come from generators seeded by `seed`.

    Returns (generator in eval mode, discriminator, history of "loss" = d_loss + g_loss and
    the terms of `gan_losses`, "g_loss").
    """
    S = config.image_size
    check_tensor(images, "images", (None, 3, S, S), dtype="float")
    loop = replace(loop or Loop(progress=False), divergence_window=None)
    torch.manual_seed(int(seed))
    gen, disc = build_models(config)
    gen, disc = gen.to(device), disc.to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=config.lr_g, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr_d, betas=(0.0, 0.99))
    batch_gen = torch.Generator().manual_seed(int(seed))
    n = images.shape[0]
    bs = min(config.batch_size, n)

    def step(i: int) -> dict[str, Any]:
        idx = torch.randint(n, (bs,), generator=batch_gen)
        real = images[idx].to(device)
        codes, poses = gen.sample_latents(bs, batch_gen)
        fake = gen(codes, poses)
        terms = gan_losses(disc, real, fake, config.r1_weight)
        opt_d.zero_grad()
        terms["d_loss"].backward()
        opt_d.step()
        g_loss = gan_generator_loss(disc(fake), "nonsaturating")
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        terms["g_loss"] = g_loss
        terms["loss"] = terms["d_loss"] + g_loss
        return {k: float(v.detach()) for k, v in terms.items()}

    t0 = time.perf_counter()
    state = {"generator": gen, "discriminator": disc, "opt_g": opt_g, "opt_d": opt_d}
    res = loop.run(step, config.steps, state=state, desc="giraffe")
    gen.eval()
    history = list(res.history)
    if history:
        history[-1] = {**history[-1], "train_time_s": time.perf_counter() - t0}
    return gen, disc, history
