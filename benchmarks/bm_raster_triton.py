"""Triton mesh rasterizer on the GPU: parity with the reference on the issue-15 workloads, the
time of each stage, and a sweep of the kernel's tile shapes.

  PYTHONPATH=src python benchmarks/bm_raster_triton.py [--sweep]

Workloads (as benchmarks/run_gpu.py, projected once by MeshRasterizer.transform):
  hard: 8 x ico_sphere(6) (81920 faces each), 512^2, K=1, blur 0 (forward)
  soft: 8 x ico_sphere(4) (5120 faces each), 256^2, K=50, blur from sigma 1e-4 (fwd+bwd)
For each: pix_to_face / zbuf / bary / dists equality and the vertex-gradient difference
(random cotangents) between INVERSE3D_KERNELS=reference and the kernel; CUDA-event medians of
rasterize_meshes under both, and of the kernel's selection (`select_faces`) alone. --sweep
times rasterize_meshes and select_faces for each (BH, BW, BF, num_warps) in TILES.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import statistics
import sys

import torch
from run_gpu import DEV, _api, _cams, measure

TILES = [
    (16, 16, 16, 8),
    (16, 16, 32, 8),
    (16, 16, 16, 4),
    (8, 16, 16, 4),
    (8, 32, 16, 4),
    (8, 8, 16, 4),
    (8, 8, 32, 4),
    (8, 16, 32, 8),
    (4, 8, 16, 2),
]


def workload(name: str):
    api = _api("inverse3d")
    r = api.renderer
    if name == "hard":
        level, size, K, blur, backward = 6, 512, 1, 0.0, False
    else:
        level, size, K, blur, backward = 4, 256, 50, math.log(1 / 1e-4 - 1) * 1e-4, True
    meshes = api.utils.ico_sphere(level, DEV).extend(8)
    rs = r.RasterizationSettings(image_size=size, blur_radius=blur, faces_per_pixel=K)
    proj = r.MeshRasterizer(cameras=_cams(api, 8), raster_settings=rs).transform(meshes)
    kw = dict(image_size=size, blur_radius=blur, faces_per_pixel=K)
    return proj, kw, backward


def run(rm, proj, kw, backward, mode, seed=1):
    os.environ["INVERSE3D_KERNELS"] = mode
    verts = proj.verts_padded().detach().clone().requires_grad_(backward)
    outs = rm.rasterize_meshes(proj.update_padded(verts), **kw)
    if not backward:
        return outs, None
    g = torch.Generator(device=DEV).manual_seed(seed)
    loss = sum((t * torch.randn(t.shape, device=DEV, generator=g)).sum() for t in outs[1:])
    (grad,) = torch.autograd.grad(loss, verts)
    return outs, grad


def bench(name: str, sweep: bool, rm, tri) -> None:
    proj, kw, backward = workload(name)
    # parity (with gradients for both workloads)
    (ref, gref), (ker, gker) = (run(rm, proj, kw, True, m) for m in ("reference", "auto"))
    same = [torch.equal(a, b) for a, b in zip(ker, ref)]
    gdiff = ((gker - gref).abs().max() / gref.abs().max().clamp_min(1e-30)).item()
    pmis = (ker[0] != ref[0]).sum().item()
    print(
        f"[{name}] equal p2f/zbuf/bary/dists: {same} (p2f mismatches {pmis}), "
        f"grad max rel diff {gdiff:.2e}, covered slots {(ref[0] >= 0).sum().item()}"
    )
    verts = proj.verts_padded().detach().clone().requires_grad_(backward)
    w = [torch.rand(t.shape, device=DEV) for t in ref[1:]]
    del ref, ker, gref, gker

    def full():
        outs = rm.rasterize_meshes(proj.update_padded(verts), **kw)
        if backward:
            sum((t * c).sum() for t, c in zip(outs[1:], w)).backward()

    what = "fwd+bwd" if backward else "fwd"
    for mode in ("reference", "auto"):
        os.environ["INVERSE3D_KERNELS"] = mode
        res = measure(full)
        print(f"[{name}] rasterize_meshes {what} {mode}: {res['ms']:.3f} ms {res['mib']:.0f} MiB")
    # the kernel's selection (binning + kernel) inside rasterize_meshes, per tile shape
    os.environ["INVERSE3D_KERNELS"] = "auto"
    original = tri.select_faces
    K = kw["faces_per_pixel"]
    for tile in TILES if sweep else [tri.tile_shape(K)]:
        times = []

        def timed(*args, tile=tile, times=times, **kwargs):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            out = original(*args, **{**kwargs, "tile": tile})
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b))
            return out

        tri.select_faces = timed
        try:
            res = measure(full)
            sel = statistics.median(times[3:])
            print(
                f"[{name}] tile {tile}: rasterize_meshes {what} {res['ms']:.3f} ms, of which "
                f"select_faces {sel:.3f} ms (synchronised)"
            )
        except Exception as exc:  # noqa: BLE001 - a failing shape is reported, others run
            print(f"[{name}] tile {tile}: {type(exc).__name__}: {str(exc)[:200]}")
        finally:
            tri.select_faces = original
    torch.cuda.empty_cache()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--only", default="hard,soft")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bm_raster_triton.py needs a CUDA device")
    rm = importlib.import_module("inverse3d.renderer.mesh.rasterize_meshes")
    tri = importlib.import_module("inverse3d.renderer.mesh._triton.rasterize")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    for name in args.only.split(","):
        bench(name, args.sweep, rm, tri)


if __name__ == "__main__":
    main()
