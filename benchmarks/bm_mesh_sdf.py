"""CPU benchmark: mesh_sdf, brute force (the former path: blockwise closest triangle + winding
number) against the pruned closest-triangle search with the pseudo-normal sign (the default).

Queries: half near the surface (vertices jittered by 2% of the size), half uniform in the
bounding box. Meshes: ico_sphere(5) (20,480 faces) and a torus with 100,000 faces. The brute
force is O(P F), so by default it is timed on `--brute-points` queries and scaled linearly to P
(marked "extrapolated"); `--full-brute` times it on all P. On the timed subset the two paths are
checked to agree (distances to 1e-6 relative, signs where |sdf| > 1e-4).
Run: python benchmarks/bm_mesh_sdf.py [--points 100000] [--threads 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import importlib

import torch
from _timing import median_time, peak_rss_mb

from inverse3d.utils.ico_sphere import ico_sphere
from inverse3d.utils.torus import torus

ms = importlib.import_module("inverse3d.ops.mesh_sdf")  # the package exports a same-named function


def _queries(verts: torch.Tensor, n: int) -> torch.Tensor:
    """(n, 3): half jittered vertices, half uniform in the bounding box."""
    lo, hi = verts.min(0).values, verts.max(0).values
    size = float((hi - lo).max())
    idx = torch.randint(verts.shape[0], (n // 2,))
    near = verts[idx] + 0.02 * size * torch.randn(n // 2, 3)
    box = lo + torch.rand(n - n // 2, 3) * (hi - lo)
    return torch.cat([near, box])


def _brute(verts: torch.Tensor, faces: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """The former mesh_sdf: brute-force closest triangle, sign from the winding number."""
    d2, _ = ms._tri_sq_dists(p, verts[faces])
    d = d2.clamp(min=1e-30).sqrt()
    return torch.where(ms.winding_number(p, verts, faces) > 0.5, -d, d)


def _bench(name: str, v: torch.Tensor, f: torch.Tensor, args: argparse.Namespace) -> None:
    p = _queries(v, args.points)
    rss0 = peak_rss_mb()
    t_new = median_time(lambda: ms.mesh_sdf((v, f), [p]), args.repeats, warmup=False)
    t_dist = median_time(lambda: ms._closest_triangles(p, v[f]), args.repeats, warmup=False)
    rss = peak_rss_mb() - rss0
    nb = args.points if args.full_brute else min(args.points, args.brute_points)
    sub = p[torch.randperm(args.points)[:nb]]
    t_b = median_time(lambda: _brute(v, f, sub), 1, warmup=False) * args.points / nb
    new_sub = ms.mesh_sdf((v, f), [sub])[0]
    old_sub = _brute(v, f, sub)
    # float32: the former search picks its triangle from matmul-based values good to about
    # eps * size^2 in squared distance; the pruned search evaluates pairs in float64
    size2 = float((v.max(0).values - v.min(0).values).norm()) ** 2
    torch.testing.assert_close(new_sub**2, old_sub**2, rtol=0, atol=1e-6 * size2)
    gap = new_sub.double() ** 2 - old_sub.double() ** 2
    away = old_sub.abs() > 1e-4
    sign_ok = bool(torch.equal(new_sub[away] < 0, old_sub[away] < 0))
    tag = "" if nb == args.points else f" (extrapolated from {nb})"
    print(
        f"{name:14s} F={f.shape[0]:6d}: brute {t_b:8.1f} s{tag} | new {t_new:6.2f} s "
        f"(closest-triangle search {t_dist:5.2f} s) | speed-up {t_b / t_new:6.1f}x | "
        f"peak RSS +{rss:.0f} MB | subset: new^2 - old^2 in [{float(gap.min()):.1e}, "
        f"{float(gap.max()):.1e}], signs agree where |sdf| > 1e-4: {sign_ok}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--brute-points", type=int, default=4_000)
    ap.add_argument("--full-brute", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    meshes = {"ico_sphere(5)": ico_sphere(5), "torus 100k": torus(0.3, 1.0, 200, 250)}
    print(f"{args.points} queries, {args.threads} threads")
    for name, m in meshes.items():
        _bench(name, m.verts_list()[0], m.faces_list()[0], args)


if __name__ == "__main__":
    main()
