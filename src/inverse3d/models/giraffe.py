"""GIRAFFE: compositional generative neural feature fields (Niemeyer and Geiger, CVPR 2021).

A scene is K objects and a background. Each is a feature field: an MLP that maps a point
(positional encoding) and a shape latent code to a density sigma >= 0, and, with an appearance
latent code, to a C-channel feature. An object's field lives in its own canonical frame: a
world point p is mapped to ``R_y(theta)^T (p - c) / s`` (scale s, centre c, rotation theta
about the y axis) and the object has zero density outside the canonical box [-1, 1]^3 (so an
object's extent is s and its place is c). The fields are composed by `composite_fields`
(densities add, features are the density-weighted mean), volume rendered along camera rays
at low resolution (16 x 16 by default) with our emission-absorption weights, and a 2D neural
renderer upsamples the feature image to an RGB image (32 x 32 or 64 x 64). `GiraffeDiscriminator`
is a small convolutional discriminator.

Camera: PyTorch3D view frame (camera at the origin looking along +z, +x left, +y up) with focal
length `focal` in NDC; objects sit around depth `depth`. Density does not depend on the
appearance code, so changing it leaves the silhouette (`object_opacity`) exactly unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from inverse3d._validation import check_positive_int, check_tensor
from inverse3d.renderer.cameras import PerspectiveCameras
from inverse3d.renderer.implicit.harmonic_embedding import HarmonicEmbedding
from inverse3d.renderer.implicit.raysampling import NDCMultinomialRaysampler
from inverse3d.renderer.implicit.weights import emission_absorption_weights

__all__ = [
    "GiraffeDiscriminator",
    "GiraffeGenerator",
    "NeuralRenderer",
    "ObjectPoses",
    "PoseRanges",
    "SceneCodes",
    "composite_fields",
    "FeatureField",
    "rotation_y",
]


def composite_fields(
    sigmas: list[torch.Tensor], features: list[torch.Tensor], eps: float = 1e-8
) -> tuple[torch.Tensor, torch.Tensor]:
    """GIRAFFE's composition operator of K fields at the same points.

    sigmas: K tensors (..., P) float >= 0; features: K tensors (..., P, C) float.
    Returns (sigma (..., P) = sum_k sigma_k, feature (..., P, C) = sum_k sigma_k f_k / sigma),
    the feature being the plain mean of the f_k where every sigma_k is 0.
    """
    if not isinstance(sigmas, (list, tuple)) or not isinstance(features, (list, tuple)):
        raise TypeError("sigmas and features must be lists of tensors")
    if len(sigmas) == 0 or len(sigmas) != len(features):
        raise ValueError(
            f"sigmas and features must be non-empty lists of equal length; got {len(sigmas)} "
            f"and {len(features)}"
        )
    for k, (s, f) in enumerate(zip(sigmas, features)):
        check_tensor(s, f"sigmas[{k}]", dtype="float")
        check_tensor(f, f"features[{k}]", dtype="float")
        if f.shape[:-1] != s.shape or s.shape != sigmas[0].shape or f.shape != features[0].shape:
            raise ValueError(
                f"features[{k}] must be sigmas[{k}].shape + (C,) and all fields alike; got "
                f"{tuple(s.shape)} and {tuple(f.shape)} (field 0: {tuple(sigmas[0].shape)}, "
                f"{tuple(features[0].shape)})"
            )
    sigma = torch.stack(list(sigmas)).sum(0)
    w = torch.stack(list(sigmas))[..., None]  # (K, ..., P, 1)
    f = torch.stack(list(features))
    weighted = (w * f).sum(0)
    mean = f.mean(0)
    total = sigma[..., None]
    return sigma, torch.where(total > eps, weighted / total.clamp_min(eps), mean)


def rotation_y(theta: torch.Tensor) -> torch.Tensor:
    """Rotations about the y axis: theta (...,) float radians -> (..., 3, 3)."""
    check_tensor(theta, "theta", dtype="float")
    c, s = torch.cos(theta), torch.sin(theta)
    z, o = torch.zeros_like(theta), torch.ones_like(theta)
    return torch.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(*theta.shape, 3, 3)


@dataclass
class PoseRanges:
    """Ranges the object poses are sampled from (uniformly): scale s, translation (offsets of
    the centre from (0, 0, depth), view frame), rotation about y (radians)."""

    scale: tuple[float, float] = (0.6, 0.9)
    tx: tuple[float, float] = (-0.5, 0.5)
    ty: tuple[float, float] = (-0.5, 0.5)
    tz: tuple[float, float] = (-0.3, 0.3)
    rotation: tuple[float, float] = (0.0, 2 * math.pi)

    def __post_init__(self) -> None:
        for name in ("scale", "tx", "ty", "tz", "rotation"):
            lo, hi = (float(v) for v in getattr(self, name))
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ValueError(f"PoseRanges.{name} must be (low, high) with low <= high; got "
                                 f"{getattr(self, name)!r}")  # fmt: skip
            setattr(self, name, (lo, hi))
        if self.scale[0] <= 0:
            raise ValueError(f"PoseRanges.scale must be positive; got {self.scale!r}")


@dataclass
class ObjectPoses:
    """Poses of K objects in N scenes: scale (N, K), translation (N, K, 3) (offset from
    (0, 0, depth)), rotation (N, K) radians about y."""

    scale: torch.Tensor
    translation: torch.Tensor
    rotation: torch.Tensor

    @staticmethod
    def sample(
        n: int, k: int, ranges: PoseRanges, generator: torch.Generator | None = None
    ) -> ObjectPoses:
        """N x K poses drawn uniformly from `ranges` (on the CPU)."""
        n, k = check_positive_int(n, "n"), check_positive_int(k, "k")

        def u(r: tuple[float, float], *shape: int) -> torch.Tensor:
            return r[0] + (r[1] - r[0]) * torch.rand(*shape, generator=generator)

        t = torch.stack([u(ranges.tx, n, k), u(ranges.ty, n, k), u(ranges.tz, n, k)], -1)
        return ObjectPoses(u(ranges.scale, n, k), t, u(ranges.rotation, n, k))

    def to(self, device: torch.device | str) -> ObjectPoses:
        return ObjectPoses(*(x.to(device) for x in (self.scale, self.translation, self.rotation)))


@dataclass
class SceneCodes:
    """Latent codes of N scenes with K objects: shape (N, K, Z), appearance (N, K, Z),
    bg_shape (N, Z), bg_appearance (N, Z)."""

    shape: torch.Tensor
    appearance: torch.Tensor
    bg_shape: torch.Tensor
    bg_appearance: torch.Tensor

    @staticmethod
    def sample(n: int, k: int, z_dim: int, generator: torch.Generator | None = None) -> SceneCodes:
        """Standard normal codes (on the CPU)."""
        n, k, z = (check_positive_int(v, m) for v, m in ((n, "n"), (k, "k"), (z_dim, "z_dim")))
        r = lambda *s: torch.randn(*s, generator=generator)  # noqa: E731
        return SceneCodes(r(n, k, z), r(n, k, z), r(n, z), r(n, z))

    def to(self, device: torch.device | str) -> SceneCodes:
        return SceneCodes(
            *(
                x.to(device)
                for x in (self.shape, self.appearance, self.bg_shape, self.bg_appearance)
            )
        )


class FeatureField(nn.Module):
    """A feature field: (points (N, P, 3), z_shape (N, Z), z_app (N, Z)) -> (sigma (N, P) >= 0,
    feature (N, P, C)). sigma depends on the points and z_shape only."""

    def __init__(self, z_dim: int = 32, hidden: int = 64, feat_dim: int = 16, n_harmonic: int = 6):
        super().__init__()
        self.z_dim = check_positive_int(z_dim, "z_dim")
        hidden = check_positive_int(hidden, "hidden")
        self.feat_dim = check_positive_int(feat_dim, "feat_dim")
        self.embed = HarmonicEmbedding(n_harmonic, append_input=True)
        d_in = 3 * (2 * n_harmonic + 1)
        self.trunk = nn.Sequential(
            nn.Linear(d_in + z_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
        )  # fmt: skip
        self.sigma_head = nn.Linear(hidden, 1)
        self.feat_head = nn.Sequential(
            nn.Linear(hidden + z_dim, hidden), nn.ReLU(), nn.Linear(hidden, feat_dim)
        )

    def forward(
        self, points: torch.Tensor, z_shape: torch.Tensor, z_app: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        check_tensor(points, "points", (None, None, 3), dtype="float")
        n, p = points.shape[:2]
        check_tensor(z_shape, "z_shape", (n, self.z_dim), dtype="float")
        check_tensor(z_app, "z_app", (n, self.z_dim), dtype="float")
        h = self.trunk(torch.cat([self.embed(points), z_shape[:, None].expand(n, p, -1)], -1))
        sigma = nn.functional.softplus(self.sigma_head(h)[..., 0])
        feat = self.feat_head(torch.cat([h, z_app[:, None].expand(n, p, -1)], -1))
        return sigma, feat


class NeuralRenderer(nn.Module):
    """2D neural renderer: feature image (N, C, h, w) -> RGB (N, 3, h * 2**n_up, w * 2**n_up)
    in [0, 1] (nearest upsampling + 3x3 convolutions, RGB skip connections at every scale)."""

    def __init__(self, feat_dim: int = 16, n_up: int = 1, width: int = 64):
        super().__init__()
        self.feat_dim = check_positive_int(feat_dim, "feat_dim")
        self.n_up = int(n_up)
        if self.n_up < 0 or self.n_up > 3:
            raise ValueError(f"n_up must be in 0..3; got {n_up}")
        width = check_positive_int(width, "width")
        self.inp = nn.Conv2d(feat_dim, width, 3, padding=1)
        self.blocks = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(self.n_up))
        self.to_rgb = nn.ModuleList(nn.Conv2d(width, 3, 3, padding=1) for _ in range(self.n_up + 1))

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        check_tensor(feat, "feat", (None, self.feat_dim, None, None), dtype="float")
        up = lambda x: nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")  # noqa: E731
        x = nn.functional.leaky_relu(self.inp(feat), 0.2)
        rgb = self.to_rgb[0](x)
        for block, to_rgb in zip(self.blocks, self.to_rgb[1:]):
            x = nn.functional.leaky_relu(block(up(x)), 0.2)
            rgb = up(rgb) + to_rgb(x)
        return torch.sigmoid(rgb)


class GiraffeDiscriminator(nn.Module):
    """Small convolutional discriminator: images (N, 3, S, S) -> logits (N,); S = 16 * 2**k."""

    def __init__(self, image_size: int = 32, width: int = 32):
        super().__init__()
        self.image_size = check_positive_int(image_size, "image_size")
        if image_size < 16 or image_size & (image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 16; got {image_size}")
        width = check_positive_int(width, "width")
        layers: list[nn.Module] = []
        c_in, s = 3, image_size
        while s > 4:
            c_out = min(width * (image_size // s), 8 * width)
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in, s = c_out, s // 2
        self.net = nn.Sequential(*layers)
        self.out = nn.Linear(c_in * 16, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        S = self.image_size
        check_tensor(images, "images", (None, 3, S, S), dtype="float")
        return self.out(self.net(images).flatten(1))[:, 0]


class GiraffeGenerator(nn.Module):
    """Latent codes + object poses -> images, through composed feature fields.

    Args:
        n_objects: K objects per scene; z_dim: latent code size; hidden: MLP width;
        feat_dim: feature channels C; feature_size: h = w of the volume-rendered feature image;
        image_size: output size (feature_size * 2**k, k in 0..3); n_samples: points per ray;
        focal: NDC focal length; depth: distance of the scene centre from the camera;
        near, far: ray depth range (the background fills it); pose_ranges: `PoseRanges`.
    """

    def __init__(
        self,
        n_objects: int = 1,
        z_dim: int = 32,
        hidden: int = 64,
        feat_dim: int = 16,
        feature_size: int = 16,
        image_size: int = 32,
        n_samples: int = 24,
        focal: float = 2.0,
        depth: float = 4.0,
        near: float = 2.5,
        far: float = 5.5,
        pose_ranges: PoseRanges | None = None,
    ):
        super().__init__()
        self.n_objects = check_positive_int(n_objects, "n_objects")
        self.z_dim = check_positive_int(z_dim, "z_dim")
        self.feature_size = check_positive_int(feature_size, "feature_size")
        self.image_size = check_positive_int(image_size, "image_size")
        ratio = self.image_size // self.feature_size
        if ratio * self.feature_size != self.image_size or ratio not in (1, 2, 4, 8):
            raise ValueError(
                f"image_size must be feature_size times 1, 2, 4 or 8; got {image_size} and "
                f"{feature_size}"
            )
        self.n_samples = check_positive_int(n_samples, "n_samples")
        if not (0 < near < far) or not (near < depth < far) or focal <= 0:
            raise ValueError(
                f"need focal > 0 and 0 < near < depth < far; got focal {focal}, near {near}, "
                f"depth {depth}, far {far}"
            )
        self.focal, self.depth, self.near, self.far = float(focal), float(depth), near, far
        self.pose_ranges = pose_ranges or PoseRanges()
        self.objects = FeatureField(z_dim, hidden, feat_dim)  # shared by the K objects
        self.background = FeatureField(z_dim, hidden, feat_dim, n_harmonic=2)
        self.renderer = NeuralRenderer(feat_dim, int(math.log2(ratio)), width=max(hidden, 32))
        self.raysampler = NDCMultinomialRaysampler(
            image_width=self.feature_size,
            image_height=self.feature_size,
            n_pts_per_ray=self.n_samples,
            min_depth=near,
            max_depth=far,
        )

    def sample_latents(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[SceneCodes, ObjectPoses]:
        """Codes and poses of n random scenes (on the module's device)."""
        dev = self.background.sigma_head.weight.device
        codes = SceneCodes.sample(n, self.n_objects, self.z_dim, generator)
        poses = ObjectPoses.sample(n, self.n_objects, self.pose_ranges, generator)
        return codes.to(dev), poses.to(dev)

    def rays(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Points (n, h*w, S, 3), segment lengths (n, h*w, S) and NDC pixel coordinates
        (h*w, 2) (+x left, +y up) of the feature image's rays (camera at the origin)."""
        dev = self.background.sigma_head.weight.device
        cams = PerspectiveCameras(focal_length=self.focal, device=dev)
        b = self.raysampler(cams)
        d = b.directions.reshape(-1, 1, 3)
        t = b.lengths.reshape(-1, self.n_samples)
        pts = d * t[..., None]  # origins are 0
        delta = torch.cat([t[:, 1:] - t[:, :-1], torch.full_like(t[:, :1], 1e10)], -1)
        delta = delta * d.norm(dim=-1)
        rep = lambda x: x[None].expand(n, *x.shape)  # noqa: E731
        return rep(pts), rep(delta), b.xys.reshape(-1, 2)

    def object_fields(
        self, points: torch.Tensor, codes: SceneCodes, poses: ObjectPoses
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Each object's (sigma (N, P), feature (N, P, C)) at world points (N, P, 3)."""
        n = points.shape[0]
        check_tensor(points, "points", (n, None, 3), dtype="float")
        check_tensor(poses.scale, "poses.scale", (n, self.n_objects), dtype="float")
        check_tensor(poses.translation, "poses.translation", (n, self.n_objects, 3))
        check_tensor(poses.rotation, "poses.rotation", (n, self.n_objects), dtype="float")
        check_tensor(codes.shape, "codes.shape", (n, self.n_objects, self.z_dim), dtype="float")
        check_tensor(codes.appearance, "codes.appearance", (n, self.n_objects, self.z_dim))
        sigmas, feats = [], []
        centre0 = points.new_tensor([0.0, 0.0, self.depth])
        for k in range(self.n_objects):
            c = poses.translation[:, k] + centre0
            R = rotation_y(poses.rotation[:, k])
            local = ((points - c[:, None]) @ R) / poses.scale[:, k, None, None]  # R^T (p - c) / s
            s, f = self.objects(local, codes.shape[:, k], codes.appearance[:, k])
            inside = (local.abs() <= 1.0).all(-1)
            sigmas.append(s * inside)
            feats.append(f)
        return sigmas, feats

    def render_features(
        self,
        codes: SceneCodes,
        poses: ObjectPoses,
        objects_only: bool = False,
        only: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Volume-rendered (feature image (N, C, h, w), opacity (N, h, w)).

        With objects_only the background is left out: the opacity is then the objects'
        silhouette, 1 - prod_i (1 - alpha_i) along each ray. With `only` = k, object k is the
        only object rendered (the others are left out, not occluding it).
        """
        if only is not None and not (isinstance(only, int) and 0 <= only < self.n_objects):
            raise ValueError(f"only must be None or an object index in 0..{self.n_objects - 1}; "
                             f"got {only!r}")  # fmt: skip
        n = codes.bg_shape.shape[0]
        check_tensor(codes.bg_shape, "codes.bg_shape", (n, self.z_dim), dtype="float")
        pts, delta, _ = self.rays(n)
        r, s = pts.shape[1], self.n_samples
        flat = pts.reshape(n, r * s, 3)
        sigmas, feats = self.object_fields(flat, codes, poses)
        if only is not None:
            sigmas, feats = [sigmas[only]], [feats[only]]
        if not objects_only:
            bs, bf = self.background(flat / self.far, codes.bg_shape, codes.bg_appearance)
            sigmas.append(bs)
            feats.append(bf)
        sigma, feat = composite_fields(sigmas, feats)
        alpha = 1.0 - torch.exp(-sigma.reshape(n, r, s) * delta)
        w = emission_absorption_weights(alpha)  # (n, r, s)
        h = self.feature_size
        img = (w[..., None] * feat.reshape(n, r, s, -1)).sum(2)
        return img.permute(0, 2, 1).reshape(n, -1, h, h), w.sum(-1).reshape(n, h, h)

    def object_opacity(self, codes: SceneCodes, poses: ObjectPoses) -> torch.Tensor:
        """The objects' silhouette (N, h, w) in [0, 1] at the feature resolution."""
        return self.render_features(codes, poses, objects_only=True)[1]

    def forward(self, codes: SceneCodes, poses: ObjectPoses) -> torch.Tensor:
        """Images (N, 3, S, S) in [0, 1]."""
        return self.renderer(self.render_features(codes, poses)[0])
