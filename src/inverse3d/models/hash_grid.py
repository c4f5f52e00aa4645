"""Multi-resolution hash encoding (Instant-NGP, Mueller et al. 2022), pure PyTorch reference.

Level l (0 <= l < L) divides the unit cube (the ``bounds`` box, rescaled) into ``N_l`` cells
per axis, ``N_l = floor(base_resolution * b**l)``, with vertices at integer coordinates
``0..N_l``. Each vertex owns a trainable feature vector of size F stored in the level's table:

- if the level's ``(N_l + 1)**D`` vertices fit in the table size ``T = 2**log2_hashmap_size``
  the table is dense, indexed ``i_0 + (N_l + 1) i_1 + (N_l + 1)**2 i_2`` (no collisions);
- otherwise the vertex is hashed with the paper's primes,
  ``(i_0 * 1) xor (i_1 * 2654435761) xor (i_2 * 805459861) mod T`` (identical to the uint32
  arithmetic of the fused kernel, since T is a power of two).

The encoding of a point is the concatenation over levels of the D-linear (trilinear in 3D)
interpolation of its cell's 2**D vertex features: (..., L * F). Tables start ``U(-1e-4, 1e-4)``.
On CUDA (float32, 3D, points not requiring a gradient) a fused Triton kernel computes the same
function and its table gradient (`models/_triton/hash_grid.py`, chosen by `_dispatch`).

`HashGridField` puts a tiny MLP on top: density and colour for `inverse3d.models.nerf.NeRF`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from inverse3d._dispatch import use_triton
from inverse3d._validation import check_nonneg_int, check_positive_int, check_tensor
from inverse3d.models._bounds import bounds_tensor
from inverse3d.renderer.implicit.harmonic_embedding import HarmonicEmbedding

__all__ = ["HashGridEncoding", "HashGridField", "PRIMES"]

PRIMES = (1, 2654435761, 805459861)


class HashGridEncoding(nn.Module):
    """Instant-NGP multi-resolution hash encoding (see the module docstring).

    Args:
        n_levels: L.
        n_features_per_level: F.
        log2_hashmap_size: log2 of the table size T of each level.
        base_resolution: cells per axis of the coarsest level.
        per_level_scale: growth factor b between levels (ignored if finest_resolution is set).
        finest_resolution: if given, b = (finest / base) ** (1 / (L - 1)).
        bounds: the box mapped to the unit cube: a half-size s (box [-s, s]^D) or (2, D)
            [min, max]. Points outside are clamped to it.
        in_dim: D, 1 to 3.
        init_scale: tables start U(-init_scale, init_scale).

    forward(x: (..., D) float) -> (..., L * F) float, level-major (level 0's F features first).
    """

    def __init__(
        self,
        n_levels: int = 16,
        n_features_per_level: int = 2,
        log2_hashmap_size: int = 19,
        base_resolution: int = 16,
        per_level_scale: float = 1.5,
        finest_resolution: int | None = None,
        bounds: float | Sequence = 1.0,
        in_dim: int = 3,
        init_scale: float = 1e-4,
    ) -> None:
        super().__init__()
        self.n_levels = check_positive_int(n_levels, "n_levels")
        self.n_features_per_level = check_positive_int(n_features_per_level, "n_features_per_level")
        self.log2_hashmap_size = check_positive_int(log2_hashmap_size, "log2_hashmap_size")
        if self.log2_hashmap_size > 30:
            raise ValueError(f"log2_hashmap_size must be <= 30; got {log2_hashmap_size}")
        self.base_resolution = check_positive_int(base_resolution, "base_resolution")
        self.in_dim = check_positive_int(in_dim, "in_dim")
        if self.in_dim > 3:
            raise ValueError(f"in_dim must be 1, 2 or 3; got {in_dim}")
        if finest_resolution is not None:
            finest = check_positive_int(finest_resolution, "finest_resolution")
            if finest < self.base_resolution:
                raise ValueError(
                    f"finest_resolution must be >= base_resolution ({base_resolution}); got {finest}"
                )
            per_level_scale = (
                math.exp(math.log(finest / self.base_resolution) / (self.n_levels - 1))
                if self.n_levels > 1
                else 1.0
            )
        if not float(per_level_scale) >= 1.0:
            raise ValueError(f"per_level_scale must be >= 1; got {per_level_scale}")
        self.per_level_scale = float(per_level_scale)
        self.register_buffer("bounds", bounds_tensor(bounds, self.in_dim))
        T = 2**self.log2_hashmap_size
        resolutions, sizes, dense = [], [], []
        for level in range(self.n_levels):
            res = int(math.floor(self.base_resolution * self.per_level_scale**level + 1e-6))
            n_vertices = (res + 1) ** self.in_dim
            resolutions.append(res)
            dense.append(n_vertices <= T)
            sizes.append(min(n_vertices, T))
        self.resolutions = resolutions
        self.dense_levels = dense
        self.table_sizes = sizes
        offsets = [0]
        for s in sizes:
            offsets.append(offsets[-1] + s)
        self.offsets = offsets
        self.embeddings = nn.Parameter(
            torch.empty(offsets[-1], self.n_features_per_level).uniform_(-init_scale, init_scale)
        )
        # 2^D corners as 0/1 offsets: (2^D, D)
        corners = torch.tensor(
            [[(c >> d) & 1 for d in range(self.in_dim)] for c in range(2**self.in_dim)]
        )
        self.register_buffer("_corners", corners, persistent=False)

    @property
    def output_dim(self) -> int:
        return self.n_levels * self.n_features_per_level

    def vertex_index(self, level: int, vertices: torch.Tensor) -> torch.Tensor:
        """Row (within the level's table) of integer grid vertices.

        Args:
            level: 0 <= level < L.
            vertices: (..., D) int64 vertex coordinates in [0, N_level].

        Returns:
            (...) int64 in [0, table_sizes[level]).
        """
        res, size = self.resolutions[level], self.table_sizes[level]
        v = vertices.long()
        if self.dense_levels[level]:
            stride = 1
            idx = torch.zeros_like(v[..., 0])
            for d in range(self.in_dim):
                idx = idx + v[..., d] * stride
                stride *= res + 1
            return idx
        idx = v[..., 0] * PRIMES[0]
        for d in range(1, self.in_dim):
            idx = torch.bitwise_xor(idx, v[..., d] * PRIMES[d])
        return torch.bitwise_and(idx, size - 1)  # size is a power of two

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Map points of the bounds box to [0, 1]^D (clamped): (..., D) -> (..., D)."""
        lo, hi = self.bounds[0].to(x.dtype), self.bounds[1].to(x.dtype)
        return ((x - lo) / (hi - lo)).clamp(0.0, 1.0)

    def _fused_ok(self, x: torch.Tensor) -> bool:
        """The Triton kernel applies: 3D, float32, CUDA, no gradient wanted for the points."""
        if self.in_dim != 3 or x.dtype != torch.float32 or self.embeddings.dtype != torch.float32:
            return False
        if x.requires_grad and torch.is_grad_enabled():
            return False
        return use_triton(x, self.embeddings)

    def _level_params(self, device: torch.device) -> tuple:
        cached = getattr(self, "_params_cache", None)
        if cached is None or cached[0].device != device:
            from inverse3d.models._triton.hash_grid import level_params

            cached = level_params(
                self.resolutions, self.offsets, self.table_sizes, self.dense_levels, device
            )
            self._params_cache = cached
        return cached

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", shape=("...", self.in_dim), dtype="float")
        lead = x.shape[:-1]
        u = self.normalize(x.reshape(-1, self.in_dim))  # (P, D)
        if self._fused_ok(x):
            from inverse3d.models._triton.hash_grid import hash_encode

            out = hash_encode(u, self.embeddings, self._level_params(x.device))
            return out.reshape(*lead, self.output_dim)
        table = self.embeddings.to(x.dtype) if self.embeddings.dtype != x.dtype else self.embeddings
        corners = self._corners  # (C, D), C = 2^D
        outs = []
        for level in range(self.n_levels):
            res = self.resolutions[level]
            pos = u * res  # (P, D)
            cell = pos.detach().floor().clamp(0, res - 1)
            frac = pos - cell  # (P, D) in [0, 1]
            verts = cell.long()[:, None, :] + corners  # (P, C, D)
            # D-linear weights: prod_d (frac_d if corner_d else 1 - frac_d)
            w = torch.where(corners.bool(), frac[:, None, :], 1.0 - frac[:, None, :]).prod(-1)
            rows = self.vertex_index(level, verts) + self.offsets[level]  # (P, C)
            feats = table[rows]  # (P, C, F)
            outs.append((w[..., None] * feats).sum(1))  # (P, F)
        return torch.cat(outs, dim=-1).reshape(*lead, self.output_dim)

    def extra_repr(self) -> str:
        return (
            f"levels={self.n_levels}, F={self.n_features_per_level}, "
            f"T=2^{self.log2_hashmap_size}, resolutions={self.resolutions[0]}..."
            f"{self.resolutions[-1]}"
        )


def _mlp(d_in: int, d_hidden: int, d_out: int, n_hidden: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(n_hidden):
        layers += [nn.Linear(d, d_hidden), nn.ReLU()]
        d = d_hidden
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


class HashGridField(nn.Module):
    """A radiance field: hash encoding, a tiny density MLP, a view-dependent colour MLP.

    ``sigma = softplus(raw - 1)`` (>= 0; the shift starts the field nearly empty) and
    ``rgb = sigmoid(colour_mlp([geometry features, harmonic(direction)]))``.

    Args:
        encoding: a `HashGridEncoding` (None: one with the defaults and ``bounds``).
        bounds: the scene box when ``encoding`` is None.
        hidden_dim: width of both MLPs.
        geo_feat_dim: features passed from the density MLP to the colour MLP.
        n_harmonic_functions_dir: frequencies of the direction encoding.
        appearance_dim: A, the size of an appearance latent fed to the colour MLP alone
            (NeRF-W's per-image appearance embedding: exposure, white balance); 0 for none.

    forward(points: (..., 3) float, directions: (..., 3) float | None, appearance: (..., A)
    float | None) -> (sigma (..., 1), rgb (..., 3)) float. Directions need not be unit (they are
    normalised); None gives colours for direction (0, 0, 1). appearance broadcasts against the
    points; None is the zero latent. ``density(points)`` returns sigma alone (the latent never
    changes the geometry).
    """

    def __init__(
        self,
        encoding: HashGridEncoding | None = None,
        bounds: float | Sequence = 1.0,
        hidden_dim: int = 64,
        geo_feat_dim: int = 15,
        n_harmonic_functions_dir: int = 4,
        appearance_dim: int = 0,
    ) -> None:
        super().__init__()
        self.appearance_dim = check_nonneg_int(appearance_dim, "appearance_dim")
        self.encoding = encoding if encoding is not None else HashGridEncoding(bounds=bounds)
        hidden_dim = check_positive_int(hidden_dim, "hidden_dim")
        self.geo_feat_dim = check_positive_int(geo_feat_dim, "geo_feat_dim")
        self.density_mlp = _mlp(self.encoding.output_dim, hidden_dim, 1 + self.geo_feat_dim, 1)
        self.dir_embedding = HarmonicEmbedding(n_harmonic_functions_dir, append_input=True)
        d_dir = self.dir_embedding.get_output_dim(3)
        self.color_mlp = _mlp(self.geo_feat_dim + d_dir + self.appearance_dim, hidden_dim, 3, 2)

    def _geometry(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.density_mlp(self.encoding(points))
        sigma = torch.nn.functional.softplus(h[..., :1] - 1.0)
        return sigma, h[..., 1:]

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """sigma: (..., 1) float >= 0 at points (..., 3)."""
        return self._geometry(points)[0]

    def forward(
        self,
        points: torch.Tensor,
        directions: torch.Tensor | None = None,
        appearance: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        check_tensor(points, "points", shape=("...", 3), dtype="float")
        sigma, geo = self._geometry(points)
        if directions is None:
            directions = points.new_tensor([0.0, 0.0, 1.0]).expand(points.shape)
        else:
            check_tensor(directions, "directions", shape=("...", 3), dtype="float")
            directions = directions.expand(points.shape)
        d = torch.nn.functional.normalize(directions, dim=-1)
        parts = [geo, self.dir_embedding(d)]
        if self.appearance_dim > 0:
            a = self.appearance_dim
            if appearance is None:
                appearance = geo.new_zeros(a)
            check_tensor(appearance, "appearance", shape=("...", a), dtype="float")
            parts.append(appearance.to(geo.dtype).expand(*geo.shape[:-1], a))
        elif appearance is not None:
            raise ValueError("appearance given to a field made with appearance_dim=0")
        rgb = torch.sigmoid(self.color_mlp(torch.cat(parts, dim=-1)))
        return sigma, rgb
