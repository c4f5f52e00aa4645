"""Train a SynSin model (models.synsin) on pairs of views.

Not a scene method (it learns from many scenes, not one), so it is not registered for
`reconstruct`; `inverse3d train-synsin` drives it and `inverse3d synthesize` applies it.

Loss (SynSin): l1_weight * |pred - target|_1 (mean) + feature_weight * a perceptual-style
feature loss (`loss.feature_loss`: a fixed random conv net, or VGG-19 when `vgg_weights` names a
weights file) + depth_weight * |depth - true depth|_1 / depth_max (0 by default: the paper
learns depth from the view loss alone) + gan_weight * the generator's adversarial loss against a
`models.synsin.PatchDiscriminator` (`loss.gan`, hinge by default as in the paper, or
non-saturating). The GAN is off by default (gan_weight 0: no discriminator is built and
training is exactly the plain one). With it on, every step first updates the discriminator
(its own Adam, lr_d, betas (0.5, 0.999)) on the target views against the detached synthesized
views, then the model. The training pairs are built by the caller
(datasets.view_pairs.make_view_pairs): methods do not import datasets or eval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import torch

from inverse3d.engine import Loop
from inverse3d.loss.feature_loss import feature_loss_net
from inverse3d.loss.gan import GAN_LOSS_KINDS, gan_discriminator_loss, gan_generator_loss
from inverse3d.methods.base import setting
from inverse3d.models.synsin import PatchDiscriminator, SynSin

__all__ = [
    "SynSinConfig",
    "build_discriminator",
    "build_model",
    "discriminator_losses",
    "synsin_losses",
    "train_synsin",
]


@dataclass
class SynSinConfig:
    """Settings of `inverse3d train-synsin` (model, data, optimisation, losses)."""

    image_size: int = setting(32, "training image size S (a multiple of 4)", low=8, high=512)
    channels: int = setting(32, "features per point (C)", low=1, high=512)
    blocks: int = setting(3, "ResNet blocks of the encoder and of the decoder", low=1, high=16)
    depth_width: int = setting(16, "channels of the depth U-Net's first level", low=2, high=256)
    depth_min: float = setting(0.5, "smallest regressed depth", low=1e-3)
    depth_max: float = setting(6.0, "largest regressed depth", low=1e-2)
    radius_px: float = setting(1.5, "splat radius in pixels", low=0.1, high=32.0)
    points_per_pixel: int = setting(8, "points composited per pixel (K)", low=1, high=128)
    gamma: float = setting(1.0, "alpha falloff exponent of a splat", low=0.01, high=16.0)
    focal: float = setting(1.0, "focal length of the cameras (NDC units)", low=0.05, high=20.0)
    max_angle: float = setting(15.0, "largest yaw between source and target (deg)", low=0, high=90)
    max_shift: float = setting(0.2, "largest camera move between the views", low=0.0, high=0.5)
    n_train: int = setting(256, "training pairs", low=1, high=1_000_000)
    n_test: int = setting(32, "held-out pairs (another seed)", low=1, high=100_000)
    data_seed: int = setting(0, "dataset seed (held-out uses data_seed + 1)", low=0)
    steps: int = setting(400, "optimisation steps", low=1, high=10_000_000)
    batch_size: int = setting(8, "pairs per step", low=1, high=1024)
    lr: float = setting(2e-3, "Adam learning rate", low=1e-7, high=1.0)
    l1_weight: float = setting(1.0, "weight of the L1 image loss", low=0.0)
    feature_weight: float = setting(1.0, "weight of the feature (perceptual) loss", low=0.0)
    depth_weight: float = setting(0.0, "weight of an optional depth supervision", low=0.0)
    vgg_weights: str = setting("", "VGG-19 weights file for the feature loss (needs torchvision)")
    gan_weight: float = setting(0.0, "weight of the patch-GAN loss (0: no discriminator)", low=0.0)
    gan_loss: str = setting("hinge", "GAN loss form", choices=GAN_LOSS_KINDS)
    lr_d: float = setting(2e-4, "discriminator Adam learning rate", low=1e-7, high=1.0)
    d_width: int = setting(32, "discriminator channels of its first layer", low=4, high=512)
    d_layers: int = setting(3, "discriminator stride-2 layers (patch size 5 * 2^n - 2 px)",
                            low=1, high=6)  # fmt: skip


def build_model(config: SynSinConfig) -> SynSin:
    """The untrained model of a config."""
    if config.image_size % 4:
        raise ValueError(f"image_size must be a multiple of 4; got {config.image_size}")
    if not config.depth_min < config.depth_max:
        raise ValueError(
            f"depth_min must be < depth_max; got {config.depth_min}, {config.depth_max}"
        )
    return SynSin(
        focal=config.focal,
        depth_min=config.depth_min,
        depth_max=config.depth_max,
        channels=config.channels,
        blocks=config.blocks,
        radius=2.0 * config.radius_px / config.image_size,
        points_per_pixel=config.points_per_pixel,
        gamma=config.gamma,
        depth_width=config.depth_width,
    )


def build_discriminator(config: SynSinConfig) -> PatchDiscriminator:
    """The untrained patch discriminator of a config (image_size divisible by 2**d_layers)."""
    f = 2**config.d_layers
    if config.image_size % f:
        raise ValueError(
            f"image_size must be divisible by 2**d_layers = {f}; got {config.image_size}"
        )
    return PatchDiscriminator(3, config.d_width, config.d_layers)


def synsin_losses(
    model: SynSin,
    batch: Any,
    config: SynSinConfig,
    feature_net: torch.nn.Module,
    discriminator: PatchDiscriminator | None = None,
    out: Any = None,
) -> dict[str, torch.Tensor]:
    """Loss terms of one forward pass on `batch` (module docstring); "loss" is their weighted
    sum. batch: source, target (N, 3, S, S), depth (N, 1, S, S), R (N, 3, 3), T (N, 3).
    With a discriminator the term "gan" (the generator's adversarial loss on the synthesized
    views) is added with config.gan_weight. `out`: the model's output on batch if already
    computed (else the model is run here)."""
    if out is None:
        out = model(batch.source, batch.R, batch.T)
    terms = {
        "l1": (out.image - batch.target).abs().mean(),
        "feature": feature_net(out.image, batch.target),
        "depth": (out.depth - batch.depth).abs().mean() / config.depth_max,
    }
    terms["loss"] = (
        config.l1_weight * terms["l1"]
        + config.feature_weight * terms["feature"]
        + config.depth_weight * terms["depth"]
    )
    if discriminator is not None:
        terms["gan"] = gan_generator_loss(discriminator(out.image), config.gan_loss)
        terms["loss"] = terms["loss"] + config.gan_weight * terms["gan"]
    return terms


def discriminator_losses(
    discriminator: PatchDiscriminator, real: torch.Tensor, fake: torch.Tensor, kind: str
) -> dict[str, torch.Tensor]:
    """{"d_loss", "d_real", "d_fake"} of the discriminator on real target views (N, 3, S, S)
    and synthesized views (N, 3, S, S) (detached here), per-patch logits averaged."""
    d_real, d_fake = gan_discriminator_loss(discriminator(real), discriminator(fake.detach()), kind)
    return {"d_loss": d_real + d_fake, "d_real": d_real, "d_fake": d_fake}


class _OnDevice:
    def __init__(self, pairs: Any, device: torch.device | str) -> None:
        for k in ("source", "target", "depth", "R", "T"):
            setattr(self, k, getattr(pairs, k).to(device))


def train_synsin(
    config: SynSinConfig,
    loop: Loop | None = None,
    train_data: Any = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> tuple[SynSin, list[dict[str, float]]]:
    """Train a model of `config` on `train_data` with Adam for config.steps steps through `loop`.

    train_data: view pairs such as `datasets.view_pairs.make_view_pairs` makes (`len()`,
    `subset(idx)`, fields source / target (N, 3, S, S), depth (N, 1, S, S), R (N, 3, 3),
    T (N, 3), focal); the caller builds it with this config's image size and focal.

    Batches are drawn with a generator seeded by `seed`. Returns (model in eval mode, history
    of the `synsin_losses` terms per step, with the GAN on also those of
    `discriminator_losses`; the loop's divergence stop is then off: GAN losses do not go down).
    """
    loop = loop or Loop(progress=False)
    if train_data is None or not hasattr(train_data, "subset"):
        raise TypeError(
            "train_data must be view pairs with subset() (e.g. make_view_pairs(...)); "
            f"got {type(train_data).__name__}"
        )
    s = train_data.source.shape[-1]
    if s != config.image_size or abs(float(train_data.focal) - config.focal) > 1e-6:
        raise ValueError(
            f"train_data must have image size {config.image_size} and focal {config.focal}; "
            f"got {s} and {train_data.focal}"
        )
    if config.gan_loss not in GAN_LOSS_KINDS:
        raise ValueError(f"gan_loss must be one of {GAN_LOSS_KINDS}; got {config.gan_loss!r}")
    if config.gan_weight > 0:
        loop = replace(loop, divergence_window=None)
    torch.manual_seed(int(seed))
    model = build_model(config).to(device)
    feature_net = feature_loss_net(config.vgg_weights or None, seed=int(seed)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    state: dict[str, Any] = {"model": model, "optimizer": opt}
    disc, opt_d = None, None
    if config.gan_weight > 0:
        disc = build_discriminator(config).to(device)
        opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr_d, betas=(0.5, 0.999))
        state.update(discriminator=disc, optimizer_d=opt_d)
    gen = torch.Generator().manual_seed(int(seed))
    n = len(train_data)
    bs = min(config.batch_size, n)

    def step(i: int) -> dict[str, Any]:
        idx = torch.randperm(n, generator=gen)[:bs].tolist()
        batch = _OnDevice(train_data.subset(idx), device)
        if disc is None:
            terms = synsin_losses(model, batch, config, feature_net)
        else:
            out = model(batch.source, batch.R, batch.T)
            d_terms = discriminator_losses(disc, batch.target, out.image, config.gan_loss)
            opt_d.zero_grad()
            d_terms["d_loss"].backward()
            opt_d.step()
            disc.requires_grad_(False)  # the model's step leaves D's gradients alone
            terms = synsin_losses(model, batch, config, feature_net, disc, out=out)
            disc.requires_grad_(True)
            terms.update(d_terms)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        return {k: float(v.detach()) for k, v in terms.items()}

    t0 = time.perf_counter()
    model.train()
    res = loop.run(step, config.steps, state=state, desc="synsin")
    model.eval()
    history = list(res.history)
    if history:
        history[-1] = {**history[-1], "train_time_s": time.perf_counter() - t0}
    return model, history
