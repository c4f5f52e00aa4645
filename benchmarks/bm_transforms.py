"""Rotation / SO(3) / Transform3d throughput, ours against PyTorch3D (when importable).

Run: python benchmarks/bm_transforms.py [--n 1000000] [--repeat 20] [--device cuda]
Prints, per workload, our median time, PyTorch3D's and the ratio ours / theirs (< 1: faster).
"""

from __future__ import annotations

import argparse

import torch
from _timing import median_time

import inverse3d.transforms as ours

try:
    import pytorch3d.transforms as peer
except ImportError:  # the peer is optional
    peer = None


def workloads(lib, n: int, device: torch.device):
    g = torch.Generator(device="cpu").manual_seed(0)
    aa = torch.randn(n, 3, generator=g).to(device)
    R = ours.so3_exp_map(aa)
    q = ours.matrix_to_quaternion(R)
    log6 = torch.randn(n, 6, generator=g).to(device)
    M = ours.se3_exp_map(log6)
    pts = torch.randn(64, n // 64, 3, generator=g).to(device)
    Rb = R[:64]
    t = lib.Rotate(Rb, device=device).compose(lib.Translate(pts[:, 0], device=device))
    t = t.compose(lib.Scale(2.0, device=device))

    return {
        "so3_exp_map": lambda: lib.so3_exp_map(aa),
        "so3_log_map": lambda: lib.so3_log_map(R),
        "matrix_to_quaternion": lambda: lib.matrix_to_quaternion(R),
        "quaternion_to_matrix": lambda: lib.quaternion_to_matrix(q),
        "matrix_to_euler(ZYX)": lambda: lib.matrix_to_euler_angles(R, "ZYX"),
        "se3_exp_map": lambda: lib.se3_exp_map(log6),
        "se3_log_map": lambda: lib.se3_log_map(M),
        "Transform3d.transform_points": lambda: t.transform_points(pts),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    mine = workloads(ours, args.n, device)
    theirs = workloads(peer, args.n, device) if peer is not None else {}
    print(f"n = {args.n}, device = {device}, torch {torch.__version__}")
    print(f"{'workload':32s} {'ours ms':>10s} {'pytorch3d ms':>13s} {'ratio':>7s}")
    for name, fn in mine.items():
        a = median_time(fn, args.repeat, device) * 1e3
        if name in theirs:
            b = median_time(theirs[name], args.repeat, device) * 1e3
            print(f"{name:32s} {a:10.3f} {b:13.3f} {a / b:7.2f}")
        else:
            print(f"{name:32s} {a:10.3f} {'-':>13s} {'-':>7s}")


if __name__ == "__main__":
    main()
