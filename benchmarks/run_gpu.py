"""GPU benchmark runner: the workloads of the GPU performance targets, ours against PyTorch3D.

Every workload is written once against the shared API and built from either package (same
calls, same sizes, same random inputs), so the ratio compares the implementations only. Each
is timed in this one process with CUDA events: 3 warm-up calls, then the median of 10 (3 when
the last warm-up call took over half a second). Peak memory is the CUDA allocator's peak during
the timed calls above what was allocated before them (inputs excluded).

  python benchmarks/run_gpu.py [--kernels reference,auto] [--only chamfer,knn] [--json FILE]

`--kernels` lists the INVERSE3D_KERNELS settings to measure ours under (one row each).
PyTorch3D is measured when `import pytorch3d` works, once per workload.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import statistics
import sys
from types import SimpleNamespace
from typing import Callable

import torch

DEV = torch.device("cuda")


def _api(pkg: str) -> SimpleNamespace:
    names = ("structures", "utils", "ops", "loss", "renderer")
    return SimpleNamespace(**{n: importlib.import_module(f"{pkg}.{n}") for n in names})


def _cams(api, n: int, dist: float = 2.7):
    r = api.renderer
    R, T = r.look_at_view_transform(
        dist, torch.linspace(0, 60, n), torch.linspace(0, 300, n), device=DEV
    )
    return r.FoVPerspectiveCameras(device=DEV, R=R, T=T)


def _cotangent(shape, seed: int = 1) -> torch.Tensor:
    g = torch.Generator(device=DEV).manual_seed(seed)
    return torch.rand(shape, device=DEV, generator=g)


# Each builder returns a zero-argument callable doing one iteration of the workload.


def w_soft_silhouette(api, fused: bool = False):
    r = api.renderer
    meshes = api.utils.ico_sphere(4, DEV).extend(8)
    sigma = 1e-4
    rs = r.RasterizationSettings(
        image_size=256, blur_radius=math.log(1 / 1e-4 - 1) * sigma, faces_per_pixel=50
    )
    # fused: ours with SoftSilhouetteShader(fused=True) (no (N, H, W, K) tensors); PyTorch3D
    # has no fused path, so its row is the same call as soft_silhouette's
    extra = {"fused": True} if fused and api.renderer.__name__.startswith("inverse3d") else {}
    ren = r.MeshRenderer(
        r.MeshRasterizer(cameras=_cams(api, 8), raster_settings=rs),
        r.SoftSilhouetteShader(blend_params=r.BlendParams(sigma=sigma), **extra),
    )
    verts = meshes.verts_padded().clone().requires_grad_(True)
    w = _cotangent((8, 256, 256))

    def fn():
        img = ren(meshes.update_padded(verts))
        (img[..., 3] * w).sum().backward()

    return fn


def _hard_phong(api, backward: bool):
    r = api.renderer
    meshes = api.utils.ico_sphere(6, DEV).extend(8)
    V = meshes.verts_padded().shape[1]
    rs = r.RasterizationSettings(image_size=512, blur_radius=0.0, faces_per_pixel=1)
    cams = _cams(api, 8)
    lights = r.PointLights(device=DEV, location=[[0.0, 0.0, -3.0]])
    ren = r.MeshRenderer(
        r.MeshRasterizer(cameras=cams, raster_settings=rs),
        r.HardPhongShader(device=DEV, cameras=cams, lights=lights),
    )
    verts = meshes.verts_padded().clone().requires_grad_(backward)
    tex = r.TexturesVertex(verts_features=torch.full((8, V, 3), 0.7, device=DEV))
    w = _cotangent((8, 512, 512, 3))

    def fn():
        m = meshes.update_padded(verts)
        m.textures = tex
        if backward:
            img = ren(m)
            (img[..., :3] * w).sum().backward()
        else:
            with torch.no_grad():
                ren(m)

    return fn


def w_hard_phong_fwd(api):
    return _hard_phong(api, False)


def w_hard_phong_fwd_bwd(api):
    return _hard_phong(api, True)


def _raster_only(api, level, n, size, K, blur, backward):
    """The mesh rasterizer alone (projection + rasterize_meshes) on the render workloads'
    meshes and cameras; backward: a random cotangent on dists (what silhouettes use) and zbuf."""
    r = api.renderer
    meshes = api.utils.ico_sphere(level, DEV).extend(n)
    rs = r.RasterizationSettings(image_size=size, blur_radius=blur, faces_per_pixel=K)
    rast = r.MeshRasterizer(cameras=_cams(api, n), raster_settings=rs)
    verts = meshes.verts_padded().clone().requires_grad_(backward)
    w = _cotangent((n, size, size, K))

    def fn():
        if backward:
            frags = rast(meshes.update_padded(verts))
            (frags.dists * w + frags.zbuf * w).sum().backward()
        else:
            with torch.no_grad():
                rast(meshes.update_padded(verts))

    return fn


def w_raster_hard_fwd(api):
    return _raster_only(api, 6, 8, 512, 1, 0.0, False)


def w_raster_soft_fwd_bwd(api):
    return _raster_only(api, 4, 8, 256, 50, math.log(1 / 1e-4 - 1) * 1e-4, True)


def w_chamfer(api):
    g = torch.Generator(device=DEV).manual_seed(0)
    x = torch.rand(8, 10_000, 3, device=DEV, generator=g).requires_grad_(True)
    y = torch.rand(8, 10_000, 3, device=DEV, generator=g).requires_grad_(True)

    def fn():
        loss, _ = api.loss.chamfer_distance(x, y)
        loss.backward()

    return fn


def w_knn(api):
    g = torch.Generator(device=DEV).manual_seed(0)
    p1 = torch.rand(4, 50_000, 3, device=DEV, generator=g)
    p2 = torch.rand(4, 50_000, 3, device=DEV, generator=g)
    return lambda: api.ops.knn_points(p1, p2, K=8)


def w_sample_points(api):
    meshes = api.utils.ico_sphere(6, DEV).extend(8)
    return lambda: api.ops.sample_points_from_meshes(meshes, 100_000)


def w_mesh_fit_ch3(api):
    src = api.utils.ico_sphere(4, DEV)
    torch.manual_seed(0)
    trg = api.ops.sample_points_from_meshes(api.utils.ico_sphere(5, DEV).scale_verts(1.2), 5000)
    deform = torch.zeros(src.verts_packed().shape, device=DEV, requires_grad=True)

    def fn():
        m = src.offset_verts(deform)
        s = api.ops.sample_points_from_meshes(m, 5000)
        loss = api.loss.chamfer_distance(s, trg)[0]
        loss = loss + api.loss.mesh_edge_loss(m)
        loss = loss + 0.01 * api.loss.mesh_normal_consistency(m)
        loss = loss + 0.1 * api.loss.mesh_laplacian_smoothing(m, method="uniform")
        loss.backward()

    return fn


def w_volume_ch5(api):
    r = api.renderer
    B, S = 10, 128
    cams = _cams(api, B)
    raysampler = r.NDCMultinomialRaysampler(
        image_width=128, image_height=128, n_pts_per_ray=150, min_depth=0.1, max_depth=3.0
    )
    ren = r.VolumeRenderer(raysampler=raysampler, raymarcher=r.EmissionAbsorptionRaymarcher())
    g = torch.Generator(device=DEV).manual_seed(0)
    log_d = (torch.rand(1, S, S, S, device=DEV, generator=g) - 4).requires_grad_(True)
    log_c = torch.rand(3, S, S, S, device=DEV, generator=g).requires_grad_(True)
    w = _cotangent((B, 128, 128, 4))

    def fn():
        dens = torch.sigmoid(log_d)
        cols = torch.sigmoid(log_c)
        vols = api.structures.Volumes(
            densities=dens[None].expand(B, *dens.shape),
            features=cols[None].expand(B, *cols.shape),
            voxel_size=3.0 / S,
        )
        img = ren(cameras=cams, volumes=vols)[0]
        (img * w).sum().backward()

    return fn


def w_points(api):
    r = api.renderer
    g = torch.Generator(device=DEV).manual_seed(0)
    pts = torch.rand(8, 100_000, 3, device=DEV, generator=g) * 2 - 1
    feats = torch.rand(8, 100_000, 3, device=DEV, generator=g)
    clouds = api.structures.Pointclouds(points=pts, features=feats)
    rs = r.PointsRasterizationSettings(image_size=512, radius=0.01, points_per_pixel=8)
    ren = r.PointsRenderer(
        rasterizer=r.PointsRasterizer(cameras=_cams(api, 8, 3.0), raster_settings=rs),
        compositor=r.AlphaCompositor(),
    )

    def fn():
        with torch.no_grad():
            ren(clouds)

    return fn


def w_points_raster(api):
    """rasterize_points alone on NDC points (the selection kernel and the recomputation)."""
    g = torch.Generator(device=DEV).manual_seed(0)
    pts = torch.rand(8, 100_000, 3, device=DEV, generator=g) * 2 - 1
    pts[..., 2] += 2.0
    clouds = api.structures.Pointclouds(points=pts)

    def fn():
        with torch.no_grad():
            api.renderer.rasterize_points(clouds, 512, 0.01, 8)

    return fn


def _mesh_sdf(api, level: int):
    if not hasattr(api.ops, "mesh_sdf"):
        return None  # PyTorch3D has no mesh_sdf
    mesh = api.utils.ico_sphere(level, DEV)
    verts = mesh.verts_packed()
    g = torch.Generator(device=DEV).manual_seed(0)
    # half near the surface (vertices jittered by 2% of the size), half uniform in the box
    near = verts[torch.randint(verts.shape[0], (50_000,), device=DEV, generator=g)]
    near = near + 0.04 * torch.randn(50_000, 3, device=DEV, generator=g)
    box = torch.rand(50_000, 3, device=DEV, generator=g) * 2.2 - 1.1
    p = torch.cat([near, box])[None]
    return lambda: api.ops.mesh_sdf(mesh, p)


def w_mesh_sdf_ico4(api):
    return _mesh_sdf(api, 4)


def w_mesh_sdf_ico5(api):
    return _mesh_sdf(api, 5)


def w_hash_grid(api):
    if not hasattr(api, "models"):
        return None  # no hash grid in the peer
    enc = api.models.HashGridEncoding(n_levels=16, n_features_per_level=2, log2_hashmap_size=19)
    enc = enc.to(DEV)
    g = torch.Generator(device=DEV).manual_seed(0)
    x = torch.rand(1_000_000, 3, device=DEV, generator=g) * 2 - 1
    w = _cotangent((1_000_000, enc.output_dim))

    def fn():
        (enc(x) * w).sum().backward()

    return fn


WORKLOADS: dict[str, tuple[str, Callable, dict]] = {
    "soft_silhouette": (
        "soft silhouette 8 x ico4, 256^2, 50 F/px, fwd+bwd",
        w_soft_silhouette,
        {"target_ms": 4.5, "target_mib": 270},
    ),
    "soft_silhouette_fused": (
        "soft silhouette fused (ours), same workload",
        lambda api: w_soft_silhouette(api, fused=True),
        {"target_ms": 4.5, "target_mib": 270},
    ),
    "hard_phong_fwd": ("hard Phong 8 x ico6, 512^2, fwd", w_hard_phong_fwd, {"target_ms": 3}),
    "hard_phong_fwd_bwd": (
        "hard Phong 8 x ico6, 512^2, fwd+bwd",
        w_hard_phong_fwd_bwd,
        {"target_ms": 5},
    ),
    # the rasterizer alone, inside the two render workloads above (their targets bound it)
    "raster_hard_fwd": (
        "rasterizer only: 8 x ico6, 512^2, 1 F/px, fwd",
        w_raster_hard_fwd,
        {"target_ms": 3},
    ),
    "raster_soft_fwd_bwd": (
        "rasterizer only: 8 x ico4, 256^2, 50 F/px, blur, fwd+bwd",
        w_raster_soft_fwd_bwd,
        {"target_ms": 4.5},
    ),
    "chamfer": ("chamfer 8 x 10k vs 10k, fwd+bwd", w_chamfer, {"target_ms": 2}),
    "knn": ("knn_points 4 x 50k x 50k, K=8", w_knn, {"target_ms": 8}),
    "sample_points": ("sample_points 8 x ico6, 100k", w_sample_points, {"target_ms": 1.5}),
    "mesh_fit_ch3": ("ch.3 mesh-fit iteration, fwd+bwd", w_mesh_fit_ch3, {"target_ms": 4}),
    "volume_ch5": (
        "ch.5 volume render 10 x 128^2 x 150, fwd+bwd",
        w_volume_ch5,
        {"target_ms": 8, "target_mib": 500},
    ),
    "points": ("points 8 x 100k, 512^2, r 0.01, 8/px, fwd", w_points, {"target_ms": 10}),
    "points_raster": (
        "rasterize_points 8 x 100k NDC, 512^2, r 0.01, K 8",
        w_points_raster,
        {"target_ms": 10},
    ),
    "mesh_sdf_ico4": (
        "mesh_sdf 100k queries vs ico_sphere(4) (5120 F)",
        w_mesh_sdf_ico4,
        {"target_ms": None},
    ),
    "mesh_sdf_ico5": (
        "mesh_sdf 100k queries vs ico_sphere(5) (20480 F)",
        w_mesh_sdf_ico5,
        {"target_ms": None},
    ),
    "hash_grid": ("hash grid 16 L x 2 F x 2^19, 1M pts, fwd+bwd", w_hash_grid, {"target_ms": 2}),
}


def measure(fn: Callable[[], object], repeats: int = 10) -> dict:
    """Median milliseconds (CUDA events) and peak MiB above the memory allocated before."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    fn()  # first calls: kernel compilation, caches
    fn()
    torch.cuda.synchronize()
    start.record()
    fn()  # the last warm-up call decides the number of repeats
    end.record()
    torch.cuda.synchronize()
    if start.elapsed_time(end) > 500:
        repeats = 3
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    return {"ms": statistics.median(times), "mib": peak, "repeats": repeats}


