"""Fused soft silhouette vs the unfused MeshRenderer (CPU): memory held for the backward, peak
resident memory and time, on the soft-silhouette workload of the GPU targets (issue 15).

Workload (as `run_gpu.py`'s soft_silhouette): 8 x ico_sphere(4) (5120 faces each), 256x256,
faces_per_pixel 50, sigma 1e-4, blur_radius = log(1/1e-4 - 1) * sigma, 8 FoV cameras,
forward + backward w.r.t. the vertices with a random cotangent on alpha.

Per path ("unfused": MeshRenderer(MeshRasterizer, SoftSilhouetteShader); "fused": the same with
SoftSilhouetteShader(fused=True)), in its own subprocess (so that ru_maxrss is its own):
- saved_mib: bytes of the distinct tensor storages the autograd graph saves for the backward
  (torch.autograd.graph.saved_tensors_hooks), largest_saved: shape of the largest of them;
- peak_rss_mib: the process's peak resident memory (includes torch itself, about 300 MiB);
- fwd_bwd_s: wall time of one forward + backward after one warm-up call, cpu_s its CPU time;
- max |alpha - alpha_unfused| is printed by the fused run.

  OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bm_soft_silhouette_fused.py \
      [--batch 8] [--size 256] [--k 50] [--level 4] [--device cpu]
On a GPU, use run_gpu.py (--only soft_silhouette,soft_silhouette_fused).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time

from _timing import peak_rss_mb


def _workload(args, fused: bool):
    import torch

    from inverse3d.renderer import (
        BlendParams,
        FoVPerspectiveCameras,
        MeshRasterizer,
        MeshRenderer,
        RasterizationSettings,
        SoftSilhouetteShader,
        look_at_view_transform,
    )
    from inverse3d.utils import ico_sphere

    dev = torch.device(args.device)
    n = args.batch
    R, T = look_at_view_transform(
        2.7, torch.linspace(0, 60, n), torch.linspace(0, 300, n), device=dev
    )
    cams = FoVPerspectiveCameras(device=dev, R=R, T=T)
    sigma = 1e-4
    rs = RasterizationSettings(
        image_size=args.size,
        blur_radius=math.log(1 / 1e-4 - 1) * sigma,
        faces_per_pixel=args.k,
    )
    ren = MeshRenderer(
        MeshRasterizer(cameras=cams, raster_settings=rs),
        SoftSilhouetteShader(blend_params=BlendParams(sigma=sigma), fused=fused),
    )
    meshes = ico_sphere(args.level, dev).extend(n)
    verts = meshes.verts_padded().clone().requires_grad_(True)
    g = torch.Generator().manual_seed(1)
    w = torch.rand((n, args.size, args.size), generator=g).to(dev)
    return ren, meshes, verts, w


def _child(args) -> None:
    import torch

    fused = args.path == "fused"
    ren, meshes, verts, w = _workload(args, fused)
    storages: dict[int, int] = {}
    largest = [0, ()]

    def pack(t):
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
        if t.numel() > largest[0]:
            largest[:] = [t.numel(), tuple(t.shape)]
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        img = ren(meshes.update_padded(verts))
    (img[..., 3] * w).sum().backward()  # warm-up
    alpha = img[..., 3].detach()
    del img
    verts.grad = None
    t0, c0 = time.perf_counter(), time.process_time()
    img = ren(meshes.update_padded(verts))
    (img[..., 3] * w).sum().backward()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    out = {
        "path": args.path,
        "saved_mib": round(sum(storages.values()) / 2**20, 2),
        "largest_saved": list(largest[1]),
        "peak_rss_mib": round(peak_rss_mb(), 1),
        "fwd_bwd_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
    }
    if fused:
        ren.shader.fused = False
        with torch.no_grad():
            ref = ren(meshes.update_padded(verts))[..., 3]
        out["max_abs_alpha_diff"] = float((alpha - ref).abs().max())
    print(json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--level", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--path", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.path:
        _child(args)
        return
    for path in ("unfused", "fused"):
        cmd = [sys.executable, __file__, "--path", path] + [
            f"--{k}={getattr(args, k)}" for k in ("batch", "size", "k", "level", "device")
        ]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
