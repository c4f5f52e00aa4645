"""Hash-grid encoding kernels on CUDA (16 levels, 2 features, 2^19 rows, 1M points): the
module's forward alone and forward + backward, then the kernels per launch shape (backward
time = forward + backward minus forward).

Run: python benchmarks/bm_hash_grid_gpu.py
"""

from __future__ import annotations

import torch
import triton.testing

from inverse3d.models._triton.hash_grid import hash_encode, level_params
from inverse3d.models.hash_grid import HashGridEncoding


def bench(fn) -> float:
    return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")


def main() -> None:
    dev = torch.device("cuda")
    enc = HashGridEncoding().to(dev)
    P = 1_000_000
    x = torch.rand(P, 3, device=dev) * 2 - 1
    cot = torch.rand(P, enc.output_dim, device=dev)
    with torch.no_grad():
        print(f"module forward (no grad): {bench(lambda: enc(x)):.3f} ms")
    print(f"module forward + backward: {bench(lambda: (enc(x) * cot).sum().backward()):.3f} ms")
    u = enc.normalize(x).contiguous()
    params = level_params(enc.resolutions, enc.offsets, enc.table_sizes, enc.dense_levels, dev)
    table = enc.embeddings.detach().clone()
    table_g = table.clone().requires_grad_(True)
    for block in (32, 64, 128):
        for nw in (1, 2, 4):
            a = (u, table, params, block, nw)
            b = (u, table_g, params, block, nw)
            tf = bench(lambda a=a: hash_encode(*a))
            tfb = bench(lambda b=b: hash_encode(*b).backward(cot))
            print(f"BLOCK={block} warps={nw}: fwd {tf:.3f} ms, fwd+bwd {tfb:.3f} ms", flush=True)


if __name__ == "__main__":
    main()
