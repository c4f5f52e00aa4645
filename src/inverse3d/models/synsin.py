"""SynSin: single-image novel view synthesis with a differentiable point renderer.

Wiles et al., "SynSin: End-to-end View Synthesis from a Single Image" (CVPR 2020), at a small
scale. One forward pass, for a source image and the relative camera to a target view:

1. a feature encoder (ResNet blocks) gives C features per pixel;
2. a depth regressor (a small U-Net) gives a depth per pixel in (depth_min, depth_max);
3. every pixel is lifted to a 3D point in the source view frame with its depth
   (`lift_to_points`), moved to the target view frame by the relative camera
   (X_t = X_s R + T, PyTorch3D's row-vector convention) and projected to NDC;
4. the points are splatted by our differentiable point rasterizer (`rasterize_points`) as disks
   of radius `radius` (NDC), K points per pixel, each with alpha
   ``(1 - sqrt(d2) / radius) ** gamma`` (d2: squared NDC distance to the pixel centre) and
   composited front to back with `AlphaCompositor` (`splat_features`);
5. a refinement decoder (ResNet blocks) turns the splatted features, the splatted source RGB
   and the coverage into a correction of the forward-warped image (its last layer starts at
   zero: an untrained model is the forward warp). The paper's decoder outputs the image
   directly; at the small scale trained here the residual form learns in far fewer steps.

Cameras: pinhole, principal point at the image centre, focal length `focal` in NDC units, as
`renderer.PerspectiveCameras(focal_length=focal)` on square images (PyTorch3D axes: +x left,
+y up, +z forward; the pixel in row 0, column 0 is at NDC (+1, +1)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from inverse3d.renderer.points.compositor import AlphaCompositor
from inverse3d.renderer.points.rasterize_points import rasterize_points
from inverse3d.structures.pointclouds import Pointclouds

__all__ = [
    "DepthUNet",
    "FeatureEncoder",
    "PatchDiscriminator",
    "RefinementDecoder",
    "ResBlock",
    "SynSin",
    "SynSinOutput",
    "lift_to_points",
    "pixel_ndc_grid",
    "project_points",
    "splat_features",
    "transform_points_rel",
]


def _check_images(images: torch.Tensor, name: str, channels: int | None = None) -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(images).__name__}")
    if images.dim() != 4 or (channels is not None and images.shape[1] != channels):
        want = f"(N, {channels}, H, W)" if channels is not None else "(N, C, H, W)"
        raise ValueError(f"{name} must be {want}; got shape {tuple(images.shape)}")


def _check_rel(R: torch.Tensor, T: torch.Tensor, n: int) -> None:
    if not isinstance(R, torch.Tensor) or R.shape != (n, 3, 3):
        got = tuple(R.shape) if isinstance(R, torch.Tensor) else type(R).__name__
        raise ValueError(f"R must be ({n}, 3, 3); got {got}")
    if not isinstance(T, torch.Tensor) or T.shape != (n, 3):
        got = tuple(T.shape) if isinstance(T, torch.Tensor) else type(T).__name__
        raise ValueError(f"T must be ({n}, 3); got {got}")


def pixel_ndc_grid(
    size: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """NDC (x, y) of the pixel centres of a size x size image: (size, size, 2) float.

    Row 0 is at y = +1 - 1/size (top), column 0 at x = +1 - 1/size (left), PyTorch3D's NDC.
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int; got {size!r}")
    c = 1.0 - (2.0 * torch.arange(size, dtype=dtype, device=device) + 1.0) / size
    ys, xs = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xs, ys], -1)


def lift_to_points(depth: torch.Tensor, focal: float) -> torch.Tensor:
    """Lift every pixel to a 3D point of the view frame.

    Args:
        depth: (N, 1, S, S) float, view-frame z of each pixel (> 0).
        focal: focal length in NDC units.

    Returns:
        (N, S*S, 3) float points, row-major over the pixels: X = x z / f, Y = y z / f, Z = z.
    """
    _check_images(depth, "depth", 1)
    if depth.shape[2] != depth.shape[3]:
        raise ValueError(f"depth must be square (N, 1, S, S); got {tuple(depth.shape)}")
    if not focal > 0:
        raise ValueError(f"focal must be > 0; got {focal}")
    n, _, s, _ = depth.shape
    xy = pixel_ndc_grid(s, depth.dtype, depth.device).reshape(1, s * s, 2)
    z = depth.reshape(n, s * s, 1)
    return torch.cat([xy * z / focal, z], -1)


