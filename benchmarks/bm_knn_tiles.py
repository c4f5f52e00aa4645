"""Tile sizes of the Triton knn kernel (CUDA): median ms of the search alone for the chamfer
(8 x 10k vs 10k, K=1) and knn (4 x 50k x 50k, K=8) workloads, per (BQ, BR, warps).

Run: python benchmarks/bm_knn_tiles.py
"""

from __future__ import annotations

import itertools

import torch
import triton.testing

from inverse3d.ops._triton.knn import knn_search


def main() -> None:
    dev = torch.device("cuda")
    cases = {
        "chamfer 8x10k K=1": (torch.rand(8, 10_000, 3, device=dev), 1),
        "knn 4x50k K=8": (torch.rand(4, 50_000, 3, device=dev), 8),
    }
    for label, (p, K) in cases.items():
        q = torch.rand_like(p)
        n = torch.full((p.shape[0],), p.shape[1], device=dev, dtype=torch.int64)
        best = None
        for bq, br, nw in itertools.product((16, 32, 64), (32, 64, 128), (4,)):
            if bq * br > 4096:
                continue
            ms = triton.testing.do_bench(
                lambda a=(q, p, n, n, K, 2, bq, br, nw): knn_search(*a),
                warmup=25,
                rep=100,
                return_mode="median",
            )
            print(f"{label}: BQ={bq} BR={br} warps={nw}: {ms:.3f} ms", flush=True)
            if best is None or ms < best[0]:
                best = (ms, bq, br, nw)
        print(f"BEST {label}: {best[0]:.3f} ms BQ={best[1]} BR={best[2]} warps={best[3]}")


if __name__ == "__main__":
    main()
