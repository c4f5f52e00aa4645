"""Fit a neural signed distance field to one triangle mesh.

`fit(config, mesh, loop) -> SdfFit`. The mesh is mapped to the unit cube
(`ops.sdf_sampling.unit_cube_transform`: ``x' = (x - centre) / scale``); the network learns
the signed distance (negative inside) in that frame. Training points are uniform points in
[-h, h]^3 (h = ``config.half_size``) and near-surface points (surface samples plus Gaussian
noise of std ``config.near_std`` per coordinate), labelled by `ops.mesh_sdf` (exact distance,
winding-number sign). By default they are drawn once into a pool of ``config.pool_size`` points
and every step takes a random batch from it (``resample=True`` draws and labels fresh points
every step instead, which is much slower on a CPU: docs/neural_sdf.md).

Loss per step: ``mean |clamp(f(x), -d, d) - clamp(s, -d, d)|`` (d = ``config.clamp``), plus
``eikonal_weight * mean (|grad f| - 1)^2`` on the batch and ``normal_weight * mean (1 - cos(grad
f, n))`` on on-surface points with their face normals, when those weights are > 0.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from inverse3d._validation import check_finite, check_tensor
from inverse3d.engine import Loop
from inverse3d.methods.base import setting
from inverse3d.models.deepsdf import LatentCodes
from inverse3d.models.sdf import SDF_MODELS, build_sdf_model
from inverse3d.ops.marching_cubes import marching_cubes
from inverse3d.ops.sdf_sampling import (
    outward_faces,
    sample_near_surface_points,
    sample_surface_points,
    sample_uniform_points,
    sdf_samples,
    unit_cube_transform,
)

__all__ = [
    "FitSdfConfig",
    "JointSdfFit",
    "SdfFit",
    "eikonal_loss",
    "fit",
    "fit_joint",
    "model_options",
    "sdf_to_mesh",
]

# Learning rate used when config.lr is 0 (measured in docs/neural_sdf.md).
DEFAULT_LR = {"siren": 1e-4, "deepsdf": 1e-3, "hashgrid": 1e-2}


@dataclass
class FitSdfConfig:
    """Settings of `fit` (each one is a flag of `inverse3d fit-sdf`)."""

    model: str = setting("hashgrid", "network: siren, deepsdf or hashgrid", choices=SDF_MODELS)
    steps: int = setting(600, "optimisation steps", low=1, high=1e7)
    lr: float = setting(0.0, "Adam learning rate (0: the model's default)", low=0.0, high=1.0)
    batch_size: int = setting(4096, "training points per step", low=1, high=1e8)
    pool_size: int = setting(50_000, "labelled training points drawn once", low=1, high=1e9)
    resample: bool = setting(False, "draw and label fresh points every step instead of a pool")
    near_fraction: float = setting(0.8, "share of near-surface training points", low=0, high=1)
    near_std: float = setting(0.01, "std of the near-surface noise (unit cube)", low=0, high=1)
    half_size: float = setting(0.55, "uniform points in [-h, h]^3 (unit cube)", low=0.5, high=2)
    clamp: float = setting(0.1, "SDF values clamped to [-d, d] in the loss", low=0, high=10)
    eikonal_weight: float = setting(0.0, "weight of the eikonal term |grad f| = 1", low=0)
    normal_weight: float = setting(0.0, "weight of the normal alignment on surface points", low=0)
    width: int = setting(0, "hidden width (0: the model's default)", low=0, high=4096)
    omega_0: float = setting(30.0, "SIREN frequency factor omega_0", low=0, high=1e4)
    seed: int = setting(0, "random seed of the points and the initial weights", low=0)
    joint: bool = setting(False, "deepsdf: one network + a latent code per shape (fit_joint)")
    latent_dim: int = setting(64, "size of each shape's latent code (--joint)", low=1, high=4096)
    code_reg: float = setting(1e-4, "weight of the mean |code|^2 prior (--joint)", low=0)


@dataclass
class SdfFit:
    """What `fit` returns.

    net: the trained network, points (..., 3) of the unit-cube frame -> (..., 1) sdf.
    centre: (3,) float and scale: the mesh frame maps to the unit cube by (x - centre) / scale
        (distances in the mesh frame are the network's times scale).
    model, options: `build_sdf_model(model, **options)` rebuilds the network.
    history: one dict of scalars per step ("loss", "sdf", and "eikonal"/"normal" when used).
    steps, time_s: steps run and wall time of the whole fit (sampling included);
    sample_time_s: the part spent drawing and labelling points.
    """

    net: nn.Module
    centre: torch.Tensor
    scale: float
    model: str
    options: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    time_s: float = 0.0
    sample_time_s: float = 0.0

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance at points of the mesh frame: (P, 3) -> (P,) (no autograd)."""
        dev = next(self.net.parameters()).device
        with torch.no_grad():
            x = (points.to(dev) - self.centre.to(dev)) / self.scale
            return chunked(self.net, x)[:, 0] * self.scale


def chunked(net: nn.Module, x: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """net(x) in chunks of rows: (P, 3) -> (P, 1), no autograd."""
    with torch.no_grad():
        if x.shape[0] == 0:
            return x.new_zeros((0, 1))
        return torch.cat([net(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)], 0)


def model_options(config: FitSdfConfig) -> dict[str, Any]:
    """Keyword arguments of `build_sdf_model` for this config."""
    opts: dict[str, Any] = {}
    if config.model == "siren":
        opts = {"first_omega_0": float(config.omega_0), "hidden_omega_0": float(config.omega_0)}
        if config.width:
            opts["hidden_features"] = int(config.width)
    elif config.model == "deepsdf":
        if config.width:
            opts["hidden_dim"] = int(config.width)
    else:
        opts["half_size"] = float(config.half_size)
        if config.width:
            opts["hidden_dim"] = int(config.width)
    return opts


def eikonal_loss(net: nn.Module, points: torch.Tensor) -> torch.Tensor:
    """mean over points of (|grad_x f(x)| - 1)^2 (differentiable): points (P, 3) -> scalar."""
    check_tensor(points, "points", (None, 3), "float")
    x = points.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(net(x).sum(), x, create_graph=True)
    return (g.norm(dim=-1) - 1.0).pow(2).mean()


def _mesh_tensors(mesh: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(mesh, "verts_list") and hasattr(mesh, "faces_list"):
        if len(mesh) != 1:
            raise ValueError(f"mesh must hold one mesh; got a batch of {len(mesh)}")
        verts, faces = mesh.verts_list()[0], mesh.faces_list()[0]
    elif isinstance(mesh, (tuple, list)) and len(mesh) == 2:
        verts, faces = mesh
    else:
        raise TypeError(
            f"mesh must be a Meshes or a (verts, faces) tuple; got {type(mesh).__name__}"
        )
    check_tensor(verts, "verts", (None, 3), "float")
    check_tensor(faces, "faces", (None, 3), "int")
    if verts.shape[0] == 0 or faces.shape[0] == 0:
        raise ValueError(
            f"mesh must have vertices and faces; got {verts.shape[0]} vertices and "
            f"{faces.shape[0]} faces"
        )
    check_finite(verts, "verts")
    return verts, faces


def _draw(verts, faces, n: int, config: FitSdfConfig, gen: torch.Generator) -> torch.Tensor:
    n_near = int(round(n * config.near_fraction))
    near = sample_near_surface_points(verts, faces, n_near, config.near_std, gen)
    uni = sample_uniform_points(n - n_near, config.half_size, gen).to(verts)
    return torch.cat((near, uni), 0)


def fit(config: FitSdfConfig, mesh: Any, loop: Loop | None = None) -> SdfFit:
    """Fit an SDF network to `mesh` (Meshes of one mesh, or (verts (V, 3), faces (F, 3))).

    The network and points live on the mesh's device. Raises ValueError for a mesh without
    faces or with non-finite vertices.
    """
    t0 = time.perf_counter()
    loop = loop or Loop(progress=False)
    verts, faces = _mesh_tensors(mesh)
    dev = verts.device
    centre, scale = unit_cube_transform(verts)
    v = ((verts - centre) / scale).float()
    f = outward_faces(v, faces.long())
    gen = torch.Generator().manual_seed(int(config.seed))
    torch.manual_seed(int(config.seed))
    options = model_options(config)
    net = build_sdf_model(config.model, **options).to(dev)
    lr = config.lr or DEFAULT_LR[config.model]
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=max(1, config.steps), eta_min=lr / 20
    )
    sample_time = 0.0

    ts = time.perf_counter()
    if not config.resample:
        pool_x = _draw(v, f, config.pool_size, config, gen)
        pool_s = sdf_samples(v, f, pool_x)
    surf = normals = None
    if config.normal_weight > 0:
        surf, normals = sample_surface_points(v, f, config.pool_size, gen)
    sample_time += time.perf_counter() - ts
    d = float(config.clamp)
    B = int(config.batch_size)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        nonlocal sample_time
        ts = time.perf_counter()
        if config.resample:
            x = _draw(v, f, B, config, gen)
            s = sdf_samples(v, f, x)
        else:
            idx = torch.randint(0, pool_x.shape[0], (B,), generator=gen).to(dev)
            x, s = pool_x[idx], pool_s[idx]
        sample_time += time.perf_counter() - ts
        opt.zero_grad(set_to_none=True)
        pred = net(x)[:, 0]
        sdf_term = (
            (pred.clamp(-d, d) - s.clamp(-d, d)).abs().mean() if d > 0 else (pred - s).abs().mean()
        )
        loss = sdf_term
        out = {"sdf": sdf_term.detach()}
        if config.eikonal_weight > 0:
            eik = eikonal_loss(net, x)
            loss = loss + config.eikonal_weight * eik
            out["eikonal"] = eik.detach()
        if surf is not None:
            j = torch.randint(0, surf.shape[0], (B,), generator=gen).to(dev)
            xs = surf[j].detach().requires_grad_(True)
            (g,) = torch.autograd.grad(net(xs).sum(), xs, create_graph=True)
            nrm = 1.0 - torch.nn.functional.cosine_similarity(g, normals[j], dim=-1).mean()
            loss = loss + config.normal_weight * nrm
            out["normal"] = nrm.detach()
        loss.backward()
        opt.step()
        sched.step()
        out["loss"] = loss.detach()
        return out

    result = loop.run(
        step_fn,
        int(config.steps),
        state={"model": net, "optimizer": opt, "scheduler": sched},
        desc=f"fit-sdf {config.model}",
    )
    net.eval()
    return SdfFit(
        net=net,
        centre=centre.detach().float(),
        scale=float(scale),
        model=config.model,
        options=options,
        history=result.history,
        steps=result.steps,
        time_s=time.perf_counter() - t0,
        sample_time_s=sample_time,
    )


def sdf_to_mesh(fit_result: SdfFit, resolution: int = 128, half_size: float = 0.55):
    """Zero level set of the fitted SDF by marching cubes, in the mesh's own frame.

    The SDF is evaluated at the vertices of a resolution^3 grid on [-half_size, half_size]^3
    (unit-cube frame). Returns (verts (V, 3) float, faces (F, 3) int64); V = F = 0 when the
    field has no zero crossing in the box.
    """
    net = fit_result.net
    dev = next(net.parameters()).device
    r = int(resolution)
    lin = torch.linspace(-half_size, half_size, r, device=dev)
    grid = torch.stack(torch.meshgrid(lin, lin, lin, indexing="ij"), -1).reshape(-1, 3)
    vol = chunked(net, grid)[:, 0].reshape(r, r, r)  # vol[i, j, k] at (x_i, y_j, z_k)
    # marching_cubes takes (N, D, H, W) with D along z, H along y, W along x
    verts_l, faces_l = marching_cubes(
        vol.permute(2, 1, 0)[None].cpu(), isolevel=0.0, return_local_coords=True
    )
    verts, faces = verts_l[0], faces_l[0]
    verts = verts * half_size  # local coords are in [-1, 1]
    verts = verts * fit_result.scale + fit_result.centre.cpu()
    return verts, faces


def config_dict(config: FitSdfConfig) -> dict[str, Any]:
    return asdict(config)


@dataclass
class JointSdfFit:
    """What `fit_joint` returns: one `SdfFit` per shape, sharing one decoder.

    shapes[i].net is a `models.sdf.CodedDeepSDF` holding the shared decoder's weights and the
    i-th code (``build_sdf_model("deepsdf", **shapes[i].options)`` rebuilds it); codes: (S, D)
    float; history, steps, time_s, sample_time_s: of the whole joint fit.
    """

    shapes: list[SdfFit]
    codes: torch.Tensor
    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    time_s: float = 0.0
    sample_time_s: float = 0.0


def fit_joint(config: FitSdfConfig, meshes: list[Any], loop: Loop | None = None) -> JointSdfFit:
    """Fit one DeepSDF decoder and a latent code per mesh (auto-decoder, Park et al. 2019).

    Each mesh (Meshes of one mesh, or (verts (V, 3), faces (F, 3))) is mapped to its own unit
    cube and gets a labelled pool of ``config.pool_size`` points as in `fit`. Every step takes
    ``batch_size // S`` points of each of the S shapes (at least one) and minimises the clamped
    L1 of `fit` plus ``code_reg * mean_i |z_i|^2`` (codes start at N(0, 0.01^2)); decoder and
    codes share one Adam optimiser. Only ``model="deepsdf"`` is allowed (ValueError otherwise).
    """
    t0 = time.perf_counter()
    if config.model != "deepsdf":
        raise ValueError(f"joint fitting needs model 'deepsdf'; got {config.model!r}")
    if not isinstance(meshes, (list, tuple)) or not meshes:
        raise ValueError("meshes must be a non-empty list of meshes")
    loop = loop or Loop(progress=False)
    prepared = [_mesh_tensors(m) for m in meshes]
    dev = prepared[0][0].device
    gen = torch.Generator().manual_seed(int(config.seed))
    torch.manual_seed(int(config.seed))
    frames, pools = [], []
    ts = time.perf_counter()
    for verts, faces in prepared:
        centre, scale = unit_cube_transform(verts)
        v = ((verts - centre) / scale).float().to(dev)
        f = outward_faces(v, faces.long().to(dev))
        x = _draw(v, f, config.pool_size, config, gen)
        pools.append((x, sdf_samples(v, f, x)))
        frames.append((centre.detach().float(), float(scale)))
    sample_time = time.perf_counter() - ts
    n = len(prepared)
    options = {**model_options(config), "latent_dim": int(config.latent_dim)}
    coded = build_sdf_model("deepsdf", **options)
    decoder = coded.decoder.to(dev)
    codes = LatentCodes(n, int(config.latent_dim), init_std=0.01).to(dev)
    lr = config.lr or DEFAULT_LR["deepsdf"]
    opt = torch.optim.Adam([*decoder.parameters(), *codes.parameters()], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=max(1, config.steps), eta_min=lr / 20
    )
    per = max(1, int(config.batch_size) // n)
    d = float(config.clamp)
    all_idx = torch.arange(n, device=dev)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        xs, ss, ids = [], [], []
        for i, (px, ps) in enumerate(pools):
            j = torch.randint(0, px.shape[0], (per,), generator=gen).to(dev)
            xs.append(px[j])
            ss.append(ps[j])
            ids.append(torch.full((per,), i, dtype=torch.long, device=dev))
        x, s, idx = torch.cat(xs), torch.cat(ss), torch.cat(ids)
        opt.zero_grad(set_to_none=True)
        pred = decoder(x, codes(idx))[:, 0]
        sdf_term = (
            (pred.clamp(-d, d) - s.clamp(-d, d)).abs().mean() if d > 0 else (pred - s).abs().mean()
        )
        reg = codes.regularization(all_idx)
        loss = sdf_term + config.code_reg * reg
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss.detach(), "sdf": sdf_term.detach(), "code": reg.detach()}

    result = loop.run(
        step_fn,
        int(config.steps),
        state={"model": decoder, "codes": codes, "optimizer": opt, "scheduler": sched},
        desc=f"fit-sdf joint x{n}",
    )
    decoder.eval()
    z = codes.embedding.weight.detach()
    shapes = []
    for i, (centre, scale) in enumerate(frames):
        net = build_sdf_model("deepsdf", **options).to(dev)
        net.decoder.load_state_dict(decoder.state_dict())
        net.code.copy_(z[i])
        shapes.append(
            SdfFit(
                net=net.eval(),
                centre=centre,
                scale=scale,
                model="deepsdf",
                options=options,
                history=result.history,
                steps=result.steps,
            )
        )
    total = time.perf_counter() - t0
    for sh in shapes:  # each shape's share of the joint fit
        sh.time_s, sh.sample_time_s = total / n, sample_time / n
    return JointSdfFit(
        shapes=shapes,
        codes=z.clone(),
        history=result.history,
        steps=result.steps,
        time_s=total,
        sample_time_s=sample_time,
    )
