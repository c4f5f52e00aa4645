"""Tile sizes of the Triton point-rasterizer and closest-triangle kernels (CUDA), median ms
(`triton.testing.do_bench`):

- rasterize_points, 8 x 100k NDC points, 512^2, r 0.01, K 8: whole call (pair building, kernel,
  recomputation of zbuf/dists) per (tile, points per chunk, warps), and the reference once;
- closest_triangle_search, 100k queries (half near the surface, half in the box) vs
  ico_sphere(4) and ico_sphere(5), per (BQ, BT, warps); mesh_sdf (reference and kernel) once.

Run: PYTHONPATH=src python benchmarks/bm_points_sdf_tiles.py [--only points|sdf]
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import os

import torch
import triton.testing

from inverse3d.structures import Pointclouds
from inverse3d.utils import ico_sphere

RP = importlib.import_module("inverse3d.renderer.points.rasterize_points")
RK = importlib.import_module("inverse3d.renderer.points._triton.rasterize")
SDF = importlib.import_module("inverse3d.ops.mesh_sdf")
CT = importlib.import_module("inverse3d.ops._triton.closest_triangle")


def _bench(fn) -> float:
    return triton.testing.do_bench(fn, warmup=10, rep=50, return_mode="median")


def points(dev: torch.device) -> None:
    g = torch.Generator(device=dev).manual_seed(0)
    pts = torch.rand(8, 100_000, 3, device=dev, generator=g) * 2 - 1
    pts[..., 2] += 2.0
    clouds = Pointclouds(points=pts)

    def call():
        with torch.no_grad():
            return RP.rasterize_points(clouds, 512, 0.01, 8)

    os.environ["INVERSE3D_KERNELS"] = "reference"
    ref = call()
    print(f"points reference: {_bench(call):.3f} ms", flush=True)
    os.environ["INVERSE3D_KERNELS"] = "triton"
    best = None
    for t, bp, nw in itertools.product((8, 16, 32), (8, 16, 32), (2, 4, 8)):
        if t * t * bp > 16384 or t * t * bp < 512:
            continue
        RK.TILE_H = RK.TILE_W = t
        RK.BLOCK_P, RK.NUM_WARPS = bp, nw
        out = call()
        same = all(torch.equal(a, b) for a, b in zip(out, ref))
        ms = _bench(call)
        print(f"points tile={t} BP={bp} warps={nw}: {ms:.3f} ms (equal to reference: {same})")
        if best is None or ms < best[0]:
            best = (ms, t, bp, nw)
    print(f"BEST points: {best[0]:.3f} ms tile={best[1]} BP={best[2]} warps={best[3]}", flush=True)


def sdf(dev: torch.device) -> None:
    for level in (4, 5):
        mesh = ico_sphere(level, dev)
        verts, faces = mesh.verts_packed(), mesh.faces_packed()
        g = torch.Generator(device=dev).manual_seed(0)
        near = verts[torch.randint(verts.shape[0], (50_000,), device=dev, generator=g)]
        near = near + 0.04 * torch.randn(50_000, 3, device=dev, generator=g)
        p = torch.cat([near, torch.rand(50_000, 3, device=dev, generator=g) * 2.2 - 1.1])
        tris = verts[faces]
        label = f"ico_sphere({level}) {faces.shape[0]} F, 100k queries"
        for mode in ("reference", "triton"):
            os.environ["INVERSE3D_KERNELS"] = mode
            ms = _bench(lambda m=mesh, q=p: SDF.mesh_sdf(m, q[None]))
            print(f"mesh_sdf {label} {mode}: {ms:.3f} ms", flush=True)
        best = None
        for bq, bt, nw in itertools.product((16, 32, 64), (16, 32, 64), (2, 4, 8)):
            if bq * bt > 2048:
                continue
            ms = _bench(lambda a=(p, tris, 0.0, bq, bt, nw): CT.closest_triangle_search(*a))
            print(f"search {label} BQ={bq} BT={bt} warps={nw}: {ms:.3f} ms", flush=True)
            if best is None or ms < best[0]:
                best = (ms, bq, bt, nw)
        print(f"BEST search {label}: {best[0]:.3f} ms BQ={best[1]} BT={best[2]} warps={best[3]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="points,sdf")
    args = ap.parse_args()
    dev = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    if "points" in args.only:
        points(dev)
    if "sdf" in args.only:
        sdf(dev)


if __name__ == "__main__":
    main()
