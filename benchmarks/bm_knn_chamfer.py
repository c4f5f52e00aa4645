"""CPU benchmark: chamfer_distance (8 x 10k vs 8 x 10k, forward + backward) and knn_points
(4 x 50k x 50k, K=8; off-surface 100k x 100k, K=1), against scipy's cKDTree (workers=2) when
scipy is importable.

Prints the median wall time, the peak resident memory increase and the ratio ours / cKDTree.
Run: python benchmarks/bm_knn_chamfer.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse

import torch
from _timing import median_time, peak_rss_mb

from inverse3d.loss.chamfer import chamfer_distance
from inverse3d.ops.knn import knn_points


def _on_unit_sphere(n: int, p: int) -> torch.Tensor:
    """(n, p, 3) points drawn uniformly on the unit sphere."""
    return torch.nn.functional.normalize(torch.randn(n, p, 3), dim=-1)


def _ckdtree_time(cKDTree, pairs, k: int, threads: int, repeats: int) -> float:
    """Median time of scipy's cKDTree answering, for each (query, points) pair of (N, P, 3)
    tensors and each batch element n, the k nearest points[n] of every query[n] point (tree
    built inside the timing, as our functions build their grids)."""
    arrays = [(q.detach().numpy(), r.detach().numpy()) for q, r in pairs]

    def ref():
        for q, r in arrays:
            for n in range(len(q)):
                cKDTree(r[n]).query(q[n], k=k, workers=threads)

    return median_time(ref, repeats)


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

    m0 = peak_rss_mb()
    t_ours = median_time(cham, args.repeats)
    mem = peak_rss_mb() - m0
    t_fwd = median_time(cham_fwd, args.repeats)
    line = f"chamfer 8x10k fwd+bwd: ours {t_ours * 1e3:.0f} ms (forward {t_fwd * 1e3:.0f} ms)"
    line += f", peak RSS +{mem:.0f} MB"
    if cKDTree is not None:
        t_ref = _ckdtree_time(cKDTree, [(x, y), (y, x)], 1, args.threads, args.repeats)
        line += f"; cKDTree (forward only) {t_ref * 1e3:.0f} ms; ratio fwd+bwd {t_ours / t_ref:.2f}"
        line += f", forward {t_fwd / t_ref:.2f}"
    print(line)

    # --- knn 4 x 50k x 50k, K = 8: uniform in the unit cube, then surface-like data (points on
    # a sphere), for which the grid adapts its cell size
    uniform = (torch.rand(4, 50_000, 3), torch.rand(4, 50_000, 3))
    sphere = (_on_unit_sphere(4, 50_000), _on_unit_sphere(4, 50_000))
    for label, (p1, p2) in (("", uniform), (" sphere surface", sphere)):
        m0 = peak_rss_mb()
        t_ours = median_time(lambda p1=p1, p2=p2: knn_points(p1, p2, K=8), args.repeats)
        mem = peak_rss_mb() - m0
        line = f"knn_points{label} 4x50kx50k K=8: ours {t_ours * 1e3:.0f} ms"
        if not label:
            line += f", peak RSS +{mem:.0f} MB"
        if cKDTree is not None:
            t_ref = _ckdtree_time(cKDTree, [(p1, p2)], 8, args.threads, args.repeats)
            line += f"; cKDTree {t_ref * 1e3:.0f} ms; ratio {t_ours / t_ref:.2f}"
        print(line)

    # --- off-surface queries (a reconstruction away from its ground truth): 100k points on a
    # sphere of radius r against 100k on the unit sphere; the grid leaves most of them to the
    # cluster search
    ref_s = _on_unit_sphere(1, 100_000)
    for radius in (1.1, 2.0):
        qs = _on_unit_sphere(1, 100_000) * radius
        t_ours = median_time(lambda qs=qs: knn_points(qs, ref_s, K=1), args.repeats)
        line = f"knn_points sphere r={radius} vs r=1, 100k x 100k K=1: ours {t_ours * 1e3:.0f} ms"
        if cKDTree is not None:
            t_ref = _ckdtree_time(cKDTree, [(qs, ref_s)], 1, args.threads, args.repeats)
            line += f"; cKDTree {t_ref * 1e3:.0f} ms; ratio {t_ours / t_ref:.2f}"
        print(line)


if __name__ == "__main__":
    main()
