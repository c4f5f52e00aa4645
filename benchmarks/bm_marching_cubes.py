"""Marching cubes throughput (sphere SDF and smooth noise), ours against PyTorch3D and
scikit-image when importable.

Run: python benchmarks/bm_marching_cubes.py [--sizes 64 128 256] [--repeat 5] [--device cuda]
Prints, per workload, our median time (forward, and forward + backward of the vertex positions),
the peers' and the ratio ours / theirs (< 1: faster), with the mesh sizes.
"""

from __future__ import annotations

import argparse

import torch
from _timing import median_time

from inverse3d.ops.marching_cubes import marching_cubes

try:
    from pytorch3d.ops.marching_cubes import marching_cubes as peer_mc
except ImportError:  # the peer is optional
    peer_mc = None
try:
    from skimage.measure import marching_cubes as sk_mc
except ImportError:
    sk_mc = None


def volumes(n: int, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.linspace(-1, 1, n, device=device)
    z, y, x = torch.meshgrid(g, g, g, indexing="ij")
    sphere = (x**2 + y**2 + z**2).sqrt() - 0.6
    gen = torch.Generator(device="cpu").manual_seed(0)
    noise = torch.randn(1, 1, n // 4, n // 4, n // 4, generator=gen).to(device)
    smooth = torch.nn.functional.interpolate(noise, size=(n, n, n), mode="trilinear")[0, 0]
    return {"sphere": sphere, "smooth noise": smooth}


def bench(name: str, vol: torch.Tensor, repeat: int, device: torch.device) -> str:
    n = vol.shape[0]
    vb = vol[None]
    verts, faces = marching_cubes(vb, 0.0)
    t_fwd = median_time(lambda: marching_cubes(vb, 0.0), repeat, device)

    def fwd_bwd():
        v = vb.clone().requires_grad_(True)
        marching_cubes(v, 0.0)[0][0].sum().backward()

    t_bwd = median_time(fwd_bwd, repeat, device)
    line = (f"{name:>12s} {n}^3: V={len(verts[0]):8d} F={len(faces[0]):8d}  ours "
            f"{t_fwd * 1e3:8.1f} ms (fwd+bwd {t_bwd * 1e3:8.1f} ms)")  # fmt: skip
    if peer_mc is not None:
        t_p = median_time(lambda: peer_mc(vb, 0.0), repeat, device)
        line += f"  pytorch3d {t_p * 1e3:8.1f} ms (ratio {t_fwd / t_p:5.2f})"
    if sk_mc is not None and device.type == "cpu":
        arr = vol.numpy()
        t_s = median_time(lambda: sk_mc(arr, 0.0), repeat, device)
        line += f"  skimage {t_s * 1e3:8.1f} ms (ratio {t_fwd / t_s:5.2f})"
    return line


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    device = torch.device(a.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}")
    for n in a.sizes:
        for name, vol in volumes(n, device).items():
            print(bench(name, vol, a.repeat, device), flush=True)


if __name__ == "__main__":
    main()
