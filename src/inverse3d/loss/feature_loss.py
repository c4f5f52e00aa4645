"""Perceptual-style feature losses: L1 between the activations of a fixed network.

`RandomFeatureLoss` uses a small convolutional network with fixed random weights (seeded): no
download, and random conv features are known to act as a usable perceptual distance for training.
`VGGFeatureLoss` uses VGG-19 (relu1_1 .. relu5_1, as SynSin) from a weights file the user gives
(torchvision's state-dict layout); torchvision is imported only then. `feature_loss_net` picks one.
"""

from __future__ import annotations

import os

import torch
from torch import nn

__all__ = ["RandomFeatureLoss", "VGGFeatureLoss", "feature_loss_net"]


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    for name, t in (("pred", pred), ("target", target)):
        if not isinstance(t, torch.Tensor) or t.dim() != 4 or t.shape[1] != 3:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must be (N, 3, H, W) RGB; got {got}")
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape; got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )


class RandomFeatureLoss(nn.Module):
    """Mean over stages of the mean |phi_k(pred) - phi_k(target)| of a fixed random conv net.

    Stage k: 3x3 conv (Kaiming-normal weights from a generator seeded by `seed`) + ReLU, then a
    2x average pool before the next stage. Parameters are frozen (requires_grad False).

    forward(pred (N, 3, H, W), target (N, 3, H, W)) in [0, 1] -> 0-dim loss.
    """

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64), seed: int = 0) -> None:
        super().__init__()
        if not channels or any(int(c) < 1 for c in channels):
            raise ValueError(f"channels must be positive ints; got {channels!r}")
        gen = torch.Generator().manual_seed(int(seed))
        self.convs = nn.ModuleList()
        c_in = 3
        for c in channels:
            conv = nn.Conv2d(c_in, int(c), 3, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen))
                conv.weight.mul_((2.0 / (c_in * 9)) ** 0.5)
                conv.bias.zero_()
            self.convs.append(conv)
            c_in = int(c)
        self.requires_grad_(False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stage activations of x (N, 3, H, W): list of (N, C_k, H / 2^k, W / 2^k)."""
        out = []
        h = x * 2.0 - 1.0
        for k, conv in enumerate(self.convs):
            if k:
                h = nn.functional.avg_pool2d(h, 2)
            h = torch.relu(conv(h))
            out.append(h)
        return out

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(pred, target)
        fp, ft = self.features(pred), self.features(target.detach())
        return torch.stack([(a - b).abs().mean() for a, b in zip(fp, ft)]).mean()


class VGGFeatureLoss(nn.Module):
    """SynSin's perceptual loss: sum of w_k |vgg_k(pred) - vgg_k(target)|_1 (means) at VGG-19
    relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 with weights 1/32, 1/16, 1/8, 1/4, 1.

    weights_path: a VGG-19 state dict file (torchvision layout, read with weights_only=True).
    Needs torchvision (optional): ImportError with the install line when missing.
    """

    _CUTS = (2, 7, 12, 21, 30)  # end indices (exclusive) of relu1_1 .. relu5_1 in vgg19.features
    _WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)

    def __init__(self, weights_path: str | os.PathLike) -> None:
        super().__init__()
        try:
            from torchvision.models import vgg19
        except ImportError:
            raise ImportError(
                "VGGFeatureLoss needs torchvision (pip install torchvision); without a VGG "
                "weights file the random-feature loss is used"
            ) from None
        path = os.fspath(weights_path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such VGG weights file")
        net = vgg19()
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            net.load_state_dict(state)
        except (RuntimeError, TypeError) as e:
            raise ValueError(f"{path}: not a VGG-19 state dict ({str(e)[:200]})") from None
        self.features = net.features[: self._CUTS[-1]].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(pred, target)
        x = (pred - self.mean) / self.std
        y = (target.detach() - self.mean) / self.std
        loss, start = pred.new_zeros(()), 0
        for cut, w in zip(self._CUTS, self._WEIGHTS):
            for layer in self.features[start:cut]:
                x, y = layer(x), layer(y)
            loss = loss + w * (x - y).abs().mean()
            start = cut
        return loss


def feature_loss_net(weights_path: str | os.PathLike | None = None, seed: int = 0) -> nn.Module:
    """`VGGFeatureLoss(weights_path)` when a path is given, else `RandomFeatureLoss(seed=seed)`."""
    if weights_path:
        return VGGFeatureLoss(weights_path)
    return RandomFeatureLoss(seed=seed)