def transform_points_rel(points: torch.Tensor, R: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Points of the source view frame in the target view frame: X_t = X_s R + T.

    points: (N, P, 3); R: (N, 3, 3); T: (N, 3). Returns (N, P, 3).
    """
    if not isinstance(points, torch.Tensor) or points.dim() != 3 or points.shape[-1] != 3:
        got = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise ValueError(f"points must be (N, P, 3); got {got}")
    _check_rel(R, T, points.shape[0])
    return points @ R + T[:, None, :]


def project_points(points: torch.Tensor, focal: float, znear: float = 1e-2) -> torch.Tensor:
    """Perspective projection to (x_ndc, y_ndc, z) for the point rasterizer.

    points: (N, P, 3) view-frame points. Returns (N, P, 3): (f X / Z, f Y / Z, Z); a point with
    Z < znear gets (0, 0, -1), which the rasterizer skips (it draws only z >= 0).
    """
    if not isinstance(points, torch.Tensor) or points.dim() != 3 or points.shape[-1] != 3:
        got = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise ValueError(f"points must be (N, P, 3); got {got}")
    if not focal > 0:
        raise ValueError(f"focal must be > 0; got {focal}")
    z = points[..., 2:3]
    ok = z > znear
    zs = torch.where(ok, z, torch.ones_like(z))
    xy = focal * points[..., :2] / zs
    out = torch.cat([xy, zs], -1)
    hidden = torch.tensor([0.0, 0.0, -1.0], dtype=points.dtype, device=points.device)
    return torch.where(ok, out, hidden)


def splat_features(
    points_ndc: torch.Tensor,
    features: torch.Tensor,
    image_size: int,
    radius: float,
    points_per_pixel: int = 8,
    gamma: float = 1.0,
) -> torch.Tensor:
    """Render per-point features with the point rasterizer and alpha compositing.

    Args:
        points_ndc: (N, P, 3) (x_ndc, y_ndc, z) as `project_points` gives.
        features: (N, P, C) float features of the points.
        image_size: S, the output is S x S.
        radius: disk radius in NDC units (> 0).
        points_per_pixel: K nearest points composited per pixel.
        gamma: alpha falloff exponent: alpha = (1 - sqrt(d2) / radius) ** gamma.

    Returns:
        (N, C + 1, S, S): the composited features and, last, the coverage (the composited
        alpha, 0 where no point lands). Differentiable in points_ndc and features.
    """
    if not isinstance(features, torch.Tensor) or features.dim() != 3:
        raise ValueError(f"features must be (N, P, C); got {getattr(features, 'shape', None)}")
    if not isinstance(points_ndc, torch.Tensor) or points_ndc.shape[:2] != features.shape[:2]:
        raise ValueError(
            f"points_ndc must be (N, P, 3) with the features' N, P = {tuple(features.shape[:2])}"
            f"; got {getattr(points_ndc, 'shape', None)}"
        )
    if not radius > 0 or not gamma > 0:
        raise ValueError(f"radius and gamma must be > 0; got radius={radius}, gamma={gamma}")
    n, p, c = features.shape
    clouds = Pointclouds(points=points_ndc)
    idx, _, d2 = rasterize_points(clouds, image_size, radius, points_per_pixel)
    dist = d2.clamp(min=1e-10).sqrt() / radius
    alphas = (1.0 - dist).clamp(min=0.0, max=1.0).pow(gamma)
    ones = features.new_ones(n, p, 1)
    packed = torch.cat([features, ones], -1).reshape(n * p, c + 1).t()  # (C + 1, N * P)
    return AlphaCompositor()(idx.permute(0, 3, 1, 2), alphas.permute(0, 3, 1, 2), packed)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with GroupNorm(1) (layer norm) and a skip: (N, C, H, W) -> (N, C_out, H, W)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.GroupNorm(1, c_out),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c_out, c_out, 3, padding=1),
            nn.GroupNorm(1, c_out),
        )
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.leaky_relu(self.body(x) + self.skip(x), 0.2)


class FeatureEncoder(nn.Module):
    """Image (N, 3, S, S) in [0, 1] -> features (N, C, S, S) (ResNet blocks, full resolution)."""

    def __init__(self, channels: int = 32, blocks: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [ResBlock(3, channels)]
        layers += [ResBlock(channels, channels) for _ in range(blocks - 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images * 2.0 - 1.0)


class DepthUNet(nn.Module):
    """Image (N, 3, S, S) -> depth (N, 1, S, S) in (depth_min, depth_max); S divisible by 4.

    A two-level U-Net; the last layer starts near zero so the initial depth is about the range middle.
    """

    def __init__(self, depth_min: float, depth_max: float, width: int = 16) -> None:
        super().__init__()
        if not 0 < depth_min < depth_max:
            raise ValueError(f"need 0 < depth_min < depth_max; got {depth_min}, {depth_max}")
        self.depth_min, self.depth_max = float(depth_min), float(depth_max)
        w = width
        self.d0 = ResBlock(3, w)
        self.d1 = ResBlock(w, 2 * w)
        self.d2 = ResBlock(2 * w, 4 * w)
        self.u1 = ResBlock(4 * w + 2 * w, 2 * w)
        self.u0 = ResBlock(2 * w + w, w)
        self.out = nn.Conv2d(w, 1, 3, padding=1)
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        f = nn.functional
        x0 = self.d0(images * 2.0 - 1.0)
        x1 = self.d1(f.avg_pool2d(x0, 2))
        x2 = self.d2(f.avg_pool2d(x1, 2))
        y1 = self.u1(torch.cat([f.interpolate(x2, scale_factor=2.0), x1], 1))
        y0 = self.u0(torch.cat([f.interpolate(y1, scale_factor=2.0), x0], 1))
        return self.depth_min + (self.depth_max - self.depth_min) * torch.sigmoid(self.out(y0))


class RefinementDecoder(nn.Module):
    """Splatted features, splatted RGB and coverage (N, C + 4, S, S) -> a correction
    (N, 3, S, S) added to the forward-warped image. The last layer starts at zero, so an
    untrained model outputs the forward warp."""

    def __init__(self, channels: int = 32, blocks: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [ResBlock(channels + 4, channels)]
        layers += [ResBlock(channels, channels) for _ in range(blocks - 1)]
        out = nn.Conv2d(channels, 3, 3, padding=1)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
        self.net = nn.Sequential(*layers, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """A PatchGAN discriminator (Isola et al. 2017): one real/fake logit per image patch.

    `n_layers` convolutions 4x4 with stride 2 (LeakyReLU 0.2; channels width, 2 width, ...,
    at most 8 width), then a 3x3 convolution to one channel. images (N, 3, S, S), S divisible by
    2**n_layers -> logits (N, 1, S / 2**n_layers, S / 2**n_layers); logit (i, j) sees only the
    patch of its receptive field (`receptive_field` pixels wide, 38 for 3 layers), so the
    discriminator judges local texture and sharpness, not the layout of the whole image.
    """

    def __init__(self, in_channels: int = 3, width: int = 32, n_layers: int = 3) -> None:
        super().__init__()
        for name, v in (("in_channels", in_channels), ("width", width), ("n_layers", n_layers)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int; got {v!r}")
        if n_layers > 6:
            raise ValueError(f"n_layers must be in 1..6; got {n_layers}")
        self.in_channels, self.n_layers = in_channels, n_layers
        layers: list[nn.Module] = []
        c_in = in_channels
        for i in range(n_layers):
            c_out = width * min(2**i, 8)
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in = c_out
        layers.append(nn.Conv2d(c_in, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    @property
    def receptive_field(self) -> int:
        """Width in input pixels of the patch one logit sees."""
        return 5 * 2**self.n_layers - 2  # 1 + 3 (2^n - 1) from the strided 4x4s, 2^(n+1) the 3x3

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, "images", self.in_channels)
        f = 2**self.n_layers
        if images.shape[2] % f or images.shape[3] % f:
            raise ValueError(
                f"images height and width must be divisible by 2**n_layers = {f}; got "
                f"{images.shape[2]}x{images.shape[3]}"
            )
        return self.net(images)


@dataclass
class SynSinOutput:
    """One forward pass: image (N, 3, S, S) target view in [0, 1]; depth (N, 1, S, S) source
    depth; splat (N, C, S, S) splatted features; coverage (N, 1, S, S) composited alpha;
    warped (N, 3, S, S) the forward-warped source RGB (uncovered pixels from the source)."""

    image: torch.Tensor
    depth: torch.Tensor
    splat: torch.Tensor
    coverage: torch.Tensor
    warped: torch.Tensor


class SynSin(nn.Module):
    """The SynSin model (module docstring).

    Args:
        focal: focal length in NDC units of both cameras.
        depth_min, depth_max: range of the regressed depth.
        channels: C, features per point; blocks: ResNet blocks of encoder and decoder.
        radius: splat radius in NDC units (the paper: 4 pixels of 256, i.e. about 0.03 NDC;
            default 1.5 pixels here); points_per_pixel: K; gamma: alpha falloff exponent.

    forward(images (N, 3, S, S), R (N, 3, 3), T (N, 3)) -> SynSinOutput with
    image (N, 3, S, S) the synthesized target view, depth (N, 1, S, S) the source depth,
    splat (N, C, S, S) the splatted features, coverage (N, 1, S, S), warped (N, 3, S, S).
    """

    def __init__(
        self,
        focal: float = 1.0,
        depth_min: float = 0.5,
        depth_max: float = 6.0,
        channels: int = 32,
        blocks: int = 3,
        radius: float | None = None,
        points_per_pixel: int = 8,
        gamma: float = 1.0,
        depth_width: int = 16,
    ) -> None:
        super().__init__()
        if not focal > 0:
            raise ValueError(f"focal must be > 0; got {focal}")
        self.focal = float(focal)
        self.radius = radius
        self.points_per_pixel = int(points_per_pixel)
        self.gamma = float(gamma)
        self.encoder = FeatureEncoder(channels, blocks)
        self.depth_net = DepthUNet(depth_min, depth_max, depth_width)
        self.decoder = RefinementDecoder(channels, blocks)

    def splat_radius(self, size: int) -> float:
        """The splat radius in NDC for S = size (default: 1.5 pixels)."""
        return float(self.radius) if self.radius is not None else 3.0 / size

    def warp(
        self, features: torch.Tensor, depth: torch.Tensor, R: torch.Tensor, T: torch.Tensor
    ) -> torch.Tensor:
        """Splat per-pixel features (N, C, S, S) with depth (N, 1, S, S) into the target view.

        Returns (N, C + 1, S, S): features and coverage (see `splat_features`).
        """
        _check_images(features, "features")
        n, c, s, _ = features.shape
        if not isinstance(depth, torch.Tensor) or depth.shape != (n, 1, s, features.shape[3]):
            raise ValueError(
                f"depth must be ({n}, 1, {s}, {features.shape[3]}) to match the features; "
                f"got {getattr(depth, 'shape', None)}"
            )
        _check_rel(R, T, n)
        pts = transform_points_rel(lift_to_points(depth, self.focal), R, T)
        feats = features.reshape(n, c, s * s).transpose(1, 2)
        return splat_features(
            project_points(pts, self.focal),
            feats,
            s,
            self.splat_radius(s),
            self.points_per_pixel,
            self.gamma,
        )

    def forward(self, images: torch.Tensor, R: torch.Tensor, T: torch.Tensor) -> SynSinOutput:
        _check_images(images, "images", 3)
        n, _, s, w = images.shape
        if s != w or s % 4:
            raise ValueError(f"images must be square with S divisible by 4; got {s}x{w}")
        _check_rel(R, T, n)
        feats = torch.cat([self.encoder(images), images], 1)  # the RGB rides along
        depth = self.depth_net(images)
        splat = self.warp(feats, depth, R, T)  # (N, C + 3 + 1, S, S)
        cov = splat[:, -1:]
        warped = splat[:, -4:-1] + (1.0 - cov) * images  # uncovered pixels: the source pixel
        image = (warped + self.decoder(splat)).clamp(0.0, 1.0)
        return SynSinOutput(image, depth, splat[:, :-4], cov, warped)