def _run_one(label: str, build: Callable, api) -> dict | None:
    try:
        fn = build(api)
        if fn is None:
            return None
        res = measure(fn)
    except Exception as exc:  # noqa: BLE001 - a failing workload is reported, the rest still run
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"}
    finally:
        torch.cuda.empty_cache()
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", default="reference,auto")
    ap.add_argument("--only", default="")
    ap.add_argument("--json", default="")
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("run_gpu.py needs a CUDA device")
    names = [n for n in args.only.split(",") if n] or list(WORKLOADS)
    ours = _api("inverse3d")
    ours.models = importlib.import_module("inverse3d.models")
    peer = None
    if not args.no_peer:
        try:
            peer = _api("pytorch3d")
        except ImportError as exc:
            print(f"PyTorch3D not importable ({exc}); ours only")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    results = {}
    for name in names:
        label, build, targets = WORKLOADS[name]
        row = {"label": label, **targets}
        for mode in args.kernels.split(","):
            os.environ["INVERSE3D_KERNELS"] = mode
            row[mode] = _run_one(label, build, ours)
        if peer is not None:
            row["pytorch3d"] = _run_one(label, build, peer)
        results[name] = row
        print(_format(name, row, args.kernels.split(",")), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def _cell(res: dict | None) -> str:
    if res is None:
        return "n/a"
    if "error" in res:
        return "ERR " + res["error"]
    return f"{res['ms']:.2f} ms {res['mib']:.0f} MiB"


def _format(name: str, row: dict, modes: list[str]) -> str:
    parts = [f"{row['label']:<48}"]
    peer = row.get("pytorch3d")
    for mode in modes:
        res = row.get(mode)
        s = f"{mode}: {_cell(res)}"
        if res and "ms" in res and peer and "ms" in peer:
            s += f" (x{res['ms'] / peer['ms']:.2f} of p3d)"
        parts.append(s)
    parts.append(f"pytorch3d: {_cell(peer)}")
    if row.get("target_ms") is not None:
        parts.append(f"target {row['target_ms']} ms")
    return " | ".join(parts)


if __name__ == "__main__":
    main()
