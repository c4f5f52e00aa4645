"""CPU benchmark: chamfer_distance (8 x 10k vs 8 x 10k, forward + backward) and knn_points
(4 x 50k x 50k, K=8; off-surface 100k x 100k, K=1), against scipy's cKDTree (workers=2) when
scipy is importable.

Prints the median wall time, the peak resident memory increase and the ratio ours / cKDTree.
Run: python benchmarks/bm_knn_chamfer.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

from inverse3d.loss.chamfer import chamfer_distance
from inverse3d.ops.knn import knn_points


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _time(fn, repeats: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        from scipy.spatial import cKDTree
    except ImportError:
        cKDTree = None

    # --- chamfer 8 x 10k, forward + backward
    x = torch.rand(8, 10_000, 3, requires_grad=True)
    y = torch.rand(8, 10_000, 3, requires_grad=True)

    def cham():
        loss, _ = chamfer_distance(x, y)
        loss.backward()

    def cham_fwd():
        with torch.no_grad():
            chamfer_distance(x, y)

    m0 = _peak_mb()
    t_ours = _time(cham, args.repeats)
    mem = _peak_mb() - m0
    t_fwd = _time(cham_fwd, args.repeats)
    line = f"chamfer 8x10k fwd+bwd: ours {t_ours * 1e3:.0f} ms (forward {t_fwd * 1e3:.0f} ms)"
    line += f", peak RSS +{mem:.0f} MB"
    if cKDTree is not None:
        xs, ys = x.detach().numpy(), y.detach().numpy()

        def ref():
            for n in range(8):
                cKDTree(ys[n]).query(xs[n], k=1, workers=args.threads)
                cKDTree(xs[n]).query(ys[n], k=1, workers=args.threads)

        t_ref = _time(ref, args.repeats)
        line += f"; cKDTree (forward only) {t_ref * 1e3:.0f} ms; ratio fwd+bwd {t_ours / t_ref:.2f}"
        line += f", forward {t_fwd / t_ref:.2f}"
    print(line)

    # --- knn 4 x 50k x 50k, K = 8
    p1 = torch.rand(4, 50_000, 3)
    p2 = torch.rand(4, 50_000, 3)
    m0 = _peak_mb()
    t_ours = _time(lambda: knn_points(p1, p2, K=8), args.repeats)
    mem = _peak_mb() - m0
    line = f"knn_points 4x50kx50k K=8: ours {t_ours * 1e3:.0f} ms, peak RSS +{mem:.0f} MB"
    if cKDTree is not None:
        a, b = p1.numpy(), p2.numpy()

        def ref():
            for n in range(4):
                cKDTree(b[n]).query(a[n], k=8, workers=args.threads)

        t_ref = _time(ref, args.repeats)
        line += f"; cKDTree {t_ref * 1e3:.0f} ms; ratio {t_ours / t_ref:.2f}"
    print(line)

    # --- surface-like data (points on a sphere): the grid adapts its cell size
    s1 = torch.nn.functional.normalize(torch.randn(4, 50_000, 3), dim=-1)
    s2 = torch.nn.functional.normalize(torch.randn(4, 50_000, 3), dim=-1)
    t_ours = _time(lambda: knn_points(s1, s2, K=8), args.repeats)
    line = f"knn_points sphere surface 4x50kx50k K=8: ours {t_ours * 1e3:.0f} ms"
    if cKDTree is not None:
        a, b = s1.numpy(), s2.numpy()

        def ref():
            for n in range(4):
                cKDTree(b[n]).query(a[n], k=8, workers=args.threads)

        t_ref = _time(ref, args.repeats)
        line += f"; cKDTree {t_ref * 1e3:.0f} ms; ratio {t_ours / t_ref:.2f}"
    print(line)

    # --- off-surface queries (a reconstruction away from its ground truth): 100k points on a
    # sphere of radius r against 100k on the unit sphere; the grid leaves most of them to the
    # cluster search
    ref_s = torch.nn.functional.normalize(torch.randn(1, 100_000, 3), dim=-1)
    for radius in (1.1, 2.0):
        qs = torch.nn.functional.normalize(torch.randn(1, 100_000, 3), dim=-1) * radius
        t_ours = _time(lambda qs=qs: knn_points(qs, ref_s, K=1), args.repeats)
        line = f"knn_points sphere r={radius} vs r=1, 100k x 100k K=1: ours {t_ours * 1e3:.0f} ms"
        if cKDTree is not None:
            a, b = qs[0].numpy(), ref_s[0].numpy()
            t_ref = _time(
                lambda a=a, b=b: cKDTree(b).query(a, k=1, workers=args.threads), args.repeats
            )
            line += f"; cKDTree {t_ref * 1e3:.0f} ms; ratio {t_ours / t_ref:.2f}"
        print(line)


if __name__ == "__main__":
    main()
