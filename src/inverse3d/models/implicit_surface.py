"""Networks for implicit surfaces: an SDF network, a colour network, a DVR occupancy network.

- `SDFNetwork`: signed distance (and a geometry feature vector) at points; input the point and,
  optionally, multi-resolution dense or hash feature grids of it (Instant-NGP) whose levels can
  be switched on coarse to fine; a softplus MLP added to the SDF of a sphere of radius
  `init_radius`, so that the field starts as that sphere.
- `ColorNetwork`: RGB from (point, normal, view direction, geometry feature) as in IDR / NeuS.
- `OccupancyNetwork`: DVR's network (Niemeyer et al. 2020): a linear layer 3 -> width, residual
  fully-connected blocks, one occupancy logit and 3 colours (sigmoid).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from inverse3d._validation import check_nonneg_int, check_positive_int, check_tensor
from inverse3d.models.dense_grid import DenseGridEncoding
from inverse3d.models.hash_grid import HashGridEncoding
from inverse3d.renderer.implicit.harmonic_embedding import HarmonicEmbedding

__all__ = ["ColorNetwork", "LearnedSharpness", "OccupancyNetwork", "ResnetBlockFC", "SDFNetwork"]


class SDFNetwork(nn.Module):
    """Signed distance field that starts as a sphere.

    The SDF is ``|p| - init_radius + mlp(p, encoding(p))[0]`` with the MLP's SDF output row
    initialised to zero: the field is the sphere's exact SDF at step 0 (the purpose of the
    geometric initialisation of Atzmon & Lipman, without its error for narrow MLPs).

    Args:
        hidden_dim: width of the MLP.
        n_layers: hidden layers of the MLP (>= 1).
        feature_dim: size of the geometry feature vector returned with the SDF.
        init_radius: the initial field is (approximately) ``|p| - init_radius``.
        encoding: what is concatenated to the point: "grid" (a `DenseGridEncoding`, fast on a
            CPU), "hash" (a `HashGridEncoding`), "harmonic" (`n_harmonic` frequencies) or "none".
        n_levels, log2_hashmap_size, base_resolution, finest_resolution, n_features_per_level:
            the grid / hash encoding's settings.
        bound: half side of the box the encoding covers.
        n_harmonic: positional-encoding frequencies (only with "harmonic").
        beta: softplus sharpness.

    forward(points: (..., 3) float) -> (sdf (..., 1), feature (..., feature_dim)) float.
    `set_active_levels(k)` masks the grid / hash levels >= k (coarse to fine).
    """

    def __init__(
        self,
        hidden_dim: int = 64,
        n_layers: int = 2,
        feature_dim: int = 15,
        init_radius: float = 0.5,
        encoding: str = "grid",
        n_levels: int = 12,
        log2_hashmap_size: int = 17,
        base_resolution: int = 16,
        finest_resolution: int = 512,
        n_features_per_level: int = 2,
        bound: float = 1.0,
        n_harmonic: int = 0,
        beta: float = 100.0,
    ) -> None:
        super().__init__()
        hidden_dim = check_positive_int(hidden_dim, "hidden_dim")
        n_layers = check_positive_int(n_layers, "n_layers")
        self.feature_dim = check_nonneg_int(feature_dim, "feature_dim")
        if encoding not in ("grid", "hash", "harmonic", "none"):
            raise ValueError(
                f"encoding must be 'grid', 'hash', 'harmonic' or 'none'; got {encoding!r}"
            )
        self.encoding: HashGridEncoding | DenseGridEncoding | None = None
        self.harmonic: HarmonicEmbedding | None = None
        d_extra = 0
        if encoding == "hash":
            self.encoding = HashGridEncoding(
                n_levels=n_levels,
                n_features_per_level=n_features_per_level,
                log2_hashmap_size=log2_hashmap_size,
                base_resolution=base_resolution,
                finest_resolution=max(finest_resolution, base_resolution),
                bounds=bound,
            )
            d_extra = self.encoding.output_dim
        elif encoding == "grid":
            self.encoding = DenseGridEncoding(
                n_levels=n_levels,
                n_features_per_level=n_features_per_level,
                base_resolution=base_resolution,
                finest_resolution=max(finest_resolution, base_resolution),
                bound=bound,
            )
            d_extra = self.encoding.output_dim
        elif encoding == "harmonic":
            self.harmonic = HarmonicEmbedding(
                check_positive_int(n_harmonic, "n_harmonic"), append_input=False
            )
            d_extra = self.harmonic.get_output_dim(3)
        self.register_buffer("level_mask", torch.ones(max(d_extra, 1)), persistent=False)
        self.n_active_levels = n_levels if self.encoding is not None else 0
        dims = [3 + d_extra] + [hidden_dim] * n_layers + [1 + self.feature_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.act = nn.Softplus(beta=beta)
        self._geometric_init(init_radius, d_extra)

    @torch.no_grad()
    def _geometric_init(self, radius: float, d_extra: int) -> None:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            d_out = layer.weight.shape[0]
            nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0) / math.sqrt(d_out))
            nn.init.constant_(layer.bias, 0.0)
            if i == 0 and d_extra:
                # The encoding enters with zero weights: the network starts smooth.
                layer.weight[:, 3:] = 0.0
            if i == last:
                # The SDF row starts at zero: the field is exactly the sphere's SDF at step 0.
                layer.weight[0] = 0.0
        self.init_radius = float(radius)

    def set_active_levels(self, k: int) -> None:
        """Use only the hash levels < k (their features; the others are multiplied by 0)."""
        if self.encoding is None:
            return
        k = max(1, min(int(k), self.encoding.n_levels))
        f = self.encoding.n_features_per_level
        self.level_mask.zero_()
        self.level_mask[: k * f] = 1.0
        self.n_active_levels = k

    def forward(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_tensor(points, "points", ("...", 3), "float")
        h = points
        if self.encoding is not None:
            h = torch.cat([points, self.encoding(points) * self.level_mask], -1)
        elif self.harmonic is not None:
            h = torch.cat([points, self.harmonic(points)], -1)
        for layer in self.layers[:-1]:
            h = self.act(layer(h))
        out = self.layers[-1](h)
        sphere = points.norm(dim=-1, keepdim=True) - self.init_radius
        return out[..., :1] + sphere, out[..., 1:]

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 1) float signed distance at points (..., 3)."""
        return self.forward(points)[0]

    def sdf_and_gradient(
        self, points: torch.Tensor, create_graph: bool = True, fd_eps: float | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """sdf (..., 1), its gradient (..., 3) with respect to the points and the feature.

        create_graph: keep the graph of the gradient (for the eikonal loss and the normals'
            effect on the colours); False for evaluation.
        fd_eps: if given, the gradient is a finite difference on the regular tetrahedron
            ``sum_k k f(p + eps k) / (4 eps)``, k in {(1,-1,-1), (-1,-1,1), (-1,1,-1), (1,1,1)}
            (4 more evaluations, only first derivatives of the network needed: the way to go
            with the "grid" encoding, whose interpolation is not twice differentiable).
        """
        if fd_eps is not None:
            k = _TETRA.to(points)  # (4, 3)
            x = points.reshape(-1, 3)
            with torch.set_grad_enabled(create_graph or torch.is_grad_enabled()):
                sdf, feat = self.forward(x)
                offs = (x[None] + fd_eps * k[:, None]).reshape(-1, 3)  # (4 P, 3)
                f_k = self.forward(offs)[0].reshape(4, -1, 1)
                grad = (f_k * k[:, None]).sum(0) / (4.0 * fd_eps)
            if not create_graph:
                sdf, grad, feat = sdf.detach(), grad.detach(), feat.detach()
            lead = points.shape[:-1]
            return sdf.reshape(*lead, 1), grad.reshape(*lead, 3), feat.reshape(*lead, -1)
        with torch.enable_grad():
            x = points if points.requires_grad else points.detach().requires_grad_(True)
            sdf, feat = self.forward(x)
            (grad,) = torch.autograd.grad(
                sdf, x, torch.ones_like(sdf), create_graph=create_graph, retain_graph=create_graph
            )
        return sdf, grad, feat


_TETRA = torch.tensor([[1.0, -1.0, -1.0], [-1.0, -1.0, 1.0], [-1.0, 1.0, -1.0], [1.0, 1.0, 1.0]])


class LearnedSharpness(nn.Module):
    """NeuS's sharpness s = exp(10 * v) of the logistic density, v a trainable scalar.

    forward() -> 0-dim float s, clamped to [1, max_value].
    """

    def __init__(self, init_value: float = 0.3, max_value: float = 1e4) -> None:
        super().__init__()
        self.variance = nn.Parameter(torch.tensor(float(init_value)))
        self.max_value = float(max_value)

    def forward(self) -> torch.Tensor:
        return torch.exp(self.variance * 10.0).clamp(1.0, self.max_value)


class ColorNetwork(nn.Module):
    """RGB in [0, 1] from point, normal, view direction and geometry feature.

    Args:
        feature_dim: size of the geometry feature.
        hidden_dim, n_layers: the MLP (ReLU).
        n_harmonic_dir: frequencies of the view-direction encoding (0: the raw direction).
        view_dependent: False drops the view direction from the input (a Lambertian colour:
            it cannot paint what lies behind a wrong surface differently per view).

    forward(points (..., 3), normals (..., 3), directions (..., 3), features (..., F)) ->
    (..., 3) float. Directions are normalised inside (and ignored without view dependence).
    """

    def __init__(
        self,
        feature_dim: int = 15,
        hidden_dim: int = 64,
        n_layers: int = 2,
        n_harmonic_dir: int = 4,
        view_dependent: bool = True,
    ) -> None:
        super().__init__()
        hidden_dim = check_positive_int(hidden_dim, "hidden_dim")
        if not isinstance(view_dependent, bool):
            raise TypeError(f"view_dependent must be a bool; got {type(view_dependent).__name__}")
        self.view_dependent = view_dependent
        n_layers = check_positive_int(n_layers, "n_layers")
        self.dir_embedding = HarmonicEmbedding(
            check_nonneg_int(n_harmonic_dir, "n_harmonic_dir"), append_input=True
        )
        d_in = (
            3
            + 3
            + (self.dir_embedding.get_output_dim(3) if view_dependent else 0)
            + check_nonneg_int(feature_dim, "feature_dim")
        )
        layers: list[nn.Module] = []
        for _ in range(n_layers):
            layers += [nn.Linear(d_in, hidden_dim), nn.ReLU()]
            d_in = hidden_dim
        layers.append(nn.Linear(d_in, 3))
        self.mlp = nn.Sequential(*layers)

    def forward(
        self,
        points: torch.Tensor,
        normals: torch.Tensor,
        directions: torch.Tensor,
        features: torch.Tensor,
    ) -> torch.Tensor:
        check_tensor(points, "points", ("...", 3), "float")
        parts = [points, normals, features]
        if self.view_dependent:
            d = nn.functional.normalize(directions, dim=-1)
            parts.insert(2, self.dir_embedding(d))
        h = torch.cat(parts, -1)
        return torch.sigmoid(self.mlp(h))


class ResnetBlockFC(nn.Module):
    """x + fc1(relu(fc0(relu(x)))), with fc1 starting at zero (the block starts as identity)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc0 = nn.Linear(width, width)
        self.fc1 = nn.Linear(width, width)
        nn.init.zeros_(self.fc1.weight)
        nn.init.zeros_(self.fc1.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc1(torch.relu(self.fc0(torch.relu(x))))


class OccupancyNetwork(nn.Module):
    """DVR's occupancy and texture network.

    Args:
        width: hidden width (DVR: 512).
        n_blocks: residual blocks (DVR: 5).
        encoding: "none", "harmonic" (`n_harmonic` frequencies) or "hash" (a HashGridEncoding
            with `n_levels` levels, concatenated to the point).
        init_radius: the last layer's bias is set so that the occupancy logit starts positive
            inside a sphere of this radius (0: no such initialisation).

    forward(points: (..., 3) float) -> (logit (..., 1), rgb (..., 3) in [0, 1]) float.
    """

    def __init__(
        self,
        width: int = 512,
        n_blocks: int = 5,
        encoding: str = "none",
        n_harmonic: int = 6,
        n_levels: int = 12,
        bound: float = 1.0,
        init_radius: float = 0.5,
    ) -> None:
        super().__init__()
        width = check_positive_int(width, "width")
        n_blocks = check_nonneg_int(n_blocks, "n_blocks")
        if encoding not in ("none", "harmonic", "hash"):
            raise ValueError(f"encoding must be 'none', 'harmonic' or 'hash'; got {encoding!r}")
        self.encoding_name = encoding
        self.encoder: nn.Module | None = None
        d_in = 3
        if encoding == "harmonic":
            self.encoder = HarmonicEmbedding(check_positive_int(n_harmonic, "n_harmonic"))
            d_in += self.encoder.get_output_dim(3)
        elif encoding == "hash":
            self.encoder = HashGridEncoding(
                n_levels=n_levels, log2_hashmap_size=17, finest_resolution=256, bounds=bound
            )
            d_in += self.encoder.output_dim
        self.fc_p = nn.Linear(d_in, width)
        self.blocks = nn.ModuleList(ResnetBlockFC(width) for _ in range(n_blocks))
        self.fc_out = nn.Linear(width, 4)
        self.init_radius = float(init_radius)

    def forward(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_tensor(points, "points", ("...", 3), "float")
        if points.numel() == 0:
            lead = points.shape[:-1]
            return points.new_zeros(*lead, 1), points.new_zeros(*lead, 3)
        h = points
        if self.encoder is not None:
            h = torch.cat([points, self.encoder(points)], -1)
        h = self.fc_p(h)
        for block in self.blocks:
            h = block(h)
        out = self.fc_out(torch.relu(h))
        logit = out[..., :1]
        if self.init_radius > 0:
            # A sphere prior in the logit: r0 - |p| scaled, so the field starts as a ball.
            logit = logit + 10.0 * (self.init_radius - points.norm(dim=-1, keepdim=True))
        return logit, torch.sigmoid(out[..., 1:])

    def occupancy_logit(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 1) float occupancy logit at points (..., 3)."""
        return self.forward(points)[0]
