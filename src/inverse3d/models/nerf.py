"""Neural radiance fields: the book's `NeuralRadianceField` and a full coarse + fine `NeRF`.

`NeuralRadianceField` is the network of PyTorch3D's "fit a simple neural radiance field"
tutorial (used in the book): a harmonic embedding of the points (frequencies ``0.1 * 2**j``,
sines then cosines, no raw input), a two-layer softplus MLP, a density head
``1 - exp(-softplus(.))`` (an opacity in [0, 1], what `EmissionAbsorptionRaymarcher` takes) and a
colour head that also sees the embedded ray direction. It plugs into `ImplicitRenderer` as the
``volumetric_function``.

`NeRF` renders rays through any *field* ``f(points (..., 3), directions (..., 3)) -> (sigma
(..., 1) >= 0, rgb (..., 3))`` with physical densities sigma (a module with a ``query`` method
is called through it, so a `NeuralRadianceField` works as a field too): stratified coarse
samples, inverse-CDF fine samples from the coarse weights (``sample_pdf``), quadrature
``alpha_k = 1 - exp(-sigma_k delta_k |d|)``, compositing over a background colour, and optional
empty-space skipping through an `OccupancyGrid`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from inverse3d._validation import check_positive_int, check_tensor
from inverse3d.renderer.implicit.harmonic_embedding import HarmonicEmbedding
from inverse3d.renderer.implicit.sample_pdf import sample_pdf
from inverse3d.renderer.implicit.utils import RayBundle, ray_bundle_to_ray_points
from inverse3d.renderer.implicit.weights import emission_absorption_weights

__all__ = ["NeuralRadianceField", "NeRF", "volume_render_weights"]


class NeuralRadianceField(nn.Module):
    """The book's NeRF network (see the module docstring).

    Args:
        n_harmonic_functions: frequencies of the harmonic embedding (L; the embedding has
            2 * 3 * L dimensions).
        n_hidden_neurons: width of the MLPs.
        omega_0: base frequency of the embedding (the book's 0.1).

    forward(ray_bundle, **kwargs) -> (densities (..., S, 1) in [0, 1], colors (..., S, 3) in
    [0, 1]) for the rays' points ``(..., S, 3)``. ``query(points, directions)`` gives the
    underlying non-negative density (before ``1 - exp(-.)``) and the colours, the field
    protocol of `NeRF`.
    """

    def __init__(
        self, n_harmonic_functions: int = 60, n_hidden_neurons: int = 256, omega_0: float = 0.1
    ) -> None:
        super().__init__()
        L = check_positive_int(n_harmonic_functions, "n_harmonic_functions")
        H = check_positive_int(n_hidden_neurons, "n_hidden_neurons")
        self.harmonic_embedding = HarmonicEmbedding(L, omega_0=omega_0, append_input=False)
        d_embed = self.harmonic_embedding.get_output_dim(3)  # 6 L
        self.mlp = nn.Sequential(
            nn.Linear(d_embed, H), nn.Softplus(beta=10.0), nn.Linear(H, H), nn.Softplus(beta=10.0)
        )
        self.color_layer = nn.Sequential(
            nn.Linear(H + d_embed, H), nn.Softplus(beta=10.0), nn.Linear(H, 3), nn.Sigmoid()
        )
        self.density_layer = nn.Sequential(nn.Linear(H, 1), nn.Softplus(beta=10.0))
        with torch.no_grad():
            # start with a nearly transparent volume (as the book does)
            self.density_layer[0].bias.fill_(-1.5)

    def _features(self, points: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.harmonic_embedding(points))

    def _colors(self, features: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
        """features (..., S, H), directions (..., 3) -> colours (..., S, 3)."""
        d = nn.functional.normalize(directions, dim=-1)
        emb = self.harmonic_embedding(d)  # (..., 6 L)
        emb = emb[..., None, :].expand(*features.shape[:-1], emb.shape[-1])
        return self.color_layer(torch.cat((features, emb), dim=-1))

    def query(
        self, points: torch.Tensor, directions: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """sigma (..., 1) >= 0 and rgb (..., 3) at points (..., 3) seen along directions (..., 3)."""
        check_tensor(points, "points", shape=("...", 3), dtype="float")
        features = self._features(points)
        sigma = self.density_layer(features)
        if directions is None:
            directions = points.new_tensor([0.0, 0.0, 1.0]).expand(points.shape)
        check_tensor(directions, "directions", shape=("...", 3), dtype="float")
        directions = directions.expand(points.shape)
        rgb = self._colors(features[..., None, :], directions)[..., 0, :]
        return sigma, rgb

    def forward(self, ray_bundle: RayBundle, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        points = ray_bundle_to_ray_points(ray_bundle)  # (..., S, 3)
        features = self._features(points)  # (..., S, H)
        densities = 1.0 - torch.exp(-self.density_layer(features))
        colors = self._colors(features, ray_bundle.directions)
        return densities, colors

    def batched_forward(
        self, ray_bundle: RayBundle, n_batches: int = 16, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward` over ``n_batches`` chunks of rays (to render full images in bounded memory).

        Returns the same (densities (..., S, 1), colors (..., S, 3)) as `forward`.
        """
        n_batches = check_positive_int(n_batches, "n_batches")
        lead = ray_bundle.origins.shape[:-1]
        S = ray_bundle.lengths.shape[-1]
        n_rays = lead.numel()
        origins = ray_bundle.origins.reshape(-1, 3)
        directions = ray_bundle.directions.reshape(-1, 3)
        lengths = ray_bundle.lengths.reshape(-1, S)
        xys = ray_bundle.xys.reshape(n_rays, -1)
        dens, cols = [], []
        for idx in torch.arange(n_rays, device=origins.device).chunk(n_batches):
            sub = RayBundle(origins[idx], directions[idx], lengths[idx], xys[idx])
            d, c = self.forward(sub)
            dens.append(d)
            cols.append(c)
        return (
            torch.cat(dens, 0).reshape(*lead, S, 1),
            torch.cat(cols, 0).reshape(*lead, S, 3),
        )


def volume_render_weights(
    sigma: torch.Tensor, t: torch.Tensor, directions: torch.Tensor
) -> torch.Tensor:
    """Quadrature weights of NeRF's volume rendering.

    ``delta_k = t_{k+1} - t_k`` (the last interval repeats the previous one),
    ``alpha_k = 1 - exp(-sigma_k delta_k |d|)``, ``w_k = alpha_k prod_{j<k} (1 - alpha_j + 1e-10)``
    (`emission_absorption_weights`).

    Args:
        sigma: (R, S) float densities >= 0.
        t: (R, S) float sorted sample lengths.
        directions: (R, 3) float ray directions (their norm scales the distances).

    Returns:
        weights: (R, S) float; their sum over S is the ray's opacity, in [0, 1].
    """
    if t.shape[-1] > 1:
        deltas = t[..., 1:] - t[..., :-1]
        deltas = torch.cat((deltas, deltas[..., -1:]), dim=-1)
    else:
        deltas = torch.ones_like(t)
    deltas = deltas * directions.norm(dim=-1, keepdim=True)
    alpha = 1.0 - torch.exp(-sigma * deltas)
    return emission_absorption_weights(alpha)


def _background(background: str | Sequence[float] | torch.Tensor) -> torch.Tensor:
    if isinstance(background, str):
        if background == "white":
            return torch.ones(3)
        if background == "black":
            return torch.zeros(3)
        raise ValueError(f"background must be 'white', 'black' or 3 floats; got {background!r}")
    bg = torch.as_tensor(background, dtype=torch.float32).detach().clone()
    if bg.shape != (3,):
        raise ValueError(f"background must have shape (3,); got {tuple(bg.shape)}")
    return bg


class NeRF(nn.Module):
    """Coarse + fine NeRF renderer over arbitrary fields (see the module docstring).

    Args:
        coarse_field: the field evaluated at the stratified samples.
        fine_field: the field evaluated at coarse + fine samples; None: no fine pass (e.g.
            with a hash grid and an occupancy grid). Pass the same module twice to share it.
        n_coarse: samples per ray of the coarse pass.
        n_fine: extra samples per ray drawn from the coarse weights.
        background: "white", "black" or an RGB triple composited behind the rays.
        occupancy_grid: an `OccupancyGrid`; samples in its empty cells are skipped (sigma 0,
            the field is not evaluated there).
        perturb: stratified (random) coarse samples and random fine samples while training;
            in eval mode the samples are deterministic.

    render_rays(origins: (R, 3) float, directions: (R, 3) float, near: float | (R,) float,
    far: float | (R,) float, chunk_size=None) -> dict with
        rgb: (R, 3), depth: (R,) (expected length), opacity: (R,), weights: (R, S), t: (R, S)
        of the last pass; rgb_coarse, opacity_coarse, weights_coarse, t_coarse when there is a
        fine pass; n_evaluated: int, how many points the fields were evaluated at.
    """

    def __init__(
        self,
        coarse_field: nn.Module | Callable,
        fine_field: nn.Module | Callable | None = None,
        n_coarse: int = 64,
        n_fine: int = 128,
        background: str | Sequence[float] | torch.Tensor = "white",
        occupancy_grid: nn.Module | None = None,
        perturb: bool = True,
    ) -> None:
        super().__init__()
        for name, f in (("coarse_field", coarse_field), ("fine_field", fine_field)):
            if f is not None and not callable(f):
                raise TypeError(f"{name} must be callable; got {type(f).__name__}")
        self.coarse_field = coarse_field
        self.fine_field = fine_field
        self.n_coarse = check_positive_int(n_coarse, "n_coarse")
        self.n_fine = check_positive_int(n_fine, "n_fine")
        self.register_buffer("background", _background(background), persistent=False)
        self.occupancy_grid = occupancy_grid
        self.perturb = bool(perturb)

    def _evaluate(
        self, field: Callable, points: torch.Tensor, directions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """points (R, S, 3), directions (R, 3) -> sigma (R, S), rgb (R, S, 3), n evaluated."""
        fn = getattr(field, "query", field)
        R, S = points.shape[:2]
        dirs = directions[:, None, :].expand(R, S, 3)
        if self.occupancy_grid is None:
            sigma, rgb = fn(points, dirs)
            return sigma[..., 0], rgb, R * S
        mask = self.occupancy_grid.is_occupied(points)  # (R, S)
        sigma = points.new_zeros(R, S)
        rgb = points.new_zeros(R, S, 3)
        n = int(mask.sum())
        if n:
            s_m, c_m = fn(points[mask], dirs[mask])
            sigma = sigma.masked_scatter(mask, s_m[..., 0].to(sigma.dtype))
            rgb = rgb.masked_scatter(mask[..., None].expand(R, S, 3), c_m.to(rgb.dtype))
        return sigma, rgb, n

    def _composite(
        self, sigma: torch.Tensor, rgb: torch.Tensor, t: torch.Tensor, directions: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        w = volume_render_weights(sigma, t, directions)
        opacity = w.sum(-1)
        color = (w[..., None] * rgb).sum(-2)
        color = color + (1.0 - opacity[..., None]) * self.background.to(color)
        depth = (w * t).sum(-1)
        return {"rgb": color, "depth": depth, "opacity": opacity, "weights": w, "t": t}

    def _march(
        self, field: Callable, origins: torch.Tensor, directions: torch.Tensor, t: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], int]:
        """One pass: field at origins (R, 3) + t (R, S) * directions (R, 3), composited;
        returns _composite's dict and the number of field evaluations."""
        points = origins[:, None, :] + t[..., None] * directions[:, None, :]
        sigma, rgb, n_eval = self._evaluate(field, points, directions)
        return self._composite(sigma, rgb, t, directions), n_eval

    def _coarse_lengths(self, near: torch.Tensor, far: torch.Tensor) -> torch.Tensor:
        """near, far (R,) -> (R, n_coarse) sorted lengths (stratified when training)."""
        S = self.n_coarse
        u = torch.linspace(0.0, 1.0, S + 1, dtype=near.dtype, device=near.device)
        lo, hi = u[:-1], u[1:]
        if self.training and self.perturb:
            s = lo + (hi - lo) * torch.rand(near.shape[0], S, dtype=near.dtype, device=near.device)
        else:
            s = (0.5 * (lo + hi)).expand(near.shape[0], S)
        return near[:, None] + (far - near)[:, None] * s

    def _render(
        self, origins: torch.Tensor, directions: torch.Tensor, near: torch.Tensor, far: torch.Tensor
    ) -> dict[str, Any]:
        t = self._coarse_lengths(near, far)
        out, n_eval = self._march(self.coarse_field, origins, directions, t)
        if self.fine_field is None:
            out["n_evaluated"] = n_eval
            return out
        # fine pass: bins between coarse samples, weights of the inner samples
        mids = 0.5 * (t[..., 1:] + t[..., :-1])  # (R, S - 1) bin edges
        det = not (self.training and self.perturb)
        if self.n_coarse > 2:
            t_fine = sample_pdf(mids, out["weights"][..., 1:-1], self.n_fine, det=det)
        else:
            t_fine = self._coarse_lengths(near, far)[..., : self.n_fine]
        t_all, _ = torch.sort(torch.cat((t, t_fine.detach()), dim=-1), dim=-1)
        fine, n_fine = self._march(self.fine_field, origins, directions, t_all)
        fine.update({f"{k}_coarse": v for k, v in out.items() if k != "depth"})
        fine["t_fine"] = t_fine
        fine["n_evaluated"] = n_eval + n_fine
        return fine

    def render_rays(
        self,
        origins: torch.Tensor,
        directions: torch.Tensor,
        near: float | torch.Tensor,
        far: float | torch.Tensor,
        chunk_size: int | None = None,
    ) -> dict[str, Any]:
        dims: dict[str, int] = {}
        check_tensor(origins, "origins", shape=("R", 3), dtype="float", dims=dims)
        check_tensor(directions, "directions", shape=("R", 3), dtype="float", dims=dims)
        R = origins.shape[0]
        near_t = torch.as_tensor(near, dtype=origins.dtype, device=origins.device)
        far_t = torch.as_tensor(far, dtype=origins.dtype, device=origins.device)
        if near_t.dim() > 1 or far_t.dim() > 1:
            raise ValueError("near and far must be floats or (R,) tensors")
        near_t, far_t = near_t.expand(R), far_t.expand(R)
        if R and not bool((far_t > near_t).all()):
            raise ValueError("far must be greater than near for every ray")
        if chunk_size is None or chunk_size >= R:
            return self._render(origins, directions, near_t, far_t)
        chunk_size = check_positive_int(chunk_size, "chunk_size")
        parts = [
            self._render(
                origins[i : i + chunk_size],
                directions[i : i + chunk_size],
                near_t[i : i + chunk_size],
                far_t[i : i + chunk_size],
            )
            for i in range(0, R, chunk_size)
        ]
        out: dict[str, Any] = {}
        for key in parts[0]:
            if key == "n_evaluated":
                out[key] = sum(p[key] for p in parts)
            else:
                out[key] = torch.cat([p[key] for p in parts], dim=0)
        return out

    def forward(
        self,
        origins: torch.Tensor,
        directions: torch.Tensor,
        near: float | torch.Tensor,
        far: float | torch.Tensor,
        chunk_size: int | None = None,
    ) -> dict[str, Any]:
        """Same as `render_rays`."""
        return self.render_rays(origins, directions, near, far, chunk_size)
